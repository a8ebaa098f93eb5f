/// MIFARE DESFire native commands wrapped in ISO 7816 APDUs (`90 INS 00 00 [Lc data] 00`).
public enum DESFire {
    /// The ITSO application ID `A0 02 16`, as sent on the wire (least significant byte first).
    public static let itsoAIDWire: [UInt8] = [0x16, 0x02, 0xA0]
    /// The file holding the ITSO Shell Environment.
    public static let shellFile: UInt8 = 0x0F
    /// Most frames a chained answer may take before the reader gives up. A whole DESFire
    /// EV1 8K file read in 59-byte frames needs about 140; ITSO files need far fewer.
    public static let defaultFrameLimit = 16

    /// A wrapped native command: `90 INS 00 00 [Lc data] 00`.
    public static func command(_ ins: UInt8, data: [UInt8] = []) -> [UInt8] {
        var apdu: [UInt8] = [0x90, ins, 0x00, 0x00]
        if !data.isEmpty {
            apdu.append(UInt8(truncatingIfNeeded: data.count))
            apdu.append(contentsOf: data)
        }
        apdu.append(0x00)
        return apdu
    }

    /// SELECT APPLICATION (`5A`) with a 3-byte AID in wire order.
    public static func selectApplication(_ aidWire: [UInt8]) -> [UInt8] { command(0x5A, data: aidWire) }

    /// Select the ITSO application: `90 5A 00 00 03 16 02 A0 00`.
    public static let selectITSO: [UInt8] = selectApplication(itsoAIDWire)

    /// READ DATA (`BD`): file number, 3-byte little-endian offset and length (0 = to the end).
    public static func readData(file: UInt8, offset: Int = 0, length: Int = 0) -> [UInt8] {
        func le24(_ v: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v >> 16)] }
        return command(0xBD, data: [file] + le24(offset) + le24(length))
    }

    /// Read the whole shell file: `90 BD 00 00 07 0F 00 00 00 00 00 00 00`.
    public static let readShell: [UInt8] = readData(file: shellFile)

    /// ADDITIONAL FRAME: `90 AF 00 00 00`, asks for the rest after `91 AF`.
    public static let additionalFrame: [UInt8] = command(0xAF)

    /// GET VERSION: `90 60 00 00 00`; the answer comes in three frames.
    public static let getVersion: [UInt8] = command(0x60)

    /// GET FILE SETTINGS (`F5`) for one file.
    public static func getFileSettings(file: UInt8) -> [UInt8] { command(0xF5, data: [file]) }

    /// GET APPLICATION IDS: `90 6A 00 00 00`.
    public static let getApplicationIDs: [UInt8] = command(0x6A)

    /// Sends `command` and, while the card answers `91 AF`, sends `90 AF 00 00 00` and
    /// appends each frame's data.
    /// - Parameters:
    ///   - command: the first APDU.
    ///   - transport: where to send it.
    ///   - frameLimit: most APDUs to send in all.
    /// - Returns: the concatenated data and the final status word (whatever it is).
    /// - Throws: `ExchangeError` for a frame with no status word or too many frames;
    ///   transport errors unchanged.
    public static func transceive(
        _ command: [UInt8], over transport: inout some APDUTransport, frameLimit: Int = defaultFrameLimit
    ) throws -> ChainedResponse {
        try ChainedResponse.collect(command, over: &transport, frameLimit: frameLimit) { sw in
            sw == .desfireAdditionalFrame ? additionalFrame : nil
        }
    }
}

/// What GET VERSION tells about a DESFire chip: hardware, software, and production data.
public struct DESFireVersion: Sendable, Equatable {
    /// One of the two 7-byte version blocks.
    public struct Part: Sendable, Equatable {
        /// Vendor ID (`04` is NXP).
        public let vendor: UInt8
        /// Type (`01` DESFire).
        public let type: UInt8
        /// Subtype.
        public let subtype: UInt8
        /// Major version (`01` EV1, `12` EV2, `33` EV3).
        public let major: UInt8
        /// Minor version.
        public let minor: UInt8
        /// Storage size code: 2^(n/2) bytes (`18` = 4 KB).
        public let storageSize: UInt8
        /// Communication protocol (`05` ISO 14443-2 and -3).
        public let protocolType: UInt8
    }

    /// The hardware block (first frame).
    public let hardware: Part
    /// The software block (second frame).
    public let software: Part
    /// The 7-byte UID (third frame).
    public let uid: [UInt8]
    /// The 5-byte production batch number.
    public let batch: [UInt8]
    /// Calendar week of production (BCD).
    public let productionWeek: UInt8
    /// Year of production (BCD).
    public let productionYear: UInt8

    /// Parses the 28 data bytes of the three frames (7 + 7 + 14), concatenated.
    /// Returns nil when fewer than 28 bytes are present.
    public init?(data: [UInt8]) {
        guard data.count >= 28 else { return nil }
        func part(_ o: Int) -> Part {
            Part(vendor: data[o], type: data[o + 1], subtype: data[o + 2], major: data[o + 3],
                 minor: data[o + 4], storageSize: data[o + 5], protocolType: data[o + 6])
        }
        hardware = part(0)
        software = part(7)
        uid = Array(data[14..<21])
        batch = Array(data[21..<26])
        productionWeek = data[26]
        productionYear = data[27]
    }

    /// The DESFire generation by the software major version, when known.
    public var generation: String {
        switch software.major {
        case 0x00: "DESFire (MF3ICD40)"
        case 0x01: "DESFire EV1"
        case 0x12: "DESFire EV2"
        case 0x33: "DESFire EV3"
        default: "DESFire (version \(Hex.string([software.major])))"
        }
    }

    /// Sends GET VERSION and its two additional frames, and parses the answer.
    /// Returns nil when the card does not answer `91 00` with 28 bytes.
    public static func read(over transport: inout some APDUTransport) throws -> DESFireVersion? {
        let answer = try DESFire.transceive(DESFire.getVersion, over: &transport, frameLimit: 3)
        guard answer.status == .desfireOK else { return nil }
        return DESFireVersion(data: answer.data)
    }
}

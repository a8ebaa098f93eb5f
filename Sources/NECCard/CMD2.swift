/// ITSO on an ISO 7816 microprocessor card (CMD2).
public enum CMD2 {
    /// The ITSO CMD2 AID: RID `A0 00 00 02 16` + ASCII `ITSO-1`.
    public static let itsoAID: [UInt8] = [0xA0, 0x00, 0x00, 0x02, 0x16] + Array("ITSO-1".utf8)

    /// SELECT by DF name, returning the FCI: `00 A4 04 00 0B A0 00 00 02 16 49 54 53 4F 2D 31 00`.
    public static let selectITSO: [UInt8] = [0x00, 0xA4, 0x04, 0x00, UInt8(itsoAID.count)] + itsoAID + [0x00]

    /// SELECT the ITSO application again without asking for its FCI (P2 `0C`), to stand
    /// in the ITSO DF before selecting a storage sector: `00 A4 04 0C 0B A0 00 00 02 16 49 54 53 4F 2D 31`.
    public static let reselectITSO: [UInt8] = [0x00, 0xA4, 0x04, 0x0C, UInt8(itsoAID.count)] + itsoAID

    /// The storage-sector DF of logical sector `n` is `0100 + n` under the ITSO DF (TS 1000-10
    /// clause 3, as Flipso's reader/flipso_cmd2.c reads it); each holds one EF of B bytes.
    /// SELECT it by file identifier: `00 A4 00 00 02 01 nn 00`.
    public static func selectSector(_ sector: UInt8) -> [UInt8] { [0x00, 0xA4, 0x00, 0x00, 0x02, 0x01, sector, 0x00] }

    /// The storage EF's short file identifier when the parameters (`E0`, tag `C3`) name none.
    public static let defaultStorageSFI: UInt8 = 0x01

    /// READ BINARY of the whole storage EF by short file identifier, Le 0 (as much as it
    /// holds, at most 256): `00 B0 81 00 00` for SFI 1.
    public static func readStorage(sfi: UInt8 = defaultStorageSFI) -> [UInt8] { [0x00, 0xB0, 0x80 | (sfi & 0x1F), 0x00, 0x00] }

    /// The storage EF's SFI from the FCI's parameters object (`E0`): tag `C3`, one byte
    /// 0...31; `defaultStorageSFI` when absent or malformed.
    public static func storageSFI(parameters: [UInt8]?) -> UInt8 {
        guard let parameters, let objects = try? TLV.parse(parameters),
              let c3 = objects.first(where: { $0.tag == 0xC3 }), c3.value.count == 1, c3.value[0] <= 0x1F
        else { return defaultStorageSFI }
        return c3.value[0]
    }

    /// GET RESPONSE for `length` bytes (after `61 xx` on T=0).
    public static func getResponse(_ length: UInt8) -> [UInt8] { [0x00, 0xC0, 0x00, 0x00, length] }

    /// Sends `command` and follows `61 xx` with GET RESPONSE, appending each part.
    /// - Throws: `ExchangeError` for an answer with no status word or too many frames;
    ///   transport errors unchanged.
    public static func transceive(
        _ command: [UInt8], over transport: inout some APDUTransport, frameLimit: Int = DESFire.defaultFrameLimit
    ) throws -> ChainedResponse {
        try ChainedResponse.collect(command, over: &transport, frameLimit: frameLimit) { sw in
            sw.sw1 == 0x61 ? getResponse(sw.sw2) : nil
        }
    }
}

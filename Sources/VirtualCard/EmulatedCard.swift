internal import NECCard

/// One tap of a `VirtualCardModel`: the model plus what changes while the card is in the
/// field (the random UID drawn for this tap, the selected DESFire application, the frames
/// still to send after `91 AF`). It answers command APDUs byte for byte, including the
/// reader pseudo-APDUs (`FF CA ...`) a real contactless reader answers itself.
public struct EmulatedCard: Sendable {
    /// What to do with one command APDU that arrived over the wire.
    public enum Reaction: Sendable, Equatable {
        /// Send this response APDU.
        case answer([UInt8])
        /// Leave the field: close the connection without answering (removal fault).
        case remove
    }

    /// The model this tap is of.
    public let model: VirtualCardModel
    /// The UID for this tap (drawn at creation for random-ID models).
    public let uid: [UInt8]
    /// How many command APDUs `receive(_:)` has seen, including the one that removed the card.
    public private(set) var receivedAPDUs = 0

    /// DESFire: nil at PICC level, else the selected application's AID.
    private var selectedApplication: [UInt8]? = nil
    /// DESFire: responses still to give, one per `90 AF`.
    private var pendingFrames: [[UInt8]] = []
    /// The shell bytes the card holds, faults applied.
    private let shellFile: [UInt8]?
    /// DESFire: the files of the ITSO application by number (the shell's and the Directory's).
    private let files: [UInt8: [UInt8]]
    /// CMD2: the storage sectors by logical number (the Directory's copies).
    private let sectors: [Int: [UInt8]]
    /// CMD2: what is selected.
    private var cmd2Selection: CMD2Selection = .none
    private enum CMD2Selection { case none, itso, sector(Int) }
    private var garbage: SplitMix64?

    /// The ITSO application on DESFire, as sent on the wire: `16 02 A0`.
    public static let itsoAID: [UInt8] = [0x16, 0x02, 0xA0]
    /// The DESFire file holding the shell.
    public static let shellFileNumber: UInt8 = 0x0F
    /// The CMD2 application: RID `A0 00 00 02 16` and ASCII `ITSO-1`.
    public static let cmd2AID: [UInt8] = [0xA0, 0x00, 0x00, 0x02, 0x16, 0x49, 0x54, 0x53, 0x4F, 0x2D, 0x31]
    /// The CMD2 card's ATS historical bytes: category `80`, then compact-TLV `FB` (an
    /// application identifier of 11 bytes) naming the ITSO AID.
    public static let cmd2HistoricalBytes: [UInt8] = [0x80, 0xFB] + cmd2AID
    /// CMD2: the short file identifier of each storage sector's EF.
    public static let storageSFI: UInt8 = 0x01
    /// The most data bytes a DESFire response frame carries before `91 AF`.
    public static let maxFrameData = 59
    /// What the CMD2 FCI carries in tag `E0` ("parameters"); its real content is not known
    /// here, so two zero bytes stand in.
    public static let cmd2Parameters: [UInt8] = [0x00, 0x00]

    /// - Parameters:
    ///   - model: the card.
    ///   - seed: seeds the random UID and garbage answers; nil draws a fresh seed.
    public init(model: VirtualCardModel, seed: UInt64? = nil) {
        self.model = model
        var rng = SplitMix64(seed: seed ?? UInt64.random(in: .min ... .max))
        switch model.uid {
        case .fixed(let bytes): uid = bytes
        case .random: uid = [0x08, rng.nextByte(), rng.nextByte(), rng.nextByte()]
        }
        shellFile = model.shellFile
        var files: [UInt8: [UInt8]] = [:]
        var sectors: [Int: [UInt8]] = [:]
        if let shell = shellFile {
            files[Self.shellFileNumber] = shell
            let count = Int(model.shell?.geometry.sectorCount ?? 0)
            if let directory = model.directoryFile {
                if let file = model.desfireFile(sector: count - 1), file != Self.shellFileNumber { files[file] = directory }
                sectors[count - 1] = directory
            }
            if let other = model.otherDirectoryCopy, let shell = model.shell {
                sectors[count - 2] = other.bytes(geometry: shell.geometry)
            }
        }
        self.files = model.chip == .desfire ? files : [:]
        self.sectors = model.chip == .iso7816 ? sectors : [:]
        for fault in model.faults {
            if case .garbage(let garbageSeed) = fault {
                garbage = garbageSeed.map(SplitMix64.init(seed:)) ?? rng
            }
        }
    }

    /// The ATR the reader reports.
    public var atr: [UInt8] { model.atr }

    /// Power on, power off or reset: back to the PICC level with nothing pending, as a
    /// card that lost and regained power is.
    public mutating func resetState() {
        selectedApplication = nil
        pendingFrames = []
        cmd2Selection = .none
    }

    /// Counts `command` and applies the removal fault, then answers it.
    /// - Parameter command: a command APDU from vpcd.
    /// - Returns: the answer, or `.remove` when the card should leave the field now.
    public mutating func receive(_ command: [UInt8]) -> Reaction {
        receivedAPDUs += 1
        for fault in model.faults {
            if case .removeAfter(let n) = fault, receivedAPDUs > n { return .remove }
        }
        return .answer(respond(to: command))
    }

    /// The response APDU (data and SW1 SW2) to one command APDU, garbage fault applied.
    /// Never traps, whatever the bytes.
    /// - Parameter command: the command APDU.
    public mutating func respond(to command: [UInt8]) -> [UInt8] {
        let answer = answerOf(command)
        if var rng = garbage {
            let count = Int(rng.next() % 64) + 1
            let bytes = (0..<count).map { _ in rng.nextByte() }
            garbage = rng
            return bytes
        }
        return answer
    }

    private mutating func answerOf(_ bytes: [UInt8]) -> [UInt8] {
        guard let apdu = CommandAPDU(bytes) else {
            if bytes.first == 0x90, model.chip == .desfire { return Self.desfireStatus(0x7E) }
            return [0x67, 0x00]
        }
        if apdu.cla == 0xFF { return readerCommand(apdu) }
        switch model.chip {
        case .desfire: return desfire(apdu)
        case .iso7816: return cmd2(apdu)
        case .classic1K, .classic4K:
            // The reader cannot pass these to a Classic card; it answers them itself.
            return apdu.cla == 0x90 ? [0x6A, 0x81] : [0x6D, 0x00]
        }
    }

    // MARK: Reader pseudo-APDUs (PC/SC part 3)

    private func readerCommand(_ apdu: CommandAPDU) -> [UInt8] {
        switch apdu.ins {
        case 0xCA:
            let data: [UInt8]
            switch (apdu.p1, apdu.p2) {
            case (0x00, 0x00): data = uid
            case (0x01, 0x00):
                switch model.chip {
                case .desfire: data = [0x80]
                case .iso7816: data = Self.cmd2HistoricalBytes
                case .classic1K, .classic4K: return [0x6A, 0x81]
                }
            default: return [0x6A, 0x81]
            }
            if let le = apdu.le, le != 0, Int(le) < data.count { return [0x6C, UInt8(data.count)] }
            return data + [0x90, 0x00]
        case 0x00 where [0x40, 0x44, 0x52].contains(apdu.p1):
            // ACS LED and buzzer control (FF 00 40 / 44 / 52): the virtual reader does it
            // as an ACS reader would, whatever the card; the ACR122U's SW2 is its LED state.
            return [0x90, 0x00]
        case 0x82:
            return [0x90, 0x00]  // load key: the reader stores it whatever the card
        case 0x86, 0x88:
            return model.media == .classic ? [0x63, 0x00] : [0x6A, 0x81]  // no key we hold works
        case 0xB0, 0xD6:
            return model.media == .classic ? [0x69, 0x82] : [0x6A, 0x81]
        default:
            return [0x6D, 0x00]
        }
    }

    // MARK: DESFire

    private static func desfireStatus(_ code: UInt8) -> [UInt8] { [0x91, code] }

    private mutating func desfire(_ apdu: CommandAPDU) -> [UInt8] {
        switch apdu.cla {
        case 0x90: break
        case 0x00:
            pendingFrames = []
            // The ITSO application has no ISO DF name, so an ISO select finds nothing.
            return apdu.ins == 0xA4 ? [0x6A, 0x82] : [0x6D, 0x00]
        default:
            return [0x6E, 0x00]
        }
        if apdu.ins == 0xAF {
            guard !pendingFrames.isEmpty else { return Self.desfireStatus(0x1C) }
            return pendingFrames.removeFirst()
        }
        pendingFrames = []
        switch apdu.ins {
        case 0x5A: return selectApplication(apdu.data)
        case 0xBD: return readData(apdu.data)
        case 0xF5: return fileSettings(apdu.data)
        case 0x6A:
            guard apdu.data.isEmpty else { return Self.desfireStatus(0x7E) }
            guard selectedApplication == nil else { return Self.desfireStatus(0x9D) }
            return (shellFile == nil ? [] : Self.itsoAID) + Self.desfireStatus(0x00)
        case 0x60:
            guard apdu.data.isEmpty else { return Self.desfireStatus(0x7E) }
            return startFrames(version())
        default:
            return Self.desfireStatus(0x1C)
        }
    }

    private mutating func selectApplication(_ aid: [UInt8]) -> [UInt8] {
        guard aid.count == 3 else { return Self.desfireStatus(0x7E) }
        if aid == [0, 0, 0] {
            selectedApplication = nil
            return Self.desfireStatus(0x00)
        }
        guard aid == Self.itsoAID, shellFile != nil else {
            selectedApplication = nil
            return Self.desfireStatus(0xA0)
        }
        selectedApplication = aid
        return Self.desfireStatus(0x00)
    }

    private mutating func readData(_ data: [UInt8]) -> [UInt8] {
        guard data.count == 7 else { return Self.desfireStatus(0x7E) }
        // The PICC level holds no files: the command is not allowed there.
        guard selectedApplication != nil, shellFile != nil else { return Self.desfireStatus(0x9D) }
        guard let file = files[data[0]] else { return Self.desfireStatus(0xF0) }
        let offset = Int(data[1]) | Int(data[2]) << 8 | Int(data[3]) << 16
        let length = Int(data[4]) | Int(data[5]) << 8 | Int(data[6]) << 16
        guard offset < file.count else { return Self.desfireStatus(0xBE) }
        let end = length == 0 ? file.count : offset + length
        guard end <= file.count else { return Self.desfireStatus(0xBE) }
        return startFrames(chunks(Array(file[offset..<end])))
    }

    private func fileSettings(_ data: [UInt8]) -> [UInt8] {
        guard data.count == 1 else { return Self.desfireStatus(0x7E) }
        guard selectedApplication != nil, shellFile != nil else { return Self.desfireStatus(0x9D) }
        guard let file = files[data[0]] else { return Self.desfireStatus(0xF0) }
        // Standard data file, plain communication, read free (E), other rights key 0.
        let size = file.count
        return [0x00, 0x00, 0x00, 0xE0, UInt8(size & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size >> 16 & 0xFF)]
            + Self.desfireStatus(0x00)
    }

    /// The three GetVersion frames: hardware, software, then UID, batch and date.
    private func version() -> [[UInt8]] {
        let hardware: [UInt8] = [0x04, 0x01, 0x01, 0x01, 0x00, 0x18, 0x05]
        let software: [UInt8] = [0x04, 0x01, 0x01, model.generation.rawValue, 0x04, 0x18, 0x05]
        // A random-ID card hides its real UID here until authenticated: zeros.
        let reported = uid.count == 7 ? uid : [UInt8](repeating: 0, count: 7)
        let production = reported + [0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x26]
        return [hardware, software, production]
    }

    private func chunks(_ data: [UInt8]) -> [[UInt8]] {
        guard !data.isEmpty else { return [[]] }
        return stride(from: 0, to: data.count, by: Self.maxFrameData).map {
            Array(data[$0..<min($0 + Self.maxFrameData, data.count)])
        }
    }

    /// Answers the first frame now and keeps the rest for `90 AF`.
    private mutating func startFrames(_ frames: [[UInt8]]) -> [UInt8] {
        let framed = frames.enumerated().map { i, frame in
            frame + Self.desfireStatus(i == frames.count - 1 ? 0x00 : 0xAF)
        }
        pendingFrames = Array(framed.dropFirst())
        return framed[0]
    }

    // MARK: ISO 7816 (CMD2)

    private mutating func cmd2(_ apdu: CommandAPDU) -> [UInt8] {
        guard apdu.cla == 0x00 else { return [0x6E, 0x00] }
        if apdu.ins == 0xB0 { return cmd2ReadBinary(apdu) }
        guard apdu.ins == 0xA4 else { return [0x6D, 0x00] }
        if apdu.p1 == 0x00 { return cmd2SelectSector(apdu) }
        guard apdu.p1 == 0x04 else { return [0x6A, 0x86] }
        guard apdu.data == Self.cmd2AID, let shell = shellFile else {
            cmd2Selection = .none
            return [0x6A, 0x82]
        }
        cmd2Selection = .itso
        if apdu.p2 == 0x0C { return [0x90, 0x00] }  // no FCI asked for
        guard apdu.p2 == 0x00 else { return [0x6A, 0x86] }
        let proprietary = tlv(0xC0, shell) + tlv(0xE0, Self.cmd2Parameters)
        let fci = tlv(0x6F, tlv(0x84, Self.cmd2AID) + tlv(0xA5, proprietary))
        return fci + [0x90, 0x00]
    }

    /// SELECT by file identifier `01nn`: storage sector nn's DF, a child of the ITSO DF
    /// (so not found from another sector's DF, its sibling).
    private mutating func cmd2SelectSector(_ apdu: CommandAPDU) -> [UInt8] {
        guard apdu.data.count == 2, apdu.data[0] == 0x01 else { return [0x6A, 0x82] }
        guard case .itso = cmd2Selection, let data = sectors[Int(apdu.data[1])] else { return [0x6A, 0x82] }
        cmd2Selection = .sector(Int(apdu.data[1]))
        // FCP-less answer: the sector's EF size in tag 80.
        return [0x62, 0x04, 0x80, 0x02, UInt8(data.count >> 8), UInt8(data.count & 0xFF), 0x90, 0x00]
    }

    /// READ BINARY by short file identifier 1 (`00 B0 81 00 Le`) in a sector's DF.
    private func cmd2ReadBinary(_ apdu: CommandAPDU) -> [UInt8] {
        // Without a short file id it reads the current EF, and a DF is current: none.
        guard apdu.p1 & 0x80 != 0 else { return [0x69, 0x86] }
        guard apdu.p1 == 0x80 | Self.storageSFI, apdu.data.isEmpty else { return [0x6A, 0x82] }
        guard case .sector(let n) = cmd2Selection, let data = sectors[n] else { return [0x69, 0x86] }
        let offset = Int(apdu.p2)
        guard offset <= data.count else { return [0x6B, 0x00] }
        let wanted = apdu.le.map { $0 == 0 ? 256 : Int($0) } ?? 256
        return Array(data[offset..<min(data.count, offset + wanted)]) + [0x90, 0x00]
    }

    private func tlv(_ tag: UInt8, _ value: [UInt8]) -> [UInt8] {
        // BER length: short form below 128, else 81 LL (the FCI never reaches 256).
        value.count < 0x80 ? [tag, UInt8(value.count)] + value : [tag, 0x81, UInt8(value.count)] + value
    }
}

/// A short command APDU split into its parts. Extended lengths are not supported (no card
/// here needs them); such commands fail to parse and get `67 00`.
struct CommandAPDU {
    let cla: UInt8
    let ins: UInt8
    let p1: UInt8
    let p2: UInt8
    let data: [UInt8]
    /// Le as sent (`00` meaning "as much as there is"), nil when absent.
    let le: UInt8?

    init?(_ bytes: [UInt8]) {
        guard bytes.count >= 4 else { return nil }
        cla = bytes[0]
        ins = bytes[1]
        p1 = bytes[2]
        p2 = bytes[3]
        if bytes.count == 4 {
            data = []
            le = nil
        } else if bytes.count == 5 {
            data = []
            le = bytes[4]
        } else {
            let lc = Int(bytes[4])
            guard lc > 0 else { return nil }
            if bytes.count == 5 + lc {
                le = nil
            } else if bytes.count == 6 + lc {
                le = bytes[5 + lc]
            } else {
                return nil
            }
            data = Array(bytes[5..<(5 + lc)])
        }
    }
}

/// Why an ATR could not be parsed (ISO/IEC 7816-3 structure).
public enum ATRError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No bytes at all.
    case empty
    /// The first byte is neither `3B` (direct convention) nor `3F` (inverse).
    case badTS(UInt8)
    /// The ATR ends before the interface or historical bytes its format bytes announce.
    case truncated(needed: Int, available: Int)
    /// Bytes left over after the historical bytes and TCK.
    case trailingBytes(Int)

    /// One line for a technician.
    public var description: String {
        switch self {
        case .empty: "empty ATR"
        case .badTS(let ts): "ATR starts with \(Hex.string([ts])), not 3B or 3F"
        case .truncated(let n, let a): "ATR is truncated: needs \(n) bytes, has \(a)"
        case .trailingBytes(let n): "ATR has \(n) unexpected trailing bytes"
        }
    }
}

/// An ATR taken apart (ISO/IEC 7816-3): TS, T0, the interface bytes, the historical bytes
/// and the TCK, with what kind of card it suggests (PC/SC part 3 for contactless cards).
public struct ATRInfo: Sendable, Equatable {
    /// One interface byte, named the way ISO 7816-3 names it.
    public struct InterfaceByte: Sendable, Equatable {
        /// `"TA1"`, `"TD2"`, ...
        public let name: String
        /// Its value.
        public let value: UInt8
    }

    /// The ATR as received.
    public let bytes: [UInt8]
    /// TS: `3B` direct convention, `3F` inverse.
    public let ts: UInt8
    /// T0: high nibble says which of TA1..TD1 follow, low nibble counts historical bytes.
    public let t0: UInt8
    /// TA1, TB1, TC1, TD1, TA2, ... in order of appearance.
    public let interfaceBytes: [InterfaceByte]
    /// The protocols the TDi bytes announce (`T=0` is implied when no TD1 is present).
    public let protocols: [Int]
    /// The historical bytes (for contactless cards: PC/SC part 3 data or the ATS's).
    public let historicalBytes: [UInt8]
    /// TCK, present unless only T=0 is indicated.
    public let tck: UInt8?
    /// Whether T0..TCK XOR to zero; nil when the ATR has no TCK.
    public let tckValid: Bool?

    /// Parses `bytes` as an ATR.
    /// - Throws: `ATRError` for a structure that does not hold together.
    public init(_ bytes: [UInt8]) throws(ATRError) {
        guard let ts = bytes.first else { throw .empty }
        guard ts == 0x3B || ts == 0x3F else { throw .badTS(ts) }
        guard bytes.count >= 2 else { throw .truncated(needed: 2, available: bytes.count) }
        let t0 = bytes[1]
        var index = 2
        var y = t0 >> 4
        var group = 1
        var interface: [InterfaceByte] = []
        var protocols: [Int] = []
        var needsTCK = false
        // Each pass reads TAi..TDi as announced by the previous Y nibble; TDi carries the next Y.
        while true {
            var td: UInt8? = nil
            for (bit, letter) in [(UInt8(1), "A"), (2, "B"), (4, "C"), (8, "D")] where y & bit != 0 {
                guard index < bytes.count else { throw .truncated(needed: index + 1, available: bytes.count) }
                let value = bytes[index]
                interface.append(InterfaceByte(name: "T\(letter)\(group)", value: value))
                if letter == "D" { td = value }
                index += 1
            }
            guard let td else { break }
            let t = Int(td & 0x0F)
            protocols.append(t)
            if t != 0 { needsTCK = true }
            y = td >> 4
            group += 1
        }
        if protocols.isEmpty { protocols = [0] }
        let k = Int(t0 & 0x0F)
        guard index + k <= bytes.count else { throw .truncated(needed: index + k, available: bytes.count) }
        let historical = Array(bytes[index..<index + k])
        index += k
        var tck: UInt8? = nil
        if needsTCK {
            guard index < bytes.count else { throw .truncated(needed: index + 1, available: bytes.count) }
            tck = bytes[index]
            index += 1
        }
        guard index == bytes.count else { throw .trailingBytes(bytes.count - index) }
        self.bytes = bytes
        self.ts = ts
        self.t0 = t0
        self.interfaceBytes = interface
        self.protocols = protocols
        self.historicalBytes = historical
        self.tck = tck
        if tck != nil {
            self.tckValid = bytes.dropFirst().reduce(0, ^) == 0
        } else {
            self.tckValid = nil
        }
    }

    /// The value of the interface byte called `name` (`"TD1"`), if present.
    public func interfaceByte(_ name: String) -> UInt8? {
        interfaceBytes.first { $0.name == name }?.value
    }

    /// True for the shape PC/SC part 3 gives every contactless card: `3B 8n 80 01`, that is
    /// TD1 = `80` (T=0, TD2 follows), TD2 = `01` (T=1) and no other interface byte.
    public var isPCSCContactless: Bool {
        interfaceBytes.count == 2 && interfaceByte("TD1") == 0x80 && interfaceByte("TD2") == 0x01
    }

    /// What kind of card this ATR suggests.
    public var kind: ATRKind {
        if isPCSCContactless {
            let h = historicalBytes
            // 80 (category) 4F (AID tag) 0C (length) A0 00 00 03 06 (PC/SC RID) SS NN NN 00 00 00 00
            if h.count >= 11, h[0] == 0x80, h[1] == 0x4F, h[2] >= 8,
               Array(h[3..<8]) == [0xA0, 0x00, 0x00, 0x03, 0x06] {
                return .contactlessMemory(standard: h[8], cardName: UInt16(h[9]) << 8 | UInt16(h[10]))
            }
            return .contactlessISO14443_4(historicalBytes: h)
        }
        return .contact(protocols: protocols)
    }
}

/// What an ATR says about the card. A hint only: selecting the ITSO application confirms.
public enum ATRKind: Sendable, Equatable {
    /// A contactless memory card, PC/SC part 3: standard byte SS and card name NN NN.
    case contactlessMemory(standard: UInt8, cardName: UInt16)
    /// An ISO 14443-4 (T=CL) card, with its historical bytes.
    case contactlessISO14443_4(historicalBytes: [UInt8])
    /// A contact card, with the protocols its ATR offers.
    case contact(protocols: [Int])
    /// Not a well-formed ATR.
    case malformed(ATRError)

    /// Classifies an ATR; never fails (a malformed ATR gives `.malformed`).
    public init(atr: [UInt8]) {
        do {
            self = try ATRInfo(atr).kind
        } catch {
            self = .malformed(error)
        }
    }

    /// The chip family the ATR points to.
    public var media: Media {
        switch self {
        case .contactlessMemory(_, let name):
            switch name {
            case 0x0001, 0x0002, 0x0026, 0x0036, 0x0037: .classic
            case 0x0003, 0x003A, 0x003D: .ultralight
            default: .unknown
            }
        case .contactlessISO14443_4(let h): ATRKind.looksLikeDESFire(h) ? .desfire : .unknown
        case .contact: .iso7816
        case .malformed: .unknown
        }
    }

    /// True for a contactless memory card: its UID is all a PC/SC reader can give without keys.
    public var isMemoryCard: Bool {
        if case .contactlessMemory = self { return true }
        return false
    }

    /// One line for a technician: "MIFARE Classic 1K (PC/SC part 3)",
    /// "ISO 14443-4 card (DESFire EV1/EV2 likely)", "contact card (T=1)".
    public var meaning: String {
        switch self {
        case .contactlessMemory(let ss, let name):
            let card = ATRKind.cardName(name) ?? "contactless memory card \(Hex.spaced([UInt8(name >> 8), UInt8(name & 0xFF)]))"
            let standard = ss == 0x03 ? "" : ", \(ATRKind.standardName(ss))"
            return "\(card) (PC/SC part 3\(standard))"
        case .contactlessISO14443_4(let h):
            if ATRKind.looksLikeDESFire(h) { return "ISO 14443-4 card (DESFire EV1/EV2 likely)" }
            if h.isEmpty { return "ISO 14443-4 card (no historical bytes)" }
            return "ISO 14443-4 card (historical bytes \(Hex.spaced(h)))"
        case .contact(let protocols):
            var unique: [Int] = []
            for t in protocols where !unique.contains(t) { unique.append(t) }
            return "contact card (\(unique.map { "T=\($0)" }.joined(separator: ", ")))"
        case .malformed(let error):
            return "unrecognised ATR: \(error)"
        }
    }

    /// DESFire EV1/EV2/EV3 give historical byte `80` alone; some readers pass the whole
    /// ATS (`75 77 81 02 80`) through instead.
    static func looksLikeDESFire(_ h: [UInt8]) -> Bool {
        h == [0x80] || h == [0x75, 0x77, 0x81, 0x02, 0x80]
    }

    /// Card names of the PC/SC part 3 supplement (the `NN NN` bytes).
    public static func cardName(_ code: UInt16) -> String? {
        switch code {
        case 0x0001: "MIFARE Classic 1K"
        case 0x0002: "MIFARE Classic 4K"
        case 0x0003: "MIFARE Ultralight"
        case 0x0004: "SLE 55R"
        case 0x0006: "ST SR176"
        case 0x0007: "ST SRI X4K"
        case 0x0012: "Texas Instruments Tag-it"
        case 0x0013: "ST LRI512"
        case 0x0014: "NXP ICODE SLI"
        case 0x0016: "NXP ICODE1"
        case 0x0026: "MIFARE Mini"
        case 0x002F: "Innovision Jewel"
        case 0x0030: "Topaz NFC tag"
        case 0x0035: "NXP ICODE SL2"
        case 0x0036: "MIFARE Plus SL1 2K"
        case 0x0037: "MIFARE Plus SL1 4K"
        case 0x0038: "MIFARE Plus SL2 2K"
        case 0x0039: "MIFARE Plus SL2 4K"
        case 0x003A: "MIFARE Ultralight C"
        case 0x003B: "FeliCa"
        case 0x003D: "MIFARE Ultralight EV1"
        default: nil
        }
    }

    /// The PC/SC part 3 standard byte `SS`.
    public static func standardName(_ ss: UInt8) -> String {
        switch ss {
        case 0x01: "ISO 14443 A part 1"
        case 0x02: "ISO 14443 A part 2"
        case 0x03: "ISO 14443 A part 3"
        case 0x05: "ISO 14443 B part 1"
        case 0x06: "ISO 14443 B part 2"
        case 0x07: "ISO 14443 B part 3"
        case 0x09: "ISO 15693 part 1"
        case 0x0A: "ISO 15693 part 2"
        case 0x0B: "ISO 15693 part 3"
        case 0x0C: "ISO 15693 part 4"
        case 0x11: "FeliCa"
        case 0x40: "low frequency"
        default: "standard \(Hex.string([ss]))"
        }
    }
}

/// Why the answer to GET DATA (`FF CA 00 00 00`) gave no UID.
public enum UIDError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The answer has fewer than two bytes, so not even a status word.
    case noStatusWord(length: Int)
    /// The reader refused (`6A 81` on contact cards, `63 00` when the card left, ...).
    case refused(StatusWord)
    /// `90 00` with no UID in front of it.
    case empty
    /// A UID of a length no card type has (ISO 14443 gives 4, 7 or 10; ISO 15693 and
    /// FeliCa 8).
    case unexpectedLength(Int)

    /// One line for a technician.
    public var description: String {
        switch self {
        case .noStatusWord(let n): "GET DATA answer has \(n) bytes, no status word"
        case .refused(let sw): "reader gave no UID: \(sw.meaning) (\(sw.hex))"
        case .empty: "reader answered GET DATA with no UID"
        case .unexpectedLength(let n): "UID of \(n) bytes is not a known UID size"
        }
    }
}

/// A chip UID as the reader reports it, with what NXP AN10927 says about its kind.
public struct CardUID: Hashable, Sendable, CustomStringConvertible {
    /// The UID size class.
    public enum Kind: String, Sendable {
        /// 4 bytes (single size): MIFARE Classic, random IDs.
        case single
        /// 7 bytes (double size): DESFire, Ultralight, newer Classic.
        case double
        /// 10 bytes (triple size).
        case triple
        /// 8 bytes: ISO 15693 or a FeliCa IDm.
        case eightByte
    }

    /// The GET DATA command that asks a PC/SC reader for the UID.
    public static let getDataCommand: [UInt8] = [0xFF, 0xCA, 0x00, 0x00, 0x00]

    /// The UID bytes.
    public let bytes: [UInt8]

    /// A UID from its bytes.
    /// - Throws: `UIDError.empty` or `.unexpectedLength` for sizes no card has.
    public init(bytes: [UInt8]) throws(UIDError) {
        guard !bytes.isEmpty else { throw .empty }
        guard [4, 7, 8, 10].contains(bytes.count) else { throw .unexpectedLength(bytes.count) }
        self.bytes = bytes
    }

    /// The UID from the whole answer to `FF CA 00 00 00`: UID bytes then `90 00`.
    /// - Throws: `UIDError` naming what was wrong with the answer.
    public init(getDataResponse response: [UInt8]) throws(UIDError) {
        guard let sw = StatusWord(response: response) else { throw .noStatusWord(length: response.count) }
        guard sw == .success else { throw .refused(sw) }
        try self.init(bytes: Array(response.dropLast(2)))
    }

    /// The size class.
    public var kind: Kind {
        switch bytes.count {
        case 4: .single
        case 7: .double
        case 10: .triple
        default: .eightByte
        }
    }

    /// A random ID (4 bytes starting `08`): new on every tap, never an identity.
    public var isRandom: Bool { bytes.count == 4 && bytes[0] == 0x08 }

    /// A 4-byte fixed but non-unique ID (first byte `xF`): shared by many cards.
    public var isNonUnique: Bool { bytes.count == 4 && bytes[0] & 0x0F == 0x0F }

    /// A 7- or 10-byte UID whose manufacturer byte is NXP's `04`.
    public var isNXP: Bool { bytes.count >= 7 && bytes[0] == 0x04 }

    /// Upper-case hex: `04A1B2C3D4E580`.
    public var hex: String { Hex.string(bytes) }

    /// One line for a technician: "7-byte UID (NXP)", "4-byte random ID: not an identity".
    public var summary: String {
        if isRandom { return "4-byte random ID (starts 08): new on every tap, not an identity" }
        if isNonUnique { return "4-byte non-unique ID (fixed, shared by other cards)" }
        let size = "\(bytes.count)-byte UID"
        return isNXP ? "\(size) (NXP)" : size
    }

    /// The hex UID.
    public var description: String { hex }
}

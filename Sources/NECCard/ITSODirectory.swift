/// Why bytes are not a usable ITSO Directory for the card's geometry.
public enum DirectoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the shell's geometry says the Directory needs (2 + 5 x E# + SCTL + 1).
    case truncated(needed: Int, available: Int)
    /// DIRLength states a length (in 4-byte blocks) shorter than the fields the
    /// geometry puts in it. DIRLength 0, as both public demo cards store, is not checked.
    case badDirLength(blocks: Int, needed: Int)

    /// One line for a technician.
    public var description: String {
        switch self {
        case .truncated(let n, let a): "directory is truncated: the shell's geometry needs \(n) bytes, it has \(a)"
        case .badDirLength(let b, let n): "directory length \(b) blocks (\(b * 4) bytes) is below the \(n) bytes its fields need"
        }
    }
}

/// The ITSO Directory data group (TS 1000-2 clause 5), decoded for the card's geometry:
/// DIRLength, DIRBitMap (the card-blocked bit, the log entry), the entries, the Sector
/// Chain Table, DIRS# and the optional InstanceID (which carries the shell iteration
/// number INS#). Bits count from the most significant bit of byte 0.
///
/// A pure decoder: every length is checked against what the shell's geometry says before
/// a field is read, and no input makes it trap.
public struct ITSODirectory: Sendable, Hashable {
    /// The optional 5 bytes after DIRS#, who last changed the card: `kid` (KID) is the
    /// high nibble of the first byte, `shellIteration` (INS#, the shell iteration number
    /// hotlists pair with the ISRN) its low nibble, and `isam` the ISAM ID of the device
    /// that last sealed the Directory (the next 4 bytes, big-endian).
    public struct InstanceID: Sendable, Hashable {
        public let kid: UInt8, shellIteration: UInt8, isam: UInt32
    }

    /// DIRLength (bits 0-5), in 4-byte blocks as stored; 0 on both public demo cards.
    public let dirLength: Int
    /// DIRBitMap (bits 6-11).
    public let bitmap: UInt8
    /// The format revision (bits 12-15).
    public let formatRevision: UInt8
    /// The E# entries of 5 bytes each, in order (entry 1 first), as stored.
    public let entries: [[UInt8]]
    /// The Sector Chain Table's entries (`geometry.sectorChainEntryBits` wide each), for
    /// sectors 1, 2, ... as far as SCTL bytes and S - 1 sectors go.
    public let sectorChain: [Int]
    /// DIRS#: the Directory's sequence number (wraps at 255).
    public let sequence: UInt8
    /// The InstanceID, when the bytes carry the 5 after DIRS#.
    public let instance: InstanceID?

    /// DIRBitMap bit 0: the issuer has blocked the whole card.
    public var isBlocked: Bool { bitmap & 0x01 != 0 }

    /// DIRBitMap bits 2:1 (the legacy code 2 means the same as 1).
    public var logConfiguration: UInt8 { (bitmap >> 1) & 0x03 }

    /// Whether entry E# is the cyclic log's entry rather than a product's.
    public var lastEntryIsLog: Bool { logConfiguration != 0 }

    /// INS#, when the Directory carries its InstanceID.
    public var shellIteration: UInt8? { instance?.shellIteration }

    /// Decodes a Directory. `input` may be longer than the fields (a whole file or sector).
    /// - Parameters:
    ///   - input: the Directory's bytes.
    ///   - geometry: the shell's geometry (E#, SCTL and S place every field).
    /// - Throws: `DirectoryError` when the bytes are too few for the geometry.
    public init(decoding input: some Collection<UInt8>, geometry: CardGeometry) throws(DirectoryError) {
        let bytes = Array(input)
        let needed = geometry.directoryMinimumLength
        guard bytes.count >= needed else { throw .truncated(needed: needed, available: bytes.count) }
        let blocks = Int(bytes[0] >> 2)
        guard blocks == 0 || blocks * 4 >= needed else { throw .badDirLength(blocks: blocks, needed: needed) }
        dirLength = blocks
        bitmap = (bytes[0] & 0x03) << 4 | bytes[1] >> 4
        formatRevision = bytes[1] & 0x0F
        entries = (0..<Int(geometry.directoryEntries)).map { i in Array(bytes[(2 + 5 * i)..<(7 + 5 * i)]) }

        let tableStart = 2 + 5 * Int(geometry.directoryEntries)
        let table = Array(bytes[tableStart..<(tableStart + Int(geometry.sctl))])
        let width = geometry.sectorChainEntryBits
        let fitting = table.count * 8 / width
        sectorChain = (0..<min(fitting, Int(geometry.sectorCount) - 1)).map { ITSODirectory.bits(table, from: $0 * width, count: width) }

        let sequenceOffset = geometry.directorySequenceOffset
        sequence = bytes[sequenceOffset]
        if bytes.count >= sequenceOffset + 6 {
            let first = bytes[sequenceOffset + 1]
            let isam = bytes[(sequenceOffset + 2)...(sequenceOffset + 5)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            instance = InstanceID(kid: first >> 4, shellIteration: first & 0x0F, isam: isam)
        } else {
            instance = nil
        }
    }

    /// `count` bits (at most 8) from bit `start`, most significant first.
    private static func bits(_ bytes: [UInt8], from start: Int, count: Int) -> Int {
        var value = 0
        for bit in start..<(start + count) {
            value = value << 1 | Int(bytes[bit / 8] >> (7 - UInt8(bit % 8)) & 1)
        }
        return value
    }

    /// Whether sequence number `candidate` is newer than `other`, counting modulo 256
    /// (TS 1000-2 clause 5.1.6): `00` is newer than `FF`. Equal numbers: not newer.
    public static func isNewer(_ candidate: UInt8, than other: UInt8) -> Bool {
        let ahead = candidate &- other
        return ahead != 0 && ahead < 0x80
    }

    /// The live one of CMD2's two copies (sectors S - 2 and S - 1): the one whose DIRS#
    /// is ahead modulo 256; the second when both carry the same number; the one that
    /// decoded when the other did not.
    /// - Returns: the copy chosen and its index (0 for S - 2, 1 for S - 1), or nil when
    ///   neither decoded.
    public static func live(_ first: ITSODirectory?, _ second: ITSODirectory?) -> (directory: ITSODirectory, copy: Int)? {
        switch (first, second) {
        case (let a?, let b?): isNewer(a.sequence, than: b.sequence) ? (a, 0) : (b, 1)
        case (let a?, nil): (a, 0)
        case (nil, let b?): (b, 1)
        case (nil, nil): nil
        }
    }
}

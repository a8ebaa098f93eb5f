/// Why the geometry bytes of a shell (16-19) cannot describe a card.
public enum GeometryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// B = 0, S < 4, E# = 0, or SCTL outside 1...64.
    case impossible(sectorSize: UInt8, sectorCount: UInt8, directoryEntries: UInt8, sctl: UInt8)

    /// One line for a technician.
    public var description: String {
        switch self {
        case .impossible(let b, let s, let e, let t): "shell geometry is impossible: B=\(b) S=\(s) E#=\(e) SCTL=\(t)"
        }
    }
}

/// The layout a shell states for its card (bytes 16-19: B, S, E#, SCTL), and what follows
/// from it: where the ITSO Directory is, how wide a Sector Chain Table entry is, and how
/// long a Directory must be. Never assumed: real CMD2 cards have 80-byte sectors and 64
/// of them where the documents' defaults are 48 and 32.
public struct CardGeometry: Sendable, Hashable, CustomStringConvertible {
    /// B: bytes in a sector.
    public let sectorSize: UInt8
    /// S: how many sectors the card has (the shell is sector 0).
    public let sectorCount: UInt8
    /// E#: how many 5-byte entries the Directory holds.
    public let directoryEntries: UInt8
    /// SCTL: bytes in the Directory's Sector Chain Table.
    public let sctl: UInt8

    /// Checks the four bytes.
    /// - Throws: `GeometryError.impossible` for B = 0, S < 4, E# = 0 or SCTL outside 1...64.
    public init(sectorSize: UInt8, sectorCount: UInt8, directoryEntries: UInt8, sctl: UInt8) throws(GeometryError) {
        guard sectorSize > 0, sectorCount >= 4, directoryEntries > 0, (1...64).contains(sctl) else {
            throw .impossible(sectorSize: sectorSize, sectorCount: sectorCount, directoryEntries: directoryEntries, sctl: sctl)
        }
        self.sectorSize = sectorSize
        self.sectorCount = sectorCount
        self.directoryEntries = directoryEntries
        self.sctl = sctl
    }

    /// The width of one Sector Chain Table entry: the smallest w with 2^w >= S (4 bits at
    /// S = 16, 5 at 32, 6 at 64).
    public var sectorChainEntryBits: Int {
        var w = 1
        while (1 << w) < Int(sectorCount) { w += 1 }
        return w
    }

    /// Where DIRS# sits in the Directory: after DIRLength/DIRBitMap (2 bytes), the E#
    /// entries of 5 bytes and the SCTL bytes of the chain table.
    public var directorySequenceOffset: Int { 2 + 5 * Int(directoryEntries) + Int(sctl) }

    /// The fewest bytes a Directory can have: up to and including DIRS#.
    public var directoryMinimumLength: Int { directorySequenceOffset + 1 }

    /// The sector holding the Directory on DESFire: S - 1 (S - 2 is the cyclic log).
    public var directorySector: Int { Int(sectorCount) - 1 }

    /// The two sectors holding the Directory's copies on CMD2: S - 2 and S - 1.
    public var cmd2DirectorySectors: [Int] { [Int(sectorCount) - 2, Int(sectorCount) - 1] }

    /// The DESFire file holding logical sector `sector`, counted from the shell's file as
    /// real cards do: `shellFile - n` when `shellFile + 1 >= S` (the sectors fit below the
    /// shell), else `shellFile + n`. Nil when that is not a DESFire file number (0...31).
    /// - Parameters:
    ///   - sector: the logical sector, 0 (the shell) to S - 1.
    ///   - shellFile: the file the shell was read from (`0x0F` on NECs).
    public func desfireFile(sector: Int, shellFile: UInt8) -> UInt8? {
        guard (0..<Int(sectorCount)).contains(sector) else { return nil }
        let shell = Int(shellFile)
        let file = shell + 1 >= Int(sectorCount) ? shell - sector : shell + sector
        guard (0...31).contains(file) else { return nil }
        return UInt8(file)
    }

    /// `B=64 S=16 E#=8 SCTL=7`.
    public var description: String { "B=\(sectorSize) S=\(sectorCount) E#=\(directoryEntries) SCTL=\(sctl)" }
}

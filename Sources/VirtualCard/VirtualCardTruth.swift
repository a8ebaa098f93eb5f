/// The card-truth options of `necctl simulate`, applied to a model `from(isrn:...)` made:
/// what the ITSO Directory says, a large geometry, the DESFire generation, Classic 4K.
public struct VirtualCardTruth: Sendable, Hashable {
    /// The Directory marks the card blocked.
    public var blocked = false
    /// The card has no ITSO Directory.
    public var noDirectory = false
    /// DIRS#, when given.
    public var directorySequence: UInt8? = nil
    /// 80-byte sectors, 64 of them, 16 Directory entries (a real CMD2 card's geometry).
    public var largeGeometry = false
    /// The DESFire generation GET VERSION reports.
    public var generation: VirtualCardModel.DESFireGeneration = .ev1
    /// A MIFARE Classic card is a 4K one.
    public var classic4K = false

    /// Nothing changed.
    public init() {}

    /// `B=80 S=64 E#=16 SCTL=48`: a 6-bit Sector Chain Table of 64 entries.
    public static let largeGeometry = VirtualShell.Geometry(sectorSize: 80, sectorCount: 64, directoryEntries: 16, sctl: 48)

    /// `model` with these options.
    public func apply(to model: VirtualCardModel) -> VirtualCardModel {
        var out = model
        if classic4K, out.chip == .classic1K { out.chip = .classic4K }
        out.generation = generation
        if largeGeometry { out.shell?.geometry = Self.largeGeometry }
        if noDirectory {
            out.directory = nil
        } else {
            var directory = out.directory ?? VirtualDirectory()
            directory.blocked = blocked
            if let directorySequence { directory.sequence = directorySequence }
            out.directory = directory
            // CMD2 keeps two copies: the other, one update older, in sector S - 2.
            if out.chip == .iso7816 {
                var older = directory
                older.sequence = directory.sequence &- 1
                out.otherDirectoryCopy = older
            }
        }
        return out
    }
}

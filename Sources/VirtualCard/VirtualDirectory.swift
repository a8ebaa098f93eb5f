internal import NECCard

/// The ITSO Directory a virtual card carries (TS 1000-2 clause 5), as the emulator encodes
/// it for the shell's geometry: DIRLength 0, DIRBitMap with the card-blocked bit and the
/// log-entry code, revision 1, empty entries and chain table, DIRS#, and an InstanceID
/// when an INS# is given. Written from the layout in the design notes, not from the decoder.
public struct VirtualDirectory: Sendable, Hashable {
    /// DIRBitMap bit 0: the card is blocked.
    public var blocked: Bool
    /// DIRS#, the sequence number.
    public var sequence: UInt8
    /// INS#, 0-15, written in the InstanceID after DIRS#; nil writes no InstanceID.
    public var shellIteration: UInt8?
    /// The ISAM ID in the InstanceID.
    public var isam: UInt32
    /// Exact bytes to hold instead of the encoding (public test vectors).
    public var raw: [UInt8]?

    /// - Parameters: see the properties (defaults: not blocked, DIRS# 1, INS# 1, ISAM 0x00009999).
    public init(blocked: Bool = false, sequence: UInt8 = 1, shellIteration: UInt8? = 1, isam: UInt32 = 0x0000_9999, raw: [UInt8]? = nil) {
        self.blocked = blocked
        self.sequence = sequence
        self.shellIteration = shellIteration
        self.isam = isam
        self.raw = raw
    }

    /// A blocked card's directory.
    public static let blockedCard = VirtualDirectory(blocked: true)

    /// Flipso's blocked demo directory (B=64 S=16 E#=8 SCTL=7, DIRS# 0x11, 50 bytes).
    public static let flipsoBlocked = VirtualDirectory(raw: Hex.bytes(
        "00 31 03 8A 00 2B 26 01 81 C0 2B 26 03 88 40 AB 26" + String(repeating: " 00", count: 20)
        + " 04 EE 1A EB 02 FF 4F 00 00 00 00 00 11")!)

    /// Flipso's not-blocked demo directory (same geometry, DIRS# 0x08, with InstanceID, 55 bytes).
    public static let flipsoNotBlocked = VirtualDirectory(raw: Hex.bytes(
        "00 21 04 7E 01 00 00 03 DA D3 2A 70 03 DA D3 2A 74" + String(repeating: " 00", count: 20)
        + " 8C EE 76 E9 83 1F F0 00 00 00 00 00 08 00 00 4E 30 F3")!)

    /// The bytes for a card of this geometry.
    public func bytes(geometry: VirtualShell.Geometry) -> [UInt8] {
        if let raw { return raw }
        let entries = Int(geometry.directoryEntries), sctl = Int(geometry.sctl)
        // DIRBitMap: bit 0 blocked, bits 2:1 = 01 (entry E# is the log's).
        let bitmap: UInt8 = (blocked ? 0x01 : 0x00) | 0x02
        var out: [UInt8] = [bitmap >> 4, (bitmap & 0x0F) << 4 | 0x01]
        out += [UInt8](repeating: 0, count: 5 * entries + sctl)
        out.append(sequence)
        if let shellIteration {
            out.append(0x10 | (shellIteration & 0x0F))
            out += [UInt8(isam >> 24), UInt8(isam >> 16 & 0xFF), UInt8(isam >> 8 & 0xFF), UInt8(isam & 0xFF)]
        }
        return out
    }
}

/// A small seeded generator (SplitMix64), so that random UIDs, garbage answers and
/// synthetic card numbers repeat under a seed in tests. Not for secrets.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// - Parameter seed: the starting state; the same seed gives the same numbers.
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The low byte of the next number.
    public mutating func nextByte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
}

/// One decision per card per reader: a card held on the reader, or lifted and laid
/// again within `debounce` on the same reader, is decided once (necd.toml(5), `debounce`).
///
/// The monitor already reports a held card once; this covers a card that leaves and
/// returns (or that the reader briefly loses) within the window.
public struct Debounce: Sendable {
    private struct Last: Sendable {
        var card: String
        var decidedAt: ContinuousClock.Instant
        var removedAt: ContinuousClock.Instant?
    }

    /// The window.
    public var window: Duration
    private var last: [String: Last] = [:]

    /// - Parameter window: `debounce` from the configuration.
    public init(window: Duration) { self.window = window }

    /// True when a tap of `card` on `reader` at `now` is a new tap that needs a decision,
    /// and records it. False when it repeats the previous tap on that reader.
    public mutating func admit(card: String, reader: String, at now: ContinuousClock.Instant) -> Bool {
        if let previous = last[reader], previous.card == card {
            let since = previous.removedAt ?? previous.decidedAt
            if now - since < window { return false }
        }
        last[reader] = Last(card: card, decidedAt: now, removedAt: nil)
        return true
    }

    /// Notes that the card left `reader`: the window runs from here.
    public mutating func removed(reader: String, at now: ContinuousClock.Instant) {
        last[reader]?.removedAt = now
    }
}

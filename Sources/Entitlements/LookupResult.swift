/// The answer to a lookup: the decision a card would get now. Nothing is redeemed or stored.
public struct LookupResult: Sendable, Equatable {
    /// What was read from the card.
    public var card: CardFields
    /// The outcome of the rules.
    public var verdict: Verdict

    /// - Parameters:
    ///   - card: the card looked up.
    ///   - verdict: the decision it would get.
    public init(card: CardFields, verdict: Verdict) {
        self.card = card
        self.verdict = verdict
    }
}

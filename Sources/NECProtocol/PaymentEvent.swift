/// A charge or a refund, as the daemon decided and stored it (minor version 1): the answer
/// to `charge` and `refund`, and an event every watcher gets and a replay repeats.
///
/// `{"class":"PAYMENT","seq":57,"time":"2026-11-27T12:03:10.220Z","lane":"till-2","txn":"till2-000981","pupil":"P0000042",
/// "kind":"charge","amount":235,"decision":"authorised","spent_today":235,"remaining_today":15,"balance":1265}`
public struct PaymentEvent: Codable, Hashable, Sendable {
    /// Always ``MessageClass/payment``.
    public var messageClass: MessageClass = .payment
    /// The event's place in the journal. Absent only from a charge declined `unavailable`
    /// because it could not be stored: sent to the till that asked, never replayed.
    public var seq: Int64?
    /// When it was decided, RFC 3339 UTC with milliseconds.
    public var time: String
    /// The lane the till gave; a refund has its charge's lane.
    public var lane: String?
    /// The till's own transaction id: the charge's, for a refund too.
    public var txn: String
    /// The pupil charged (or refunded).
    public var pupil: String
    /// A charge or a refund.
    public var kind: PaymentKind
    /// Whole pence: what was asked for, or (a refund) what the charge took.
    public var amount: Int
    /// Authorised or declined.
    public var decision: Decision
    /// Why a charge was declined.
    public var reason: DeclineReason?
    /// The pupil's authorised charges less refunds today (local date), in pence, across
    /// every card, till and lane: after this payment when it was authorised.
    public var spentToday: Int?
    /// What the pupil may still spend today, in pence; only with a `daily_limit`.
    public var remainingToday: Int?
    /// The pupil's account in pence, only when the list carries balances.
    public var balance: Int?
    /// Present and true when the list is past `max_list_age`.
    public var listStale: Bool?

    /// Creates a payment event.
    /// - Parameters: the event's keys, see the properties.
    public init(
        seq: Int64?, time: String, lane: String? = nil, txn: String, pupil: String, kind: PaymentKind, amount: Int,
        decision: Decision, reason: DeclineReason? = nil, spentToday: Int? = nil, remainingToday: Int? = nil,
        balance: Int? = nil, listStale: Bool? = nil
    ) {
        (self.seq, self.time, self.lane, self.txn, self.pupil) = (seq, time, lane, txn, pupil)
        (self.kind, self.amount, self.decision, self.reason) = (kind, amount, decision, reason)
        (self.spentToday, self.remainingToday, self.balance, self.listStale) = (spentToday, remainingToday, balance, listStale)
    }

    enum CodingKeys: String, CodingKey {
        case messageClass = "class", seq, time, lane, txn, pupil, kind, amount, decision, reason
        case spentToday = "spent_today", remainingToday = "remaining_today", balance, listStale = "list_stale"
    }
}

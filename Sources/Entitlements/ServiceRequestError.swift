/// Why a manual service, charge or refund request was refused before anything was
/// decided: the request itself is wrong. Nothing was stored or charged; the caller
/// answers with an error and the connection carries on.
public enum ServiceRequestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `pupil` is not 1 to 64 printable characters.
    case invalidPupil
    /// `amount` is not whole pence from 1 to ``EntitlementStore/maxAmount``.
    case invalidAmount(Int)
    /// `txn` is not 1 to 64 printable characters.
    case invalidTxn
    /// `txn` was used before for a charge of another pupil or amount (event `seq`).
    case txnReused(seq: Int64)
    /// No charge was stored with this `txn`.
    case unknownTxn
    /// The charge with this `txn` was declined (event `seq`): nothing to refund.
    case notRefundable(seq: Int64)
    /// The charge with this `txn` was refunded already, by event `refundSeq`.
    case alreadyRefunded(refundSeq: Int64)
    /// A charge with this `txn` is stored (the balance still counts it), but its event
    /// `seq` is older than `event_retention` and pruned: there is no answer to send back.
    case answerNoLongerKept(seq: Int64)

    /// The reason, for a person (names no pupil).
    public var description: String {
        switch self {
        case .invalidPupil: "pupil must be 1 to 64 printable characters"
        case .invalidAmount(let amount):
            "amount must be whole pence from 1 to \(EntitlementStore.maxAmount), not \(amount)"
        case .invalidTxn: "txn must be 1 to 64 printable characters"
        case .txnReused(let seq):
            "txn was already used for a charge of another pupil or amount (event \(seq)); use a new txn for a new charge"
        case .unknownTxn: "no charge has this txn: nothing to refund"
        case .notRefundable(let seq): "the charge with this txn was declined (event \(seq)): nothing to refund"
        case .alreadyRefunded(let seq): "the charge with this txn was already refunded (event \(seq))"
        case .answerNoLongerKept(let seq):
            "txn was charged already (event \(seq), older than event_retention, no longer kept); nothing was charged again"
        }
    }

    /// Whether `text` is 1 to 64 printable characters (no control, format or unassigned
    /// code points), as pupil references and txns must be.
    static func isPrintableIdentifier(_ text: String) -> Bool {
        guard !text.isEmpty, text.count <= 64 else { return false }
        return text.unicodeScalars.allSatisfy { scalar in
            switch scalar.properties.generalCategory {
            case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator: false
            default: true
            }
        }
    }
}

/// What a charge or refund gave: the PAYMENT event, and whether it is the stored answer
/// to an earlier request with the same `txn` (a retry: nothing more was charged, and
/// the event was published when it was first stored).
public struct PaymentOutcome: Sendable, Equatable {
    /// The PAYMENT event (its `seq` nil only when even an `unavailable` answer could not
    /// be stored).
    public var event: StoredEvent
    /// True when `event` was stored by an earlier request.
    public var isRetry: Bool

    /// - Parameters: see the properties.
    public init(event: StoredEvent, isRetry: Bool) {
        self.event = event
        self.isRetry = isRetry
    }
}

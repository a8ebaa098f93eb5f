// ProtocolMapping: the one place the store's values become the protocol's messages, for
// the daemon (socket lines) and necctl (`--json`) alike. NECProtocol encodes them.
public import Entitlements
public import NECProtocol
import NECCard

extension StoredEvent {
    /// The event as a client reads it: one encoded line, with its `\n`. Replay and live
    /// delivery send these same bytes.
    public var protocolLine: [UInt8] {
        switch eventClass {
        case .voided: MessageCoding.line(VoidedEvent(self))
        case .tap, .identify, .lookup: MessageCoding.line(TapEvent(self))
        case .payment: MessageCoding.line(PaymentEvent(self))
        }
    }
}

extension TapEvent {
    /// A decided tap as its `TAP` or `IDENTIFY` line says it.
    /// - Parameter event: a stored decision (not a void).
    public init(_ event: StoredEvent) {
        self.init(
            messageClass: MessageClass(event.eventClass.rawValue), seq: event.seq,
            time: UTCTimestamp.string(millis: event.timeMillis), reader: event.reader, lane: event.lane,
            method: event.method.map { TapMethod(rawValue: $0.rawValue) },
            card: CardInfo(event.card), decision: NECProtocol.Decision(event.verdict.decision))
        carry(event.verdict)
    }
}

extension PaymentEvent {
    /// A charge or refund as its `PAYMENT` line says it.
    /// - Parameter event: a stored payment (`payment` set).
    public init(_ event: StoredEvent) {
        let payment = event.payment ?? PaymentFields(txn: "", kind: .charge, amount: 0)
        self.init(
            seq: event.seq, time: UTCTimestamp.string(millis: event.timeMillis), lane: event.lane, txn: payment.txn,
            pupil: event.verdict.pupil ?? "", kind: PaymentKind(rawValue: payment.kind.rawValue), amount: payment.amount,
            decision: NECProtocol.Decision(event.verdict.decision),
            reason: event.verdict.reason.map(NECProtocol.DeclineReason.init),
            spentToday: payment.spentToday, remainingToday: payment.remainingToday, balance: payment.balance,
            listStale: event.verdict.listStale ? true : nil)
    }
}

extension VoidedEvent {
    /// A void as its `VOIDED` line says it.
    /// - Parameter event: a stored void (``StoredEvent/voiding(_:pupil:lane:timeMillis:)``).
    public init(_ event: StoredEvent) {
        self.init(
            seq: event.seq, time: UTCTimestamp.string(millis: event.timeMillis), voided: event.voided,
            pupil: event.verdict.pupil, lane: event.lane)
    }
}

extension LookupMessage {
    /// The answer to a lookup, for the socket's `LOOKUP` and `necctl lookup --json` alike.
    /// - Parameter result: what the store decided.
    public init(_ result: LookupResult) {
        self.init(card: CardInfo(result.card), decision: NECProtocol.Decision(result.verdict.decision))
        carry(result.verdict)
    }
}

/// A message that carries a verdict's fields (`TAP`, `IDENTIFY`, `LOOKUP`).
private protocol VerdictCarrying {
    var decision: NECProtocol.Decision { get set }
    var kind: NECProtocol.AuthorisationKind? { get set }
    var reason: NECProtocol.DeclineReason? { get set }
    var pupil: String? { get set }
    var dailyLimit: Int? { get set }
    var allergens: [String]? { get set }
    var message: String? { get set }
    var listStale: Bool? { get set }
}

extension TapEvent: VerdictCarrying {}
extension LookupMessage: VerdictCarrying {}

extension VerdictCarrying {
    /// Sets the verdict's fields as the protocol carries them: absent rather than empty or false.
    mutating func carry(_ verdict: Verdict) {
        decision = NECProtocol.Decision(verdict.decision)
        kind = verdict.kind.map(NECProtocol.AuthorisationKind.init)
        reason = verdict.reason.map(NECProtocol.DeclineReason.init)
        pupil = verdict.pupil
        allergens = verdict.allergens.flatMap { $0.isEmpty ? nil : $0 }
        message = verdict.message
        dailyLimit = verdict.dailyLimit
        listStale = verdict.listStale ? true : nil
    }
}

extension CardInfo {
    /// The `card` object of what was read (`media` always present).
    /// - Parameter card: the store's card fields.
    public init(_ card: CardFields) {
        self.init(
            isrn: card.isrn, uid: card.uid, media: MediaType(rawValue: card.media.rawValue),
            expiry: card.expiry?.description)
    }
}

extension NECProtocol.Decision {
    /// The wire spelling of the store's decision.
    public init(_ decision: Verdict.Decision) { self.init(rawValue: decision.rawValue) }
}

extension NECProtocol.AuthorisationKind {
    /// The wire spelling of the store's kind.
    public init(_ kind: Verdict.AuthorisationKind) { self.init(rawValue: kind.rawValue) }
}

extension NECProtocol.DeclineReason {
    /// The wire spelling of the store's reason.
    public init(_ reason: Verdict.DeclineReason) { self.init(rawValue: reason.rawValue) }
}

extension NECProtocol.ReaderRole {
    /// The wire spelling of a configured reader role.
    public init(_ role: EntitlementStore.ReaderRole) { self.init(rawValue: role.rawValue) }
}

extension ReaderStatus {
    /// The wire spelling of what a reader holds.
    public init(_ presence: ReaderPresence) { self.init(rawValue: presence.rawValue) }
}

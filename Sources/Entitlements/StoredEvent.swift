public import Foundation
public import NECCard

/// `class` of a decision object.
public enum EventClass: String, Sendable, Codable, CaseIterable {
    /// A tap on a till.
    case tap = "TAP"
    /// A tap on a kiosk: evaluated, never redeemed.
    case identify = "IDENTIFY"
    /// An answer to a lookup: evaluated, never redeemed, never stored.
    case lookup = "LOOKUP"
    /// A till voided the lunch of an earlier event (`voided`); stored and replayed like a tap.
    case voided = "VOIDED"
    /// A charge or a refund (`payment` holds its fields); stored and replayed like a tap.
    case payment = "PAYMENT"
}

/// `method` of a TAP or IDENTIFY: how the pupil was identified.
public enum ServiceMethod: String, Sendable, Codable, CaseIterable {
    /// A card was read.
    case card
    /// The till picked the pupil by hand (`redeem`): no card.
    case manual
}

/// The fields of a PAYMENT event beyond its decision and pupil.
public struct PaymentFields: Sendable, Equatable {
    /// `kind` of a PAYMENT event.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// The till took `amount` from the pupil's account.
        case charge
        /// The till gave back the amount of an earlier charge (the same `txn`).
        case refund
    }

    /// The till's own transaction id.
    public var txn: String
    /// Charge or refund.
    public var kind: Kind
    /// Pence.
    public var amount: Int
    /// The pupil's authorised charges less refunds today (local date), after this event;
    /// nil when the pupil is not known.
    public var spentToday: Int?
    /// `daily_limit` less `spentToday`, never below 0; only with a daily limit.
    public var remainingToday: Int?
    /// The list's `balance` less the charges and plus the refunds since the list was
    /// imported, after this event; only when the list gives a balance.
    public var balance: Int?

    /// - Parameters: the fields, see the properties.
    public init(
        txn: String, kind: Kind, amount: Int, spentToday: Int? = nil, remainingToday: Int? = nil, balance: Int? = nil
    ) {
        self.txn = txn
        self.kind = kind
        self.amount = amount
        self.spentToday = spentToday
        self.remainingToday = remainingToday
        self.balance = balance
    }
}

/// The `card` object: what was read from the card (or typed, for a lookup).
public struct CardFields: Sendable, Equatable {
    /// The 18 ISRN digits, when known (even when the card is not on the list).
    public var isrn: String?
    /// The chip UID in upper-case hex, when known.
    public var uid: String?
    /// The chip family.
    public var media: Media
    /// The ITSO expiry date, when read.
    public var expiry: CivilDate?

    /// - Parameters: the `card` object's fields.
    public init(isrn: String? = nil, uid: String? = nil, media: Media = .unknown, expiry: CivilDate? = nil) {
        self.isrn = isrn
        self.uid = uid
        self.media = media
        self.expiry = expiry
    }

    /// The fields of a card as read.
    public init(_ identity: CardIdentity) {
        // A random ID is not the card's: the event carries no UID for it.
        self.init(isrn: identity.isrn?.digits, uid: identity.identifyingUIDHex, media: identity.media, expiry: identity.expiry)
    }
}

/// One event as stored in the journal and sent to clients: a decision (TAP, IDENTIFY),
/// or a void (VOIDED: `voided`, the pupil and the lane; no reader, card or decision).
public struct StoredEvent: Sendable, Equatable {
    /// Strictly increasing journal number; nil only when even the `unavailable` event
    /// could not be stored (the store is failing): such an event is not replayable.
    public var seq: Int64?
    /// Milliseconds since 1970-01-01 UTC.
    public var timeMillis: Int64
    /// `class`: TAP at a till, IDENTIFY at a kiosk.
    public var eventClass: EventClass
    /// The PC/SC reader name.
    public var reader: String
    /// The configured lane label, if any.
    public var lane: String?
    /// What was read from the card.
    public var card: CardFields
    /// The outcome of the rules.
    public var verdict: Verdict
    /// For VOIDED: the `seq` of the event whose lunch was voided.
    public var voided: Int64?
    /// For TAP and IDENTIFY: a card read, or a pupil picked by hand (then `card` is empty
    /// and `reader` is ""); nil for the other classes.
    public var method: ServiceMethod?
    /// For a manual TAP and a PAYMENT: the uid of the process that asked (the socket
    /// peer's), when known.
    public var peerUID: UInt32?
    /// For PAYMENT: the charge or refund.
    public var payment: PaymentFields?

    /// - Parameters: the event's fields, see the properties. `method` defaults to `card`
    ///   for TAP and IDENTIFY and nil otherwise.
    public init(
        seq: Int64?, timeMillis: Int64, eventClass: EventClass, reader: String, lane: String?,
        card: CardFields, verdict: Verdict, voided: Int64? = nil, method: ServiceMethod? = nil,
        peerUID: UInt32? = nil, payment: PaymentFields? = nil
    ) {
        self.method = method ?? (eventClass == .tap || eventClass == .identify ? .card : nil)
        self.peerUID = peerUID
        self.payment = payment
        self.seq = seq
        self.timeMillis = timeMillis
        self.eventClass = eventClass
        self.reader = reader
        self.lane = lane
        self.card = card
        self.verdict = verdict
        self.voided = voided
    }

    /// A VOIDED event: the lunch of event `voided`, the pupil's, released at `timeMillis`.
    /// - Parameters:
    ///   - voided: the voided event's `seq`.
    ///   - pupil: the pupil whose lunch it was.
    ///   - lane: the voided event's lane.
    ///   - timeMillis: when it was voided.
    public static func voiding(_ voided: Int64, pupil: String, lane: String?, timeMillis: Int64) -> StoredEvent {
        StoredEvent(
            seq: nil, timeMillis: timeMillis, eventClass: .voided, reader: "", lane: lane, card: CardFields(),
            verdict: Verdict(decision: .authorised, pupil: pupil), voided: voided)
    }

    /// The event's time (millisecond precision).
    public var time: Date { Date(timeIntervalSince1970: Double(timeMillis) / 1000) }
    /// `decision`.
    public var decision: Verdict.Decision { verdict.decision }
    /// `kind`, when authorised.
    public var kind: Verdict.AuthorisationKind? { verdict.kind }
    /// `reason`, when declined.
    public var reason: Verdict.DeclineReason? { verdict.reason }
    /// `pupil`, when the list names one.
    public var pupil: String? { verdict.pupil }
    /// `allergens`.
    public var allergens: [String]? { verdict.allergens }
    /// `message`.
    public var message: String? { verdict.message }
    /// `daily_limit`.
    public var dailyLimit: Int? { verdict.dailyLimit }
    /// `list_stale`.
    public var listStale: Bool { verdict.listStale }
}

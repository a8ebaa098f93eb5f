public import Foundation
public import NECCard

/// `decision` of an event: the till serves the pupil or not.
public enum Decision: String, Sendable, Codable, CaseIterable {
    /// Serve the pupil (`kind` says as what).
    case authorised
    /// Do not serve (`reason` says why).
    case declined
}

/// `kind` of an authorised decision.
public enum AuthorisationKind: String, Sendable, Codable, CaseIterable {
    /// A free school meal, redeemed by this tap (at a till).
    case lunch
    /// The pupil may pay from their account.
    case payment
}

/// `reason` of a declined decision; the raw values are the protocol's reason codes.
public enum DeclineReason: String, Sendable, Codable, CaseIterable {
    /// Rule 1: no usable ISRN or UID, or an integrity check failed.
    case unreadable
    /// Rule 2: the ITSO expiry date has passed.
    case cardExpired = "card_expired"
    /// Rule 3: neither the ISRN nor the UID is on the list.
    case unknownCard = "unknown_card"
    /// Rule 4: the row is hotlisted (lost, stolen, replaced).
    case hotlisted
    /// Rule 5: today is outside the row's validity window.
    case notEntitled = "not_entitled"
    /// Rule 8: the pupil has had today's lunch and may not pay.
    case alreadyRedeemed = "already_redeemed"
    /// The store could not record the decision: nothing is authorised.
    case unavailable
    /// The list is older than `max_list_age` and `stale_list_policy = "decline"`.
    case listStale = "list_stale"
    /// `require_signed_lists` is on and the list in force is unsigned, or signed by a key
    /// not in `trusted_list_keys` (protocol minor version 1).
    case listUntrusted = "list_untrusted"
}

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
        self.init(isrn: identity.isrn?.digits, uid: identity.uidHex, media: identity.media, expiry: identity.expiry)
    }
}

/// The outcome of the decision rules: everything in an event that is not about when,
/// where, or which card.
public struct Verdict: Sendable, Equatable {
    /// Authorised or declined.
    public var decision: Decision
    /// Set when authorised.
    public var kind: AuthorisationKind?
    /// Set when declined.
    public var reason: DeclineReason?
    /// The list's pupil reference, when the list names one.
    public var pupil: String?
    /// The row's allergens (FSA names), nil when none.
    public var allergens: [String]?
    /// The row's note for the till.
    public var message: String?
    /// Pence a `paid` pupil may spend a day, on `payment` decisions when known.
    public var dailyLimit: Int?
    /// The list in force is older than `max_list_age` (or there is none).
    public var listStale: Bool

    /// - Parameters: the verdict's fields, see the properties.
    public init(
        decision: Decision, kind: AuthorisationKind? = nil, reason: DeclineReason? = nil,
        pupil: String? = nil, allergens: [String]? = nil, message: String? = nil,
        dailyLimit: Int? = nil, listStale: Bool = false
    ) {
        self.decision = decision
        self.kind = kind
        self.reason = reason
        self.pupil = pupil
        self.allergens = allergens
        self.message = message
        self.dailyLimit = dailyLimit
        self.listStale = listStale
    }

    /// A declined verdict with only a reason.
    public static func declined(_ reason: DeclineReason, listStale: Bool = false) -> Verdict {
        Verdict(decision: .declined, reason: reason, listStale: listStale)
    }

    /// True when this verdict hands out a free lunch.
    public var isLunch: Bool { decision == .authorised && kind == .lunch }
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

    /// - Parameters: the event's fields, see the properties.
    public init(
        seq: Int64?, timeMillis: Int64, eventClass: EventClass, reader: String, lane: String?,
        card: CardFields, verdict: Verdict, voided: Int64? = nil
    ) {
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
    public var decision: Decision { verdict.decision }
    /// `kind`, when authorised.
    public var kind: AuthorisationKind? { verdict.kind }
    /// `reason`, when declined.
    public var reason: DeclineReason? { verdict.reason }
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

    /// The protocol's JSON object, without the trailing newline. Deterministic: replay
    /// and live delivery send the same bytes.
    public func jsonLine() -> String {
        var json = JSONObjectWriter()
        json.string("class", eventClass.rawValue)
        if let seq { json.integer("seq", seq) }
        json.string("time", UTCTimestamp.string(millis: timeMillis))
        if eventClass == .voided {
            if let voided { json.integer("voided", voided) }
            if let pupil = verdict.pupil { json.string("pupil", pupil) }
            if let lane { json.string("lane", lane) }
            return json.finish()
        }
        json.string("reader", reader)
        if let lane { json.string("lane", lane) }
        json.card(card)
        json.verdict(verdict)
        return json.finish()
    }
}

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

    /// The protocol's LOOKUP object, without the trailing newline.
    public func jsonLine() -> String {
        var json = JSONObjectWriter()
        json.string("class", EventClass.lookup.rawValue)
        json.card(card)
        json.verdict(verdict)
        return json.finish()
    }
}

/// The list in force, as `necctl list status` and the daemon's STATUS report it.
public struct ListStatus: Sendable, Equatable {
    /// Changes whenever another list is put in force (import or rollback).
    public var generation: Int64
    /// Rows in the list.
    public var rows: Int
    /// When it was imported.
    public var importedAt: Date
    /// The file name the list was imported from.
    public var file: String
    /// SHA-256 of the file's bytes, lower-case hex.
    public var sha256: String
    /// The base64 public key whose signature was verified, nil for an unsigned list.
    public var signer: String?
    /// True when a previous list is kept for `necctl list rollback`.
    public var previousAvailable: Bool

    /// - Parameters: the status fields, see the properties.
    public init(
        generation: Int64, rows: Int, importedAt: Date, file: String, sha256: String, signer: String?,
        previousAvailable: Bool
    ) {
        self.generation = generation
        self.rows = rows
        self.importedAt = importedAt
        self.file = file
        self.sha256 = sha256
        self.signer = signer
        self.previousAvailable = previousAvailable
    }

    /// Seconds since the import at `now`.
    public func age(at now: Date = Date()) -> TimeInterval { now.timeIntervalSince(importedAt) }

    /// True when the list is older than the policy's `max_list_age` at `now`.
    public func isStale(at now: Date = Date(), policy: DecisionPolicy) -> Bool {
        age(at: now) > Double(policy.maxListAge) * 86_400
    }
}

/// What `void(seq:)` did.
public enum VoidOutcome: Sendable, Equatable {
    /// The lunch of event `seq` was released (the pupil may have another today), and
    /// this VOIDED event journalled.
    case released(voided: StoredEvent)
    /// Event `seq` exists but holds no lunch redemption (not a lunch, or already voided).
    case nothingToRelease
    /// No event has that `seq` (never written, or pruned).
    case unknownSeq
    /// Event `seq` is the lunch of an earlier day (local date): only today's can be voided.
    case notToday(lunchDay: CivilDate)
}

/// The journal could not be written now: another connection held the write lock for
/// longer than a tap may wait (``EntitlementStore/tapBusyTimeout``), or the disk failed.
/// Nothing was changed; trying again later may succeed.
public struct JournalUnavailable: Error, Sendable, CustomStringConvertible {
    /// What SQLite said, for the log.
    public var reason: String
    /// - Parameter reason: what SQLite said.
    public init(reason: String) { self.reason = reason }
    /// A message for the log.
    public var description: String { "the journal cannot be written now: \(reason)" }
}

import NECCard

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

// The store's own vocabulary, closed so the rules switch over it exhaustively. The
// protocol's (NECProtocol) is open; ProtocolMapping maps one to the other.
extension Verdict {
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
        /// Manual service or a charge for a pupil on no row of the list (protocol minor version 1).
        case unknownPupil = "unknown_pupil"
        /// Rule 6 outside every `lunch` service window, for a pupil who may not pay instead.
        case outsideService = "outside_service"
        /// A charge that would take the day's spending past the pupil's `daily_limit`.
        case overDailyLimit = "over_daily_limit"
        /// A charge larger than the pupil's balance.
        case insufficientFunds = "insufficient_funds"
        /// After rule 1: the card's ITSO Directory marks it blocked, read because
        /// `check_card_blocked` is on (protocol minor version 1).
        case cardBlocked = "card_blocked"
    }
}

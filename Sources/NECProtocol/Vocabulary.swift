/// The `class` tag every object the daemon sends carries.
///
/// An open set: a newer daemon (a higher minor version) may send classes this
/// version does not name, and clients skip them.
public struct MessageClass: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
    /// The tag as it appears on the wire.
    public var rawValue: String
    /// Creates a tag from its wire spelling.
    /// - Parameter rawValue: the tag, e.g. `"TAP"`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Creates a tag from its wire spelling.
    /// - Parameter rawValue: the tag, e.g. `"TAP"`.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    /// Decodes the tag as a plain JSON string.
    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(String.self)
    }
    /// Encodes the tag as a plain JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    /// The wire spelling.
    public var description: String { rawValue }

    /// The banner sent on connect.
    public static let version = MessageClass("VERSION")
    /// The answer to `watch`.
    public static let watch = MessageClass("WATCH")
    /// The answer to `readers`.
    public static let readers = MessageClass("READERS")
    /// The answer to `status`.
    public static let status = MessageClass("STATUS")
    /// The answer to `lookup`.
    public static let lookup = MessageClass("LOOKUP")
    /// The answer to `void`.
    public static let void = MessageClass("VOID")
    /// A refused request, or a notice that the daemon is closing the connection.
    public static let error = MessageClass("ERROR")
    /// A tap on a till reader: a decision, possibly a redeemed lunch.
    public static let tap = MessageClass("TAP")
    /// A tap on a kiosk reader: the same decision, never redeemed.
    public static let identify = MessageClass("IDENTIFY")
    /// A reader appeared, changed state or went away.
    public static let reader = MessageClass("READER")
    /// A till voided an earlier lunch (`voided` names its event); stored and replayed (minor version 1).
    public static let voided = MessageClass("VOIDED")
    /// A charge or a refund, decided and stored; the answer to `charge` and `refund`, and an
    /// event every watcher gets (minor version 1).
    public static let payment = MessageClass("PAYMENT")
}

/// Declares an open string vocabulary: known values as constants, unknown ones kept.
///
/// A newer daemon may add values (a reason, a media type); decoding must not fail on them.
public protocol OpenVocabulary: RawRepresentable<String>, Codable, Hashable, Sendable, CustomStringConvertible {
    /// Creates a value from its wire spelling.
    init(rawValue: String)
}

extension OpenVocabulary {
    /// Decodes the value as a plain JSON string.
    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }
    /// Encodes the value as a plain JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    /// The wire spelling.
    public var description: String { rawValue }
}

/// Whether a tap was authorised or declined.
public struct Decision: OpenVocabulary {
    /// The wire spelling.
    public var rawValue: String
    /// Creates a value from its wire spelling.
    /// - Parameter rawValue: e.g. `"authorised"`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The pupil may have what the `kind` says.
    public static let authorised = Decision(rawValue: "authorised")
    /// The pupil may not; `reason` says why.
    public static let declined = Decision(rawValue: "declined")
}

/// What an authorised tap allows.
public struct AuthorisationKind: OpenVocabulary {
    /// The wire spelling.
    public var rawValue: String
    /// Creates a value from its wire spelling.
    /// - Parameter rawValue: e.g. `"lunch"`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// A free school meal, redeemed (on a till) for today.
    public static let lunch = AuthorisationKind(rawValue: "lunch")
    /// The pupil may pay from their account.
    public static let payment = AuthorisationKind(rawValue: "payment")
}

/// Why a tap was declined.
public struct DeclineReason: OpenVocabulary {
    /// The wire spelling.
    public var rawValue: String
    /// Creates a value from its wire spelling.
    /// - Parameter rawValue: e.g. `"hotlisted"`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// No ISRN and no usable UID, bad Luhn, bad SECRC, or a random UID without an ISRN.
    public static let unreadable = DeclineReason(rawValue: "unreadable")
    /// The card's ITSO expiry date has passed.
    public static let cardExpired = DeclineReason(rawValue: "card_expired")
    /// Neither the ISRN nor the UID is on the list.
    public static let unknownCard = DeclineReason(rawValue: "unknown_card")
    /// The card is reported lost, stolen or replaced.
    public static let hotlisted = DeclineReason(rawValue: "hotlisted")
    /// Today is outside the row's validity.
    public static let notEntitled = DeclineReason(rawValue: "not_entitled")
    /// The pupil has had today's lunch and may not pay.
    public static let alreadyRedeemed = DeclineReason(rawValue: "already_redeemed")
    /// The state store could not record a redemption.
    public static let unavailable = DeclineReason(rawValue: "unavailable")
    /// The list is too old and the policy is to decline.
    public static let listStale = DeclineReason(rawValue: "list_stale")
    /// Signed lists are required and the list in force is not signed by a trusted key (minor version 1).
    public static let listUntrusted = DeclineReason(rawValue: "list_untrusted")
    /// A `redeem` or `charge` named a pupil on no row of the list (minor version 1).
    public static let unknownPupil = DeclineReason(rawValue: "unknown_pupil")
    /// A lunch asked for outside every lunch service window (minor version 1).
    public static let outsideService = DeclineReason(rawValue: "outside_service")
    /// A charge would take the day's spending past `daily_limit` (minor version 1).
    public static let overDailyLimit = DeclineReason(rawValue: "over_daily_limit")
    /// A charge is more than the pupil's `balance` (minor version 1).
    public static let insufficientFunds = DeclineReason(rawValue: "insufficient_funds")
    /// The card's ITSO directory says it is blocked, and the daemon checks it (minor version 1).
    public static let cardBlocked = DeclineReason(rawValue: "card_blocked")
}

/// How a `TAP` or `IDENTIFY` came about (minor version 1).
public struct TapMethod: OpenVocabulary {
    /// The wire spelling.
    public var rawValue: String
    /// Creates a value from its wire spelling.
    /// - Parameter rawValue: e.g. `"card"`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// A card was read on a reader.
    public static let card = TapMethod(rawValue: "card")
    /// A till picked the pupil by hand (`redeem`): no reader, no card.
    public static let manual = TapMethod(rawValue: "manual")
}

/// What a `PAYMENT` event moves (minor version 1).
public struct PaymentKind: OpenVocabulary {
    /// The wire spelling.
    public var rawValue: String
    /// Creates a value from its wire spelling.
    /// - Parameter rawValue: e.g. `"charge"`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Money taken from the pupil's account.
    public static let charge = PaymentKind(rawValue: "charge")
    /// An earlier charge given back, whole.
    public static let refund = PaymentKind(rawValue: "refund")
}

/// The kind of chip a card carries.
public struct MediaType: OpenVocabulary {
    /// The wire spelling.
    public var rawValue: String
    /// Creates a value from its wire spelling.
    /// - Parameter rawValue: e.g. `"desfire"`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// MIFARE DESFire.
    public static let desfire = MediaType(rawValue: "desfire")
    /// An ISO 7816 (contact or contactless) smart card application.
    public static let iso7816 = MediaType(rawValue: "iso7816")
    /// MIFARE Classic.
    public static let classic = MediaType(rawValue: "classic")
    /// MIFARE Ultralight.
    public static let ultralight = MediaType(rawValue: "ultralight")
    /// Not recognised.
    public static let unknown = MediaType(rawValue: "unknown")
}

/// What a reader holds, as far as pcscd knows: the `state` of `READERS` entries and `READER` events.
public struct ReaderStatus: OpenVocabulary {
    /// The wire spelling.
    public var rawValue: String
    /// Creates a value from its wire spelling.
    /// - Parameter rawValue: e.g. `"present"`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// No card on the reader.
    public static let empty = ReaderStatus(rawValue: "empty")
    /// A card is on the reader.
    public static let present = ReaderStatus(rawValue: "present")
    /// The reader is gone or not usable.
    public static let unavailable = ReaderStatus(rawValue: "unavailable")
}

/// How the daemon treats taps on a reader.
public struct ReaderRole: OpenVocabulary {
    /// The wire spelling.
    public var rawValue: String
    /// Creates a value from its wire spelling.
    /// - Parameter rawValue: e.g. `"till"`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Taps are decided and may redeem a lunch (`TAP`).
    public static let till = ReaderRole(rawValue: "till")
    /// Taps are decided but never redeem (`IDENTIFY`).
    public static let kiosk = ReaderRole(rawValue: "kiosk")
}

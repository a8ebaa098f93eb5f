public import NECCard

/// `entitlement` of a list row.
public struct Entitlement: OptionSet, Sendable, Hashable {
    /// The bits: 1 fsm, 2 paid.
    public let rawValue: Int
    /// - Parameter rawValue: the bit set as stored (1 fsm, 2 paid).
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// `fsm`: a free school meal a day.
    public static let fsm = Entitlement(rawValue: 1)
    /// `paid`: may pay from the account.
    public static let paid = Entitlement(rawValue: 2)

    /// Parses `fsm`, `paid` or `fsm+paid`.
    public init?(listValue: some StringProtocol) {
        switch listValue {
        case "fsm": self = .fsm
        case "paid": self = .paid
        case "fsm+paid": self = [.fsm, .paid]
        default: return nil
        }
    }
}

/// One row of the entitlement list, as the decision rules see it.
public struct ListRow: Sendable, Equatable {
    /// An ISRN's 18 digits, or a UID in upper-case hex.
    public var card: String
    /// The opaque pupil reference.
    public var pupil: String
    /// `fsm`, `paid` or both.
    public var entitlement: Entitlement
    /// `status = hotlisted`.
    public var hotlisted: Bool
    /// First day of entitlement, inclusive.
    public var validFrom: CivilDate?
    /// Last day of entitlement, inclusive.
    public var validUntil: CivilDate?
    /// Pence a `paid` pupil may spend a day.
    public var dailyLimit: Int?
    /// FSA allergen names, lower case.
    public var allergens: [String]
    /// The note the till must show.
    public var message: String?
    /// Pence the pupil's account held when the list was exported (`balance`), when given.
    public var balance: Int?

    /// - Parameters: the row's columns, see the properties.
    public init(
        card: String, pupil: String, entitlement: Entitlement, hotlisted: Bool = false,
        validFrom: CivilDate? = nil, validUntil: CivilDate? = nil, dailyLimit: Int? = nil,
        allergens: [String] = [], message: String? = nil, balance: Int? = nil
    ) {
        self.card = card
        self.pupil = pupil
        self.entitlement = entitlement
        self.hotlisted = hotlisted
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.dailyLimit = dailyLimit
        self.allergens = allergens
        self.message = message
        self.balance = balance
    }
}

/// What kind of chip a card is, as far as reading it told us.
public enum Media: String, Sendable, Codable, CaseIterable {
    /// MIFARE DESFire (EV1/EV2/EV3), ITSO as DESFire application `A0 02 16`.
    case desfire
    /// An ISO 7816 microprocessor card with the ITSO CMD2 application (`ITSO-1`).
    case iso7816
    /// MIFARE Classic: UID only, its ITSO sectors need keys this project does not have.
    case classic
    /// MIFARE Ultralight family.
    case ultralight
    /// Anything else.
    case unknown
}

/// One check made while reading a card, passed or failed, with the reason when failed
/// (or a note when passed), for technicians and for the decision's `unreadable` rule.
public struct Check: Sendable, Equatable, Hashable, Codable {
    /// A stable, searchable name: `uid`, `itso_application`, `shell_length`, `iin`,
    /// `bcd`, `geometry`, `secrc`, `luhn`, `expiry`, ...
    public let name: String
    public let ok: Bool
    /// Why it failed, or what was found; nil when there is nothing to add.
    public let reason: String?

    /// - Parameters:
    ///   - name: the check's stable name.
    ///   - ok: whether it passed.
    ///   - reason: the explanation, if any.
    public init(_ name: String, ok: Bool, reason: String? = nil) {
        self.name = name
        self.ok = ok
        self.reason = reason
    }
}

/// What became of the ITSO Directory on one read.
public enum DirectoryReading: Sendable, Equatable {
    /// The reader was not asked to read it (the default tap: 3 APDUs on DESFire).
    case notRead
    /// The card has no ITSO Directory to read (no full shell: UID-only, compact shell,
    /// MIFARE Classic, a shell that failed its checks).
    case absent
    /// Read and decoded; `location` says where (`DESFire file 0x00`, `CMD2 sector 15`).
    case read(ITSODirectory, location: String)
    /// Asked for, and it could not be read or decoded: why.
    case failed(String)
}

/// Everything read from one card on one tap.
public struct CardIdentity: Sendable, Equatable {
    /// The ATR the reader reported.
    public var atr: [UInt8]
    public var media: Media
    /// The chip UID from GET DATA (`FF CA 00 00 00`), when the reader gave one.
    public var uid: [UInt8]?
    /// True for a random ID (4 bytes starting `08`): never an identity.
    public var uidRandom: Bool
    /// The ISRN from the ITSO shell, when one was read. Present even when its Luhn check
    /// failed (see `checks`), so a technician sees what the card holds.
    public var isrn: ISRN?
    /// The ITSO shell's expiry date, when read. Nil also for a card whose shell says it
    /// has no expiry (`noExpiry`).
    public var expiry: CivilDate?
    /// True when the shell was read and stores expiry day 0: the card never expires, so
    /// the expiry rule does not apply to it.
    public var noExpiry: Bool
    /// The media class reference number, when the shell carries one.
    public var mcrn: String?
    /// Every check made, in the order made.
    public var checks: [Check]
    /// How many APDUs were sent to read this identity.
    public var apduCount: Int
    /// What reading the ITSO Directory gave, when the reader was asked to read it.
    public var directory: DirectoryReading = .notRead

    /// - Parameters: every field of the identity, see the properties.
    public init(
        atr: [UInt8] = [], media: Media = .unknown, uid: [UInt8]? = nil, uidRandom: Bool = false,
        isrn: ISRN? = nil, expiry: CivilDate? = nil, mcrn: String? = nil, checks: [Check] = [],
        apduCount: Int = 0, noExpiry: Bool = false
    ) {
        self.atr = atr
        self.media = media
        self.uid = uid
        self.uidRandom = uidRandom
        self.isrn = isrn
        self.expiry = expiry
        self.noExpiry = noExpiry
        self.mcrn = mcrn
        self.checks = checks
        self.apduCount = apduCount
    }

    /// The Directory's card-blocked bit, when the Directory was read and decoded; nil
    /// when it was not asked for, the card has none, or it could not be read.
    public var cardBlocked: Bool? {
        if case .read(let directory, _) = self.directory { return directory.isBlocked }
        return nil
    }

    /// The UID in upper-case hex, or nil.
    public var uidHex: String? { uid.map { Hex.string($0) } }

    /// The UID in hex when it may identify the card: nil for a random ID (new on every
    /// tap), which is never looked up, stored or sent as the card's UID.
    public var identifyingUIDHex: String? { uidRandom ? nil : uidHex }

    /// The first failed check, if any.
    public var firstFailure: Check? { checks.first { !$0.ok } }

    /// Why this card cannot be used for a decision (rule 1 of the product contract:
    /// no ISRN and no usable UID, bad Luhn, bad SECRC, random UID without an ISRN),
    /// or nil when it can. Checks that only describe the card (an absent ITSO
    /// application on a UID-only card) are not failures; decoders record only real
    /// integrity failures as failed checks.
    public var unreadableReason: String? {
        if let failed = firstFailure {
            return failed.reason ?? "check \(failed.name) failed"
        }
        if isrn != nil { return nil }
        guard let uid, !uid.isEmpty else { return "no ISRN and no UID" }
        if uidRandom { return "random UID and no ISRN" }
        return nil
    }

    /// True when the identity may be looked up and decided on.
    public var isReadable: Bool { unreadableReason == nil }
}

/// One line of `necctl scan --json`: what one card on one reader gave, as read (no
/// decision). Keys in alphabetical order, nested ones too. Not sent on the socket.
public struct ScanReport: Codable, Hashable, Sendable {
    /// One integrity check of the card's data.
    public struct Check: Codable, Hashable, Sendable {
        /// The check's name, e.g. `isrn_luhn`.
        public var name: String
        /// Whether it passed.
        public var ok: Bool
        /// Why it failed, when it did.
        public var reason: String?

        /// Creates a check line.
        /// - Parameters: the line's keys, see the properties.
        public init(name: String, ok: Bool, reason: String?) {
            (self.name, self.ok, self.reason) = (name, ok, reason)
        }
    }

    /// One command sent to the card and what came back (`--trace`).
    public struct Exchange: Codable, Hashable, Sendable {
        /// The command APDU, hex.
        public var command: String
        /// What pcscd said when the exchange failed.
        public var error: String?
        /// The command in words.
        public var meaning: String
        /// How long it took, in milliseconds.
        public var ms: Double
        /// The response APDU, hex, when one came.
        public var response: String?

        /// Creates an exchange line.
        /// - Parameters: the line's keys, see the properties.
        public init(command: String, response: String?, error: String?, ms: Double, meaning: String) {
            (self.command, self.response, self.error) = (command, response, error)
            (self.ms, self.meaning) = (ms, meaning)
        }
    }

    /// Commands sent to the card.
    public var apdus: Int
    /// The card's ATR, hex.
    public var atr: String
    /// What the ATR says, in words.
    public var atrMeaning: String
    /// The ITSO Directory's card-blocked bit; absent when the card has no ITSO Directory
    /// or it could not be read (then `directory_error` says why).
    public var cardBlocked: Bool?
    /// The integrity checks, when the card was read.
    public var checks: [Check]?
    /// Where the ITSO Directory was read from, e.g. `DESFire file 0x00`, `CMD2 sector 15`.
    public var directory: String?
    /// Why the ITSO Directory could not be read or decoded, when the card has a shell.
    public var directoryError: String?
    /// The Directory's sequence number DIRS# (0-255).
    public var directorySequence: Int?
    /// Why the card could not be read, when it could not.
    public var error: String?
    /// Whether the ITSO expiry date has passed (false for a card with no expiry).
    public var expired: Bool?
    /// The ITSO expiry date, `YYYY-MM-DD`.
    public var expiry: String?
    /// INS#, the shell iteration number, from the Directory's InstanceID when it has one.
    public var ins: Int?
    /// The 18-digit ISRN.
    public var isrn: String?
    /// The ISRN as printed on the card, in groups.
    public var isrnGrouped: String?
    /// The ISRN's ISSN part.
    public var issn: String?
    /// Why the card's ITSO data was not read at all (MIFARE Classic: its sectors need keys).
    public var itsoNotRead: String?
    /// The card's MCRN, when it has one.
    public var mcrn: String?
    /// The kind of chip.
    public var media: String?
    /// True when the shell stores expiry day 0 (no expiry); absent otherwise.
    public var noExpiry: Bool?
    /// The ISRN's operator id.
    public var oid: String?
    /// How long the read took, in milliseconds.
    public var readMs: Double
    /// Whether the decision rules could use what was read.
    public var readable: Bool?
    /// The pcscd reader name.
    public var reader: String
    /// When the card was read, RFC 3339 UTC with milliseconds.
    public var time: String
    /// Every exchange with the card, with `--trace`.
    public var trace: [Exchange]?
    /// The chip UID, hex.
    public var uid: String?
    /// Whether the UID is a random one (changes every tap).
    public var uidRandom: Bool?
    /// Why the card is unreadable to the decision rules, when it is.
    public var unreadableReason: String?

    /// Creates a report with what every read has; the rest is set afterwards.
    /// - Parameters: the report's keys, see the properties.
    public init(reader: String, time: String, atr: String, atrMeaning: String, apdus: Int, readMs: Double) {
        (self.reader, self.time, self.atr, self.atrMeaning) = (reader, time, atr, atrMeaning)
        (self.apdus, self.readMs) = (apdus, readMs)
    }

    enum CodingKeys: String, CodingKey {
        case apdus, atr, atrMeaning = "atr_meaning", cardBlocked = "card_blocked", checks
        case directory, directoryError = "directory_error", directorySequence = "directory_sequence"
        case error, expired, expiry, ins, isrn, isrnGrouped = "isrn_grouped"
        case issn, itsoNotRead = "itso_not_read", mcrn, media, noExpiry = "no_expiry", oid, readMs = "read_ms", readable, reader, time, trace, uid
        case uidRandom = "uid_random", unreadableReason = "unreadable_reason"
    }
}

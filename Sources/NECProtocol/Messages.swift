/// The banner the daemon sends first on every connection.
///
/// `{"class":"VERSION","release":"0.1.0","proto_major":1,"proto_minor":1}`
public struct VersionMessage: Codable, Hashable, Sendable {
    /// Always ``MessageClass/version``.
    public var messageClass: MessageClass = .version
    /// The daemon's release, e.g. `"0.1.0"`.
    public var release: String
    /// The protocol's major version.
    public var protoMajor: Int
    /// The protocol's minor version.
    public var protoMinor: Int

    /// Creates a banner.
    /// - Parameters:
    ///   - release: the daemon's release.
    ///   - protoMajor: the protocol's major version.
    ///   - protoMinor: the protocol's minor version.
    public init(release: String = ProtocolVersion.release, protoMajor: Int = ProtocolVersion.major, protoMinor: Int = ProtocolVersion.minor) {
        self.release = release
        self.protoMajor = protoMajor
        self.protoMinor = protoMinor
    }

    enum CodingKeys: String, CodingKey {
        case messageClass = "class", release, protoMajor = "proto_major", protoMinor = "proto_minor"
    }
}

/// The answer to `watch`: whether the stream is on, and from which `seq` it runs.
///
/// `{"class":"WATCH","enable":true,"since":41}`
public struct WatchMessage: Codable, Hashable, Sendable {
    /// Always ``MessageClass/watch``.
    public var messageClass: MessageClass = .watch
    /// Whether events will now be sent.
    public var enable: Bool
    /// The stream carries every event with a `seq` above this one. For `watch` with
    /// `since`, the value asked for; for a plain `watch`, the last stored `seq` when
    /// the watch began, so a client that reconnects before any event arrives still
    /// knows where to resume. Absent when `enable` is false.
    public var since: Int64?

    /// Creates a watch answer.
    /// - Parameters:
    ///   - enable: whether events will now be sent.
    ///   - since: the `seq` after which the stream runs.
    public init(enable: Bool, since: Int64? = nil) {
        self.enable = enable
        self.since = since
    }

    enum CodingKeys: String, CodingKey {
        case messageClass = "class", enable, since
    }
}

/// One reader, as the `READERS` answer lists it.
public struct ReaderInfo: Codable, Hashable, Sendable {
    /// The reader's name as pcscd gives it, e.g. `"ACS ACR1252 01 00"`.
    public var name: String
    /// Whether it holds a card.
    public var state: ReaderStatus
    /// How its taps are treated.
    public var role: ReaderRole
    /// The lane label from the configuration, when one is set.
    public var lane: String?
    /// The ATR of the card on it, as upper-case hex, when there is one.
    public var atr: String?

    /// Creates a reader entry.
    /// - Parameters:
    ///   - name: the pcscd reader name.
    ///   - state: whether it holds a card.
    ///   - role: how its taps are treated.
    ///   - lane: the configured lane label.
    ///   - atr: the ATR of the card on it, as hex.
    public init(name: String, state: ReaderStatus, role: ReaderRole, lane: String? = nil, atr: String? = nil) {
        self.name = name
        self.state = state
        self.role = role
        self.lane = lane
        self.atr = atr
    }
}

/// The answer to `readers`.
///
/// `{"class":"READERS","readers":[{"name":"ACS ACR1252 01 00","state":"empty","role":"till"}]}`
public struct ReadersMessage: Codable, Hashable, Sendable {
    /// Always ``MessageClass/readers``.
    public var messageClass: MessageClass = .readers
    /// Every reader pcscd knows.
    public var readers: [ReaderInfo]

    /// Creates a readers answer.
    /// - Parameter readers: every reader pcscd knows.
    public init(readers: [ReaderInfo]) { self.readers = readers }

    enum CodingKeys: String, CodingKey {
        case messageClass = "class", readers
    }
}

/// The answer to `status`: the daemon's health in one object.
///
/// `{"class":"STATUS","release":"0.1.0","uptime":3600.5,"pcscd_connected":true,"reader_count":2,"list_rows":1200,"list_age":86400,"last_seq":42}`
public struct StatusMessage: Codable, Hashable, Sendable {
    /// Always ``MessageClass/status``.
    public var messageClass: MessageClass = .status
    /// The daemon's release.
    public var release: String
    /// Seconds since the daemon started.
    public var uptime: Double
    /// Whether the daemon holds a working pcscd context.
    public var pcscdConnected: Bool
    /// How many readers pcscd reports now; 0 while pcscd cannot be reached.
    public var readerCount: Int
    /// Rows in the entitlement list in force; absent when no list was ever imported.
    public var listRows: Int?
    /// Seconds since the list in force was imported; absent when there is none.
    public var listAge: Double?
    /// Whether the list is older than `max_list_age`; absent when there is no list.
    public var listStale: Bool?
    /// The `seq` of the newest stored event; absent when none was ever stored.
    public var lastSeq: Int64?
    /// How many clients are connected to the socket, filled in by the socket server.
    public var clients: Int?

    /// Creates a status answer.
    /// - Parameters:
    ///   - release: the daemon's release.
    ///   - uptime: seconds since start.
    ///   - pcscdConnected: whether pcscd is reachable.
    ///   - readerCount: readers pcscd reports.
    ///   - listRows: rows in the list in force.
    ///   - listAge: seconds since that list was imported.
    ///   - listStale: whether the list is past `max_list_age`.
    ///   - lastSeq: the newest stored event's `seq`.
    ///   - clients: connected socket clients.
    public init(
        release: String = ProtocolVersion.release, uptime: Double, pcscdConnected: Bool, readerCount: Int,
        listRows: Int? = nil, listAge: Double? = nil, listStale: Bool? = nil, lastSeq: Int64? = nil, clients: Int? = nil
    ) {
        self.release = release
        self.uptime = uptime
        self.pcscdConnected = pcscdConnected
        self.readerCount = readerCount
        self.listRows = listRows
        self.listAge = listAge
        self.listStale = listStale
        self.lastSeq = lastSeq
        self.clients = clients
    }

    /// The `last_seq` to send when the newest stored `seq` is `newest` (0 when no event
    /// was ever stored): absent then, not 0, so a client never mistakes 0 for an event.
    /// - Parameter newest: the journal's newest `seq`, or 0.
    public static func reportedLastSeq(newest: Int64) -> Int64? { newest > 0 ? newest : nil }

    enum CodingKeys: String, CodingKey {
        case messageClass = "class", release, uptime, pcscdConnected = "pcscd_connected", readerCount = "reader_count"
        case listRows = "list_rows", listAge = "list_age", listStale = "list_stale", lastSeq = "last_seq", clients
    }
}

/// What was read from a card, as events and lookups show it.
public struct CardInfo: Codable, Hashable, Sendable {
    /// The 18-digit ISRN, when one was read (or asked about).
    public var isrn: String?
    /// The chip UID as upper-case hex, when one was read (or asked about).
    public var uid: String?
    /// The kind of chip.
    public var media: MediaType?
    /// The ITSO expiry date, `YYYY-MM-DD`.
    public var expiry: String?

    /// Creates a card description.
    /// - Parameters:
    ///   - isrn: the ISRN read.
    ///   - uid: the UID read, as hex.
    ///   - media: the kind of chip.
    ///   - expiry: the expiry date, ISO.
    public init(isrn: String? = nil, uid: String? = nil, media: MediaType? = nil, expiry: String? = nil) {
        self.isrn = isrn
        self.uid = uid
        self.media = media
        self.expiry = expiry
    }
}

/// A decided tap: class `TAP` on a till reader, `IDENTIFY` on a kiosk reader. From minor
/// version 1 also a pupil served by hand (`redeem`): `"method":"manual"`, with no reader and
/// no card.
///
/// `{"class":"TAP","seq":42,"time":"2026-11-27T12:01:02.123Z","reader":"ACS ACR1252 01 00","lane":"till-1","method":"card",
/// "card":{"isrn":"633597013012345674","media":"desfire"},"decision":"authorised","kind":"lunch","pupil":"P0000042"}`
public struct TapEvent: Codable, Hashable, Sendable {
    /// ``MessageClass/tap`` or ``MessageClass/identify``.
    public var messageClass: MessageClass
    /// The event's place in the journal; strictly increasing. Absent only when the daemon
    /// could not store the event at all (a `declined`, `unavailable` tap): such a line is
    /// live only, and ``MessageCoding/daemonMessage(from:)`` refuses it.
    public var seq: Int64?
    /// When the card was read (or the pupil served by hand), RFC 3339 UTC with milliseconds.
    public var time: String
    /// The pcscd reader name; empty, and left off the wire, for a manual tap.
    public var reader: String
    /// The lane label configured for the reader, or the one a `redeem` gave.
    public var lane: String?
    /// How the pupil was identified: by a card, or by hand. Absent from a daemon of
    /// minor version 0, whose taps are all by card.
    public var method: TapMethod?
    /// What was read; empty, and left off the wire, for a manual tap.
    public var card: CardInfo
    /// Authorised or declined.
    public var decision: Decision
    /// What an authorised tap allows.
    public var kind: AuthorisationKind?
    /// Why a tap was declined.
    public var reason: DeclineReason?
    /// The opaque pupil reference, when the list names one.
    public var pupil: String?
    /// Allergens from the list row.
    public var allergens: [String]?
    /// A dietary or welfare note the till must show.
    public var message: String?
    /// Whole pence a `payment` pupil may spend a day, when known. After `message` in a
    /// `TAP` line (a `LOOKUP` line has it after `pupil`).
    public var dailyLimit: Int?
    /// Present and true when the list is past `max_list_age`.
    public var listStale: Bool?

    /// Whether the pupil was served by hand: no reader and no card on the wire.
    public var isManual: Bool { method == .manual }

    /// Creates a tap event.
    /// - Parameters:
    ///   - messageClass: `.tap` or `.identify`.
    ///   - seq: the journal sequence number.
    ///   - time: when the card was read.
    ///   - reader: the reader name (ignored for a manual tap).
    ///   - lane: the configured lane label.
    ///   - method: by card or by hand.
    ///   - card: what was read (ignored for a manual tap).
    ///   - decision: authorised or declined.
    ///   - kind: what an authorisation allows.
    ///   - reason: why a tap was declined.
    ///   - pupil: the pupil reference.
    ///   - dailyLimit: pence a day for `payment`.
    ///   - allergens: allergens to show.
    ///   - message: a note to show.
    ///   - listStale: whether the list is stale.
    public init(
        messageClass: MessageClass = .tap, seq: Int64?, time: String, reader: String, lane: String? = nil,
        method: TapMethod? = nil, card: CardInfo, decision: Decision, kind: AuthorisationKind? = nil,
        reason: DeclineReason? = nil, pupil: String? = nil, dailyLimit: Int? = nil, allergens: [String]? = nil,
        message: String? = nil, listStale: Bool? = nil
    ) {
        self.messageClass = messageClass
        self.seq = seq
        self.time = time
        self.lane = lane
        self.method = method
        let manual = method == .manual
        self.reader = manual ? "" : reader
        self.card = manual ? CardInfo() : card
        self.decision = decision
        self.kind = kind
        self.reason = reason
        self.pupil = pupil
        self.dailyLimit = dailyLimit
        self.allergens = allergens
        self.message = message
        self.listStale = listStale
    }

    /// Creates a manual tap: a pupil a till picked by hand (`redeem`), with no reader and no card.
    /// - Parameters: as ``init(messageClass:seq:time:reader:lane:method:card:decision:kind:reason:pupil:dailyLimit:allergens:message:listStale:)``.
    public static func manual(
        seq: Int64?, time: String, lane: String? = nil, decision: Decision, kind: AuthorisationKind? = nil,
        reason: DeclineReason? = nil, pupil: String?, dailyLimit: Int? = nil, allergens: [String]? = nil,
        message: String? = nil, listStale: Bool? = nil
    ) -> TapEvent {
        TapEvent(
            seq: seq, time: time, reader: "", lane: lane, method: .manual, card: CardInfo(), decision: decision, kind: kind,
            reason: reason, pupil: pupil, dailyLimit: dailyLimit, allergens: allergens, message: message, listStale: listStale)
    }

    enum CodingKeys: String, CodingKey {
        case messageClass = "class", seq, time, reader, lane, method, card, decision, kind, reason, pupil
        case allergens, message, dailyLimit = "daily_limit", listStale = "list_stale"
    }

    /// Reads a tap; a manual one has no `reader` and no `card`, every other one has both.
    public init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: CodingKeys.self)
        messageClass = try keys.decode(MessageClass.self, forKey: .messageClass)
        seq = try keys.decodeIfPresent(Int64.self, forKey: .seq)
        time = try keys.decode(String.self, forKey: .time)
        lane = try keys.decodeIfPresent(String.self, forKey: .lane)
        method = try keys.decodeIfPresent(TapMethod.self, forKey: .method)
        if method == .manual {
            reader = ""
            card = CardInfo()
        } else {
            reader = try keys.decode(String.self, forKey: .reader)
            card = try keys.decode(CardInfo.self, forKey: .card)
        }
        decision = try keys.decode(Decision.self, forKey: .decision)
        kind = try keys.decodeIfPresent(AuthorisationKind.self, forKey: .kind)
        reason = try keys.decodeIfPresent(DeclineReason.self, forKey: .reason)
        pupil = try keys.decodeIfPresent(String.self, forKey: .pupil)
        allergens = try keys.decodeIfPresent([String].self, forKey: .allergens)
        message = try keys.decodeIfPresent(String.self, forKey: .message)
        dailyLimit = try keys.decodeIfPresent(Int.self, forKey: .dailyLimit)
        listStale = try keys.decodeIfPresent(Bool.self, forKey: .listStale)
    }

    /// Writes the keys in the documented order; a manual tap without `reader` and `card`.
    public func encode(to encoder: any Encoder) throws {
        var keys = encoder.container(keyedBy: CodingKeys.self)
        try keys.encode(messageClass, forKey: .messageClass)
        try keys.encodeIfPresent(seq, forKey: .seq)
        try keys.encode(time, forKey: .time)
        if !isManual { try keys.encode(reader, forKey: .reader) }
        try keys.encodeIfPresent(lane, forKey: .lane)
        try keys.encodeIfPresent(method, forKey: .method)
        if !isManual { try keys.encode(card, forKey: .card) }
        try keys.encode(decision, forKey: .decision)
        try keys.encodeIfPresent(kind, forKey: .kind)
        try keys.encodeIfPresent(reason, forKey: .reason)
        try keys.encodeIfPresent(pupil, forKey: .pupil)
        try keys.encodeIfPresent(allergens, forKey: .allergens)
        try keys.encodeIfPresent(message, forKey: .message)
        try keys.encodeIfPresent(dailyLimit, forKey: .dailyLimit)
        try keys.encodeIfPresent(listStale, forKey: .listStale)
    }
}

/// A reader appeared, changed state or went away. Live only: it has no `seq` and is not replayed.
///
/// `{"class":"READER","name":"ACS ACR1252 01 00","state":"unavailable"}`
public struct ReaderChangeEvent: Codable, Hashable, Sendable {
    /// Always ``MessageClass/reader``.
    public var messageClass: MessageClass = .reader
    /// The pcscd reader name.
    public var name: String
    /// Its new state.
    public var state: ReaderStatus
    /// How its taps are treated, when known.
    public var role: ReaderRole?
    /// The ATR of the card now on it, as hex.
    public var atr: String?

    /// Creates a reader event.
    /// - Parameters:
    ///   - name: the reader name.
    ///   - state: its new state.
    ///   - role: its role.
    ///   - atr: the ATR of the card on it.
    public init(name: String, state: ReaderStatus, role: ReaderRole? = nil, atr: String? = nil) {
        self.name = name
        self.state = state
        self.role = role
        self.atr = atr
    }

    enum CodingKeys: String, CodingKey {
        case messageClass = "class", name, state, role, atr
    }
}

/// The answer to `lookup`: the decision the card would get now. Nothing is redeemed.
///
/// `{"class":"LOOKUP","card":{"isrn":"633597999900000019"},"decision":"declined","reason":"unknown_card"}`
public struct LookupMessage: Codable, Hashable, Sendable {
    /// Always ``MessageClass/lookup``.
    public var messageClass: MessageClass = .lookup
    /// The card asked about.
    public var card: CardInfo
    /// Authorised or declined.
    public var decision: Decision
    /// What an authorisation would allow.
    public var kind: AuthorisationKind?
    /// Why it would be declined.
    public var reason: DeclineReason?
    /// The pupil reference, when the list names one.
    public var pupil: String?
    /// Whole pence a `payment` pupil may spend a day, when known.
    public var dailyLimit: Int?
    /// Allergens from the list row.
    public var allergens: [String]?
    /// A dietary or welfare note.
    public var message: String?
    /// Present and true when the list is past `max_list_age`.
    public var listStale: Bool?

    /// Creates a lookup answer.
    /// - Parameters:
    ///   - card: the card asked about.
    ///   - decision: authorised or declined.
    ///   - kind: what an authorisation allows.
    ///   - reason: why it would be declined.
    ///   - pupil: the pupil reference.
    ///   - dailyLimit: pence a day for `payment`.
    ///   - allergens: allergens to show.
    ///   - message: a note to show.
    ///   - listStale: whether the list is stale.
    public init(
        card: CardInfo, decision: Decision, kind: AuthorisationKind? = nil, reason: DeclineReason? = nil,
        pupil: String? = nil, dailyLimit: Int? = nil, allergens: [String]? = nil, message: String? = nil,
        listStale: Bool? = nil
    ) {
        self.card = card
        self.decision = decision
        self.kind = kind
        self.reason = reason
        self.pupil = pupil
        self.dailyLimit = dailyLimit
        self.allergens = allergens
        self.message = message
        self.listStale = listStale
    }

    enum CodingKeys: String, CodingKey {
        case messageClass = "class", card, decision, kind, reason, pupil
        case dailyLimit = "daily_limit", allergens, message, listStale = "list_stale"
    }
}

/// The answer to `void`: the lunch redeemed by event `seq` is released.
///
/// `{"class":"VOID","seq":42}`
public struct VoidMessage: Codable, Hashable, Sendable {
    /// Always ``MessageClass/void``.
    public var messageClass: MessageClass = .void
    /// The event whose redemption was released.
    public var seq: Int64

    /// Creates a void answer.
    /// - Parameter seq: the voided event.
    public init(seq: Int64) { self.seq = seq }

    enum CodingKeys: String, CodingKey {
        case messageClass = "class", seq
    }
}

/// A refused request, or the reason the daemon is about to close the connection.
///
/// `{"class":"ERROR","message":"unknown cmd \"frobnicate\""}`
public struct ErrorMessage: Codable, Hashable, Sendable, Error {
    /// Always ``MessageClass/error``.
    public var messageClass: MessageClass = .error
    /// What went wrong, for a person to read.
    public var message: String

    /// Creates an error answer.
    /// - Parameter message: what went wrong.
    public init(message: String) { self.message = message }

    enum CodingKeys: String, CodingKey {
        case messageClass = "class", message
    }
}

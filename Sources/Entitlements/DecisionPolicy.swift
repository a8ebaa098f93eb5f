public import Foundation
public import NECCard

extension EntitlementStore {
    /// How a reader's taps are treated (the configuration's `[[reader]]` tables): at a
    /// `till` (a canteen till) a lunch decision redeems the lunch, class `TAP`; at a `kiosk`
    /// taps are evaluated the same way and never redeem, class `IDENTIFY`.
    public enum ReaderRole: String, Sendable, Codable, CaseIterable { case till, kiosk }
}

/// What to do when the list in force is older than `max_list_age`.
public enum StaleListPolicy: String, Sendable, Codable, CaseIterable {
    /// Decide as usual and mark every event `"list_stale": true`.
    case allow
    /// Decline every card with reason `list_stale`.
    case decline
}

/// The configuration keys the decision rules depend on, with the documented defaults.
public struct DecisionPolicy: Sendable, Equatable {
    /// The zone whose local date is "today" for the one-lunch-a-day rule.
    public var timeZone: TimeZone
    /// Days after its import before a list is stale (`max_list_age`).
    public var maxListAge: Int
    /// `stale_list_policy`.
    public var stalePolicy: StaleListPolicy
    /// Days events and redemptions are kept (`event_retention`).
    public var eventRetention: Int
    /// `require_signed_lists`: decide only from a list signed by one of ``trustedListKeys``.
    public var requireSignedLists: Bool
    /// `trusted_list_keys`, each the base64 of its 32 raw bytes, as the store records a
    /// list's signer.
    public var trustedListKeys: Set<String>
    /// The `[[service]]` tables: when lunches are served. Empty: at any time.
    public var serviceWindows: [ServiceWindow]

    /// The zone of the default configuration, `Europe/London`.
    public static let defaultTimeZone: TimeZone = TimeZone(identifier: "Europe/London") ?? TimeZone(secondsFromGMT: 0)!

    /// - Parameters:
    ///   - timeZone: `time_zone`, default Europe/London.
    ///   - maxListAge: `max_list_age` in days, default 7.
    ///   - stalePolicy: `stale_list_policy`, default `allow`.
    ///   - eventRetention: `event_retention` in days, default 14.
    ///   - requireSignedLists: `require_signed_lists`, default false.
    ///   - trustedListKeys: `trusted_list_keys` in base64, default none.
    ///   - serviceWindows: the `[[service]]` tables, default none (lunch at any time).
    public init(
        timeZone: TimeZone = DecisionPolicy.defaultTimeZone, maxListAge: Int = 7,
        stalePolicy: StaleListPolicy = .allow, eventRetention: Int = 14,
        requireSignedLists: Bool = false, trustedListKeys: Set<String> = [], serviceWindows: [ServiceWindow] = []
    ) {
        self.timeZone = timeZone
        self.maxListAge = maxListAge
        self.stalePolicy = stalePolicy
        self.eventRetention = eventRetention
        self.requireSignedLists = requireSignedLists
        self.trustedListKeys = trustedListKeys
        self.serviceWindows = serviceWindows
    }

    /// Whether decisions may be made from a list recorded with this signer (the base64
    /// public key its signature was verified with at import, nil for an unsigned list).
    /// Checked by the daemon itself at every decision, whoever imported the list and
    /// with whatever options: `necctl list import --database` reads no configuration.
    public func trusts(signer: String?) -> Bool {
        guard requireSignedLists else { return true }
        return signer.map(trustedListKeys.contains) ?? false
    }

    /// The local calendar date of `instant` in the configured zone. Uses the zone's UTC
    /// offset at that instant, so the days either side of a clock change are right.
    public func localDate(of instant: Date) -> CivilDate {
        let seconds = Int(instant.timeIntervalSince1970.rounded(.down))
        let offset = timeZone.secondsFromGMT(for: instant)
        let local = seconds + offset
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        return CivilDate(daysSinceUnixEpoch: days)
    }
}

/// Who may sign lists, and whether a signature is required (`trusted_list_keys`,
/// `require_signed_lists`).
public struct ListTrust: Sendable {
    /// Ed25519 public keys whose signatures are accepted.
    public var trustedKeys: [ListSigningKey.Public]
    /// Refuse unsigned lists.
    public var requireSigned: Bool

    /// - Parameters:
    ///   - trustedKeys: the accepted public keys.
    ///   - requireSigned: refuse a list without a valid signature.
    public init(trustedKeys: [ListSigningKey.Public] = [], requireSigned: Bool = false) {
        self.trustedKeys = trustedKeys
        self.requireSigned = requireSigned
    }
}

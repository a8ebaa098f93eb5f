public import Entitlements
import Foundation
import Synchronization

/// The settings and store in force, swapped as a whole on SIGHUP so a tap sees either
/// the old settings or the new ones, never a mix.
public final class DaemonState: Sendable {
    /// The configuration and the store opened from it.
    public struct Current: Sendable {
        public var configuration: NECConfiguration
        public var store: EntitlementStore
    }

    private let current: Mutex<Current>
    /// When the daemon started, for `uptime`.
    public let startedAt = ContinuousClock.now

    /// - Parameters:
    ///   - configuration: the configuration loaded at start.
    ///   - store: the store opened from it.
    public init(configuration: NECConfiguration, store: EntitlementStore) {
        current = Mutex(Current(configuration: configuration, store: store))
    }

    /// The configuration and store in force.
    public var snapshot: Current { current.withLock { $0 } }

    /// Installs new settings (and a store reopened with the new decision policy).
    public func replace(with new: Current) { current.withLock { $0 = new } }
}

extension NECConfiguration {
    /// The keys the decision rules depend on, as the entitlement store takes them.
    public var decisionPolicy: DecisionPolicy {
        DecisionPolicy(
            timeZone: timeZone, maxListAge: maxListAge, stalePolicy: staleListPolicy,
            eventRetention: eventRetention, requireSignedLists: requireSignedLists,
            trustedListKeys: Set(trustedListKeys.map { Data($0).base64EncodedString() }))
    }
}

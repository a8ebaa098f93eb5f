public import Entitlements
public import NECConfiguration
import Foundation
import Synchronization

/// The settings in force and the store, for every part of the daemon. SIGHUP swaps the
/// settings (the configuration and the decision policy made from it) as a whole, so a tap
/// sees either the old settings or the new ones, never a mix. The store is opened once at
/// start and never replaced: a reload opens no database connection, and taps and voids
/// go on through the connections they already had.
public final class DaemonState: Sendable {
    /// What a tap, a request or a chore reads in one go.
    public struct Current: Sendable {
        /// The configuration in force.
        public let configuration: NECConfiguration
        /// The decision policy made from ``configuration``, handed to every store call.
        public let policy: DecisionPolicy
        /// The daemon's store: the same object for the daemon's whole life.
        public let store: EntitlementStore
    }

    private struct Settings: Sendable {
        var configuration: NECConfiguration
        var policy: DecisionPolicy
    }

    /// The daemon's store, opened at start.
    public let store: EntitlementStore
    private let settings: Mutex<Settings>
    /// When the daemon started, for `uptime`.
    public let startedAt = ContinuousClock.now

    /// - Parameters:
    ///   - configuration: the configuration loaded at start.
    ///   - store: the store opened from it, kept until the daemon stops.
    public init(configuration: NECConfiguration, store: EntitlementStore) {
        self.store = store
        settings = Mutex(Settings(configuration: configuration, policy: configuration.decisionPolicy))
    }

    /// The settings in force, with the store.
    public var snapshot: Current {
        let inForce = settings.withLock { $0 }
        return Current(configuration: inForce.configuration, policy: inForce.policy, store: store)
    }

    /// Puts `configuration`, and the decision policy it gives, in force for the next tap,
    /// request and chore. The store stays as it is.
    public func replace(configuration: NECConfiguration) {
        let new = Settings(configuration: configuration, policy: configuration.decisionPolicy)
        settings.withLock { $0 = new }
    }
}

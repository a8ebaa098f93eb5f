public import Entitlements
import Foundation

extension NECConfiguration {
    /// The keys the decision rules depend on, as the entitlement store takes them.
    public var decisionPolicy: DecisionPolicy {
        DecisionPolicy(
            timeZone: timeZone, maxListAge: maxListAge, stalePolicy: staleListPolicy,
            eventRetention: eventRetention, requireSignedLists: requireSignedLists,
            trustedListKeys: Set(trustedListKeys.map { Data($0).base64EncodedString() }),
            serviceWindows: serviceWindows)
    }
}

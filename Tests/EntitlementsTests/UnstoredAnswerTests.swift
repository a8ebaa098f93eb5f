import Foundation
import NECCard
import Testing
@testable import Entitlements

/// A manual lunch, charge or refund the store cannot write at all (another connection
/// holds the write lock): the answer, declined `unavailable`, goes to the asking till
/// only, so it is not handed to `onStored` (which publishes to watchers), and a refund's
/// answer still names its charge.
@Suite struct UnstoredAnswerTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")
    let list = """
        card,pupil,entitlement,daily_limit,balance
        \(Fixture.isrn(1)),TEST-0000001,fsm+paid,300,1500

        """

    @Test func nothingUnstoredIsHandedOnAndARefundNamesItsCharge() throws {
        let (store, _) = try Fixture.store(list: list, at: now)
        let policy = Fixture.policy
        let charged = try store.charge(
            pupil: Fixture.pupil(1), amount: 120, txn: "t-1", lane: "till-3", peerUID: 1000, at: now, policy: policy)
        #expect(charged.event.seq == 1)
        var handedOn: [StoredEvent] = []
        let (lunch, charge, refund) = try Fixture.whileWriteLocked(store.path) {
            (
                try store.redeem(pupil: Fixture.pupil(1), lane: "till-2", peerUID: 1000, at: now, policy: policy) {
                    handedOn.append($0)
                },
                try store.charge(
                    pupil: Fixture.pupil(1), amount: 50, txn: "t-2", lane: "till-2", peerUID: 1000, at: now, policy: policy
                ) { handedOn.append($0) },
                try store.refund(txn: "t-1", peerUID: 1000, at: now, policy: policy) { handedOn.append($0) }
            )
        }
        #expect(handedOn.isEmpty)
        #expect(lunch.seq == nil && lunch.reason == .unavailable && lunch.pupil == Fixture.pupil(1))
        #expect(charge.event.seq == nil && charge.event.reason == .unavailable)
        #expect(refund == PaymentOutcome(event: StoredEvent(
            seq: nil, timeMillis: EntitlementStore.millis(now), eventClass: .payment, reader: "", lane: "till-3",
            card: CardFields(), verdict: Verdict(decision: .declined, reason: .unavailable, pupil: Fixture.pupil(1)),
            peerUID: 1000, payment: PaymentFields(txn: "t-1", kind: .refund, amount: 120)), isRetry: false))
        // Stored ones are handed on as before.
        let done = try store.refund(txn: "t-1", peerUID: 1000, at: now, policy: policy) { handedOn.append($0) }
        #expect(handedOn == [done.event])
        #expect(done.event.seq == 2)
    }
}

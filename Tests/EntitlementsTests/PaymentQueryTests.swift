import Foundation
import NECCard
import Testing
@testable import Entitlements

/// ``EntitlementStore/payments(_:policy:)``: one local day's charges and refunds from the
/// journal, for `necctl payments`.
@Suite struct PaymentQueryTests {
    let list = """
        card,pupil,entitlement,daily_limit
        \(Fixture.isrn(1)),TEST-0000001,paid,1000
        \(Fixture.isrn(2)),TEST-0000002,paid,

        """

    /// Charges either side of midnight in Europe/London in summer (BST, UTC+1): each is
    /// on the local date the daemon counts its spending by, and a refund is on its own day.
    @Test func theDayIsTheLocalDateAndThePupilFilters() throws {
        let (store, path) = try Fixture.store(list: list, at: Fixture.utc("2026-06-30T00:00:00Z"))
        let policy = Fixture.policy
        func charge(_ pupil: Int, _ amount: Int, _ txn: String, _ at: String) throws -> StoredEvent {
            try store.charge(
                pupil: Fixture.pupil(pupil), amount: amount, txn: txn, lane: "till-\(pupil)", peerUID: 1000,
                at: Fixture.utc(at), policy: policy).event
        }
        let june30 = try charge(1, 100, "a", "2026-06-30T22:59:00Z")            // 23:59 BST, 30 June
        let justAfterMidnight = try charge(1, 200, "b", "2026-06-30T23:30:00Z") // 00:30 BST, 1 July
        let noon = try charge(1, 300, "c", "2026-07-01T12:00:00Z")
        let lastMoment = try charge(2, 150, "d", "2026-07-01T22:59:59.999Z")    // 23:59:59.999 BST, 1 July
        let july2 = try charge(2, 50, "e", "2026-07-01T23:00:00Z")              // 00:00 BST, 2 July
        let refund = try store.refund(txn: "b", lane: "till-9", peerUID: 1000, at: Fixture.utc("2026-07-01T13:00:00Z"), policy: policy).event
        // 300 spent (the 200 was refunded) + 900 > 1000.
        let declined = try charge(1, 900, "f", "2026-07-01T14:00:00Z")
        #expect(declined.verdict.reason == .overDailyLimit)

        let day = try #require(CivilDate(iso: "2026-07-01"))
        let all = try store.payments(PaymentQuery(day: day), policy: policy)
        #expect(all == [justAfterMidnight, noon, lastMoment, refund, declined])
        #expect(all.map(\.seq) == [2, 3, 4, 6, 7])
        #expect(refund.payment == PaymentFields(txn: "b", kind: .refund, amount: 200, spentToday: 300, remainingToday: 700))
        #expect(refund.lane == "till-9")
        #expect(refund.verdict.pupil == "TEST-0000001")

        #expect(try store.payments(PaymentQuery(day: day, pupil: "TEST-0000001"), policy: policy).map(\.seq) == [2, 3, 6, 7])
        #expect(try store.payments(PaymentQuery(day: day, pupil: "TEST-0000002"), policy: policy) == [lastMoment])
        #expect(try store.payments(PaymentQuery(day: day, pupil: "TEST-0000099"), policy: policy) == [])
        #expect(try store.payments(PaymentQuery(day: CivilDate(iso: "2026-06-30")!), policy: policy) == [june30])
        #expect(try store.payments(PaymentQuery(day: CivilDate(iso: "2026-07-02")!), policy: policy) == [july2])
        #expect(try store.payments(PaymentQuery(day: CivilDate(iso: "2026-07-03")!), policy: policy) == [])

        // The same instants in UTC are other days: the zone decides.
        let utc = DecisionPolicy(timeZone: TimeZone(identifier: "UTC")!)
        #expect(try store.payments(PaymentQuery(day: CivilDate(iso: "2026-06-30")!), policy: utc).map(\.seq) == [1, 2])

        // Read in a snapshot of its own: another connection holding the write lock (as necd
        // does while it stores a charge) does not keep it waiting.
        let whileLocked = try Fixture.whileWriteLocked(path + "/necd.sqlite") {
            try store.payments(PaymentQuery(day: day), policy: policy)
        }
        #expect(whileLocked == all)
    }

    /// Taps, voids and manual lunches are in the journal too, and are not payments.
    @Test func onlyPaymentEventsAreListed() throws {
        let now = Fixture.utc("2026-11-27T12:00:00Z")
        let (store, _) = try Fixture.store(list: """
            card,pupil,entitlement,daily_limit
            \(Fixture.isrn(1)),TEST-0000001,fsm+paid,500

            """, at: now)
        let lunch = try store.redeem(pupil: "TEST-0000001", lane: "till-1", peerUID: 1000, at: now, policy: Fixture.policy)
        #expect(lunch.verdict.isLunch)
        _ = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: "till-1", role: .till, at: now, policy: Fixture.policy)
        _ = try store.void(seq: try #require(lunch.seq), at: now, policy: Fixture.policy)
        let charged = try store.charge(
            pupil: "TEST-0000001", amount: 120, txn: "x1", lane: nil, peerUID: nil, at: now, policy: Fixture.policy).event
        let listed = try store.payments(PaymentQuery(day: try #require(CivilDate(iso: "2026-11-27"))), policy: Fixture.policy)
        #expect(listed == [charged])
        #expect(listed.first?.seq == 4)
    }
}

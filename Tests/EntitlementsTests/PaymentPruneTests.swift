import Foundation
import GRDB
import Testing
@testable import Entitlements

/// Payments are pruned with the journal's `event_retention`, but for the charges and
/// refunds a figure the store answers with still counts: today's spending, and the
/// balance since the list in force (or the previous one, for a rollback) was imported.
@Suite struct PaymentPruneTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")
    let list = """
        card,pupil,entitlement,daily_limit,balance
        \(Fixture.isrn(1)),TEST-0000001,paid,,1500
        \(Fixture.isrn(2)),TEST-0000002,paid,500,

        """

    func daysAgo(_ days: Double) -> Date { now.addingTimeInterval(-days * 86_400) }

    @discardableResult
    func charge(_ store: EntitlementStore, _ pupil: Int, _ amount: Int, _ txn: String, at: Date, policy: DecisionPolicy = Fixture.policy)
        throws -> StoredEvent
    {
        try store.charge(
            pupil: Fixture.pupil(pupil), amount: amount, txn: txn, lane: "till-1", peerUID: 1000, at: at, policy: policy
        ).event
    }

    func refund(_ store: EntitlementStore, _ txn: String, at: Date) throws {
        _ = try store.refund(txn: txn, peerUID: 1000, at: at, policy: Fixture.policy)
    }

    func txns(_ store: EntitlementStore) throws -> [String] {
        try store.pool.read { db in try String.fetchAll(db, sql: "SELECT txn FROM payment ORDER BY txn") }
    }

    func importList(_ store: EntitlementStore, _ dir: String, at: Date) throws {
        Fixture.write(list, to: dir + "/list.csv")
        try store.importList(path: dir + "/list.csv", at: at)
    }

    @Test func oldPaymentsGoButThoseTheBalanceCountsStay() throws {
        let (store, dir) = try Fixture.store(list: list, at: daysAgo(40))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Under the first list (imported 40 days ago).
        try #expect(charge(store, 1, 70, "c5", at: daysAgo(36)).verdict.decision == .authorised)
        try #expect(charge(store, 1, 80, "c6", at: daysAgo(36)).verdict.decision == .authorised)
        try #expect(charge(store, 1, 90, "c1", at: daysAgo(35)).verdict.decision == .authorised)
        try #expect(charge(store, 1, 5000, "c2", at: daysAgo(30)).verdict.reason == .insufficientFunds)
        try refund(store, "c6", at: daysAgo(30))
        // The second list, 25 days ago: the previous one now.
        try importList(store, dir, at: daysAgo(25))
        try refund(store, "c5", at: daysAgo(22))
        try #expect(charge(store, 1, 150, "c3", at: daysAgo(20)).verdict.decision == .authorised)
        try #expect(charge(store, 1, 5000, "c4", at: daysAgo(20)).verdict.reason == .insufficientFunds)
        // The list in force, 10 days ago.
        try importList(store, dir, at: daysAgo(10))
        try #expect(charge(store, 1, 100, "c7", at: daysAgo(5)).verdict.decision == .authorised)
        try #expect(charge(store, 1, 5000, "c9", at: daysAgo(3)).verdict.reason == .insufficientFunds)
        try #expect(charge(store, 1, 100, "c8", at: daysAgo(0.1)).verdict.decision == .authorised)
        #expect(try txns(store) == ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"])

        // 14 days' retention: 8 events are older (c5, c6, c1, c2, c6's refund, c5's
        // refund, c3, c4). Of the payments, c1 (charged before the previous list) and c6
        // (refunded before it too) are counted by no balance, c2 and c4 were declined:
        // they go. c3 was charged and c5 refunded since the previous list: they stay.
        #expect(try store.prune(at: now, policy: Fixture.policy) == 8)
        #expect(try txns(store) == ["c3", "c5", "c7", "c8", "c9"])
        // c3 stays for the balance, but its event is pruned: a retry of it has no stored
        // answer to get back, is refused, and charges nothing again.
        #expect(throws: ServiceRequestError.answerNoLongerKept(seq: 7)) {
            try self.charge(store, 1, 150, "c3", at: self.now)
        }

        // The balance in force counts c7 and c8 only: 1500 - 200, less this 10p.
        try #expect(charge(store, 1, 10, "d1", at: now).payment?.balance == 1290)
        // Rolled back to the list of 25 days ago: c3, c7, c8, d1 charged, c5 refunded.
        try store.rollbackList()
        try #expect(charge(store, 1, 10, "d2", at: now).payment?.balance == 1500 - 150 - 100 - 100 - 10 - 10 + 70)
        // Pruning again deletes nothing more.
        #expect(try store.prune(at: now, policy: Fixture.policy) == 0)
        #expect(try txns(store) == ["c3", "c5", "c7", "c8", "c9", "d1", "d2"])
    }

    @Test func todaysChargesStayForTheDailyLimit() throws {
        let (store, dir) = try Fixture.store(list: list, at: daysAgo(2))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let noRetention = DecisionPolicy(eventRetention: 0)
        try #expect(charge(store, 2, 300, "yesterday", at: daysAgo(1)).verdict.decision == .authorised)
        // 11:00 on the 27th in London: today, before the lists below.
        try #expect(charge(store, 2, 200, "today", at: now.addingTimeInterval(-3600)).verdict.decision == .authorised)
        try importList(store, dir, at: now.addingTimeInterval(-40 * 60))
        try importList(store, dir, at: now.addingTimeInterval(-30 * 60))
        // Retention 0: every event goes; of the payments, only today's stays.
        #expect(try store.prune(at: now, policy: noRetention) == 2)
        #expect(try txns(store) == ["today"])
        // So the daily limit of 500 still counts it: 200 + 300 is all of it.
        let last = try charge(store, 2, 300, "again", at: now, policy: noRetention)
        #expect(last.verdict.decision == .authorised)
        #expect(last.payment?.spentToday == 500)
        #expect(last.payment?.remainingToday == 0)
        try #expect(charge(store, 2, 1, "over", at: now, policy: noRetention).verdict.reason == .overDailyLimit)
    }
}

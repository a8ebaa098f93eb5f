import Foundation
import GRDB
import NECCard
import Synchronization
import Testing
@testable import Entitlements

/// `charge` and `refund`: amounts in pence, the daily limit across every connection, the
/// balance, idempotent `txn`, durable before the answer.
@Suite struct PaymentTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")
    let list = """
        card,pupil,entitlement,status,valid_from,valid_until,daily_limit,balance
        \(Fixture.isrn(1)),TEST-0000001,paid,active,,,300,1500
        \(Fixture.uid(1)),TEST-0000001,paid,hotlisted,,,300,1500
        \(Fixture.isrn(2)),TEST-0000002,fsm+paid,hotlisted,,,,
        \(Fixture.isrn(3)),TEST-0000003,fsm,active,,,,
        \(Fixture.isrn(4)),TEST-0000004,paid,active,2026-12-01,,,
        \(Fixture.isrn(5)),TEST-0000005,paid,active,,,,200
        \(Fixture.isrn(6)),TEST-0000006,paid,active,,,,

        """

    func charge(
        _ store: EntitlementStore, _ pupil: Int, _ amount: Int, txn: String, lane: String? = "till-2", at: Date? = nil
    ) throws -> PaymentOutcome {
        try store.charge(
            pupil: Fixture.pupil(pupil), amount: amount, txn: txn, lane: lane, peerUID: 1000, at: at ?? now,
            policy: Fixture.policy)
    }

    func payment(
        _ seq: Int64?, _ decision: Verdict.Decision, _ reason: Verdict.DeclineReason? = nil, pupil: Int,
        _ fields: PaymentFields, lane: String? = "till-2", at: Date? = nil
    ) -> StoredEvent {
        StoredEvent(
            seq: seq, timeMillis: EntitlementStore.millis(at ?? now), eventClass: .payment, reader: "", lane: lane,
            card: CardFields(), verdict: Verdict(decision: decision, reason: reason, pupil: Fixture.pupil(pupil)),
            peerUID: 1000, payment: fields)
    }

    @Test func anAuthorisedChargeThenEveryDeclineReason() throws {
        let (store, _) = try Fixture.store(list: list, at: now)
        var published: [Int64?] = []
        let first = try store.charge(
            pupil: "TEST-0000001", amount: 235, txn: "till2-000981", lane: "till-2", peerUID: 1000, at: now,
            policy: Fixture.policy, onStored: { published.append($0.seq) })
        let authorised = payment(
            1, .authorised, pupil: 1,
            PaymentFields(txn: "till2-000981", kind: .charge, amount: 235, spentToday: 235, remainingToday: 65, balance: 1265))
        #expect(first == PaymentOutcome(event: authorised, isRetry: false))
        #expect(published == [1])
        // Over the daily limit: 235 + 100 > 300.
        #expect(try charge(store, 1, 100, txn: "t2").event == payment(
            2, .declined, .overDailyLimit, pupil: 1,
            PaymentFields(txn: "t2", kind: .charge, amount: 100, spentToday: 235, remainingToday: 65, balance: 1265)))
        // Exactly up to the limit is allowed.
        #expect(try charge(store, 1, 65, txn: "t3").event.payment == PaymentFields(
            txn: "t3", kind: .charge, amount: 65, spentToday: 300, remainingToday: 0, balance: 1200))
        // Unknown pupil.
        let unknown = try store.charge(
            pupil: "TEST-0000099", amount: 100, txn: "t4", lane: nil, peerUID: 1000, at: now, policy: Fixture.policy)
        // The PAYMENT names the pupil charged, though no row does.
        #expect(unknown.event.verdict == Verdict(decision: .declined, reason: .unknownPupil, pupil: "TEST-0000099"))
        #expect(unknown.event.payment == PaymentFields(txn: "t4", kind: .charge, amount: 100))
        // Every row hotlisted.
        #expect(try charge(store, 2, 100, txn: "t5").event.verdict == Verdict(decision: .declined, reason: .hotlisted, pupil: "TEST-0000002"))
        // No paid entitlement; and paid but before valid_from.
        #expect(try charge(store, 3, 100, txn: "t6").event.reason == .notEntitled)
        #expect(try charge(store, 4, 100, txn: "t7").event.reason == .notEntitled)
        // More than the balance (no daily limit).
        #expect(try charge(store, 5, 201, txn: "t8").event == payment(
            8, .declined, .insufficientFunds, pupil: 5, PaymentFields(txn: "t8", kind: .charge, amount: 201, spentToday: 0, balance: 200)))
        #expect(try charge(store, 5, 200, txn: "t9").event.payment?.balance == 0)
        // No limit and no balance column: anything up to the largest amount.
        #expect(try charge(store, 6, 100_000, txn: "t10").event.payment == PaymentFields(
            txn: "t10", kind: .charge, amount: 100_000, spentToday: 100_000))
        // Everything is in the journal, replayed as it was answered.
        let replay = try store.events(after: 0, limit: 20)
        #expect(replay.count == 10)
        #expect(replay.first == authorised)
        #expect(replay.map { $0.reason?.rawValue ?? "authorised" } == [
            "authorised", "over_daily_limit", "authorised", "unknown_pupil", "hotlisted", "not_entitled", "not_entitled",
            "insufficient_funds", "authorised", "authorised",
        ])
    }

    @Test func badRequestsAreRefusedAndStoreNothing() throws {
        let (store, _) = try Fixture.store(list: list, at: now)
        #expect(throws: ServiceRequestError.invalidAmount(0)) { try charge(store, 1, 0, txn: "a") }
        #expect(throws: ServiceRequestError.invalidAmount(100_001)) { try charge(store, 1, 100_001, txn: "a") }
        #expect(throws: ServiceRequestError.invalidAmount(-5)) { try charge(store, 1, -5, txn: "a") }
        #expect(throws: ServiceRequestError.invalidTxn) { try charge(store, 1, 5, txn: "") }
        #expect(throws: ServiceRequestError.invalidTxn) { try charge(store, 1, 5, txn: String(repeating: "x", count: 65)) }
        #expect(throws: ServiceRequestError.invalidTxn) { try charge(store, 1, 5, txn: "a\u{7}b") }
        #expect(throws: ServiceRequestError.invalidPupil) {
            try store.charge(pupil: "", amount: 5, txn: "a", lane: nil, peerUID: nil, at: self.now, policy: Fixture.policy)
        }
        #expect(throws: ServiceRequestError.invalidTxn) {
            try store.refund(txn: "", peerUID: nil, at: self.now, policy: Fixture.policy)
        }
        #expect(try store.lastSeq() == 0)
        #expect(ServiceRequestError.invalidAmount(0).description == "amount must be whole pence from 1 to 100000, not 0")
    }

    @Test func aRetryReturnsTheStoredEventAndChargesNothingEvenAfterReopening() throws {
        let (store, dir) = try Fixture.store(list: list, at: now)
        let first = try charge(store, 1, 100, txn: "till2-1")
        var published: [StoredEvent] = []
        let retry = try store.charge(
            pupil: "TEST-0000001", amount: 100, txn: "till2-1", lane: "till-2", peerUID: 1000,
            at: now.addingTimeInterval(5), policy: Fixture.policy, onStored: { published.append($0) })
        #expect(retry == PaymentOutcome(event: first.event, isRetry: true))
        #expect(published == [])
        // The same txn for another amount or pupil is refused.
        #expect(throws: ServiceRequestError.txnReused(seq: 1)) { try charge(store, 1, 101, txn: "till2-1") }
        #expect(throws: ServiceRequestError.txnReused(seq: 1)) { try charge(store, 6, 100, txn: "till2-1") }
        // A declined charge's retry gets its decline again.
        let declined = try charge(store, 1, 250, txn: "till2-2")
        #expect(declined.event.reason == .overDailyLimit)
        #expect(try charge(store, 1, 250, txn: "till2-2") == PaymentOutcome(event: declined.event, isRetry: true))
        // Another process (a restarted necd) finds the same.
        let reopened = try EntitlementStore(path: dir + "/necd.sqlite")
        #expect(try charge(reopened, 1, 100, txn: "till2-1") == PaymentOutcome(event: first.event, isRetry: true))
        #expect(try charge(reopened, 1, 200, txn: "till2-3").event.payment?.spentToday == 300)
        #expect(try reopened.lastSeq() == 3)
    }

    @Test func aRefundAndASecondRefund() throws {
        let (store, _) = try Fixture.store(list: list, at: now)
        _ = try charge(store, 1, 235, txn: "till2-000981")
        let later = now.addingTimeInterval(60)
        var published: [Int64?] = []
        let refund = try store.refund(
            txn: "till2-000981", peerUID: 1000, at: later, policy: Fixture.policy, onStored: { published.append($0.seq) })
        #expect(refund == PaymentOutcome(event: payment(
            2, .authorised, pupil: 1,
            PaymentFields(txn: "till2-000981", kind: .refund, amount: 235, spentToday: 0, remainingToday: 300, balance: 1500),
            at: later), isRetry: false))
        #expect(published == [2])
        #expect(throws: ServiceRequestError.alreadyRefunded(refundSeq: 2)) {
            try store.refund(txn: "till2-000981", peerUID: 1000, at: later, policy: Fixture.policy)
        }
        #expect(throws: ServiceRequestError.unknownTxn) {
            try store.refund(txn: "till2-000999", peerUID: 1000, at: later, policy: Fixture.policy)
        }
        let declined = try charge(store, 1, 301, txn: "till2-5")
        #expect(throws: ServiceRequestError.notRefundable(seq: declined.event.seq!)) {
            try store.refund(txn: "till2-5", peerUID: 1000, at: later, policy: Fixture.policy)
        }
        // The refunded amount may be spent again today; the balance got it back.
        #expect(try charge(store, 1, 300, txn: "till2-6").event.payment == PaymentFields(
            txn: "till2-6", kind: .charge, amount: 300, spentToday: 300, remainingToday: 0, balance: 1200))
        #expect(try store.events(after: 1, limit: 5).first == refund.event)
    }

    @Test func theBalanceCountsOnlyWhatHappenedSinceTheListWasImported() throws {
        let (store, dir) = try Fixture.store(list: list, at: now)
        _ = try charge(store, 1, 200, txn: "a")
        _ = try charge(store, 1, 50, txn: "b")
        _ = try store.refund(txn: "b", peerUID: nil, at: now, policy: Fixture.policy)
        #expect(try charge(store, 5, 150, txn: "c").event.payment?.balance == 50)
        // Tomorrow, a new export (the back office has counted today's charges).
        let tomorrow = now.addingTimeInterval(86_400)
        Fixture.write(list.replacingOccurrences(of: ",300,1500", with: ",300,1300"), to: dir + "/next.csv")
        try store.importList(path: dir + "/next.csv", at: tomorrow)
        #expect(try charge(store, 1, 100, txn: "d", at: tomorrow.addingTimeInterval(1)).event.payment == PaymentFields(
            txn: "d", kind: .charge, amount: 100, spentToday: 100, remainingToday: 200, balance: 1200))
        // A refund today of yesterday's charge gives the balance back, not today's spending.
        let refund = try store.refund(txn: "a", peerUID: nil, at: tomorrow.addingTimeInterval(2), policy: Fixture.policy)
        #expect(refund.event.payment == PaymentFields(
            txn: "a", kind: .refund, amount: 200, spentToday: 100, remainingToday: 200, balance: 1400))
    }

    @Test func twentyFourChargesFromTwelveConnectionsNeverPassTheLimit() throws {
        let (first, _) = try Fixture.store(list: """
            card,pupil,entitlement,daily_limit
            \(Fixture.isrn(1)),TEST-0000001,paid,300

            """, at: now)
        let stores = try Fixture.connections(12, to: first.path)
        let authorised = Atomic<Int>(0)
        let overLimit = Atomic<Int>(0)
        let policy = Fixture.policy
        let at = now
        DispatchQueue.concurrentPerform(iterations: 12) { i in
            for j in 0..<2 {
                let outcome = try? stores[i].charge(
                    pupil: "TEST-0000001", amount: 20, txn: "till\(i)-\(j)", lane: "till-\(i)", peerUID: 0, at: at,
                    policy: policy)
                if outcome?.event.decision == .authorised { authorised.add(1, ordering: .relaxed) }
                if outcome?.event.reason == .overDailyLimit { overLimit.add(1, ordering: .relaxed) }
            }
        }
        #expect(authorised.load(ordering: .relaxed) == 15)
        #expect(overLimit.load(ordering: .relaxed) == 9)
        let spent = try first.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT sum(amount) FROM payment WHERE authorised = 1")
        }
        #expect(spent == 300)
    }

    @Test func aChargeThatCannotBeStoredIsUnavailableAndLeavesTheTxnFree() throws {
        let (store, _) = try Fixture.store(list: list, at: now)
        let blocked = try Fixture.whileWriteLocked(store.path) { try charge(store, 1, 100, txn: "till2-7") }
        #expect(blocked == PaymentOutcome(event: payment(
            nil, .declined, .unavailable, pupil: 1, PaymentFields(txn: "till2-7", kind: .charge, amount: 100)), isRetry: false))
        // The txn was not used up: the retry is decided afresh.
        #expect(try charge(store, 1, 100, txn: "till2-7").event.payment == PaymentFields(
            txn: "till2-7", kind: .charge, amount: 100, spentToday: 100, remainingToday: 200, balance: 1400))
    }
}

import Foundation
import NECCard
import Synchronization
import Testing
@testable import Entitlements

/// `redeem`: a pupil picked by hand at a till, decided by rules 3 to 8 for the pupil, one
/// lunch a day whichever way (card or by hand) and whichever connection.
@Suite struct ManualServiceTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")
    let list = """
        card,pupil,entitlement,status,allergens,message
        \(Fixture.isrn(1)),TEST-0000001,fsm,active,milk,Halal
        \(Fixture.uid(1)),TEST-0000001,fsm,hotlisted,milk,Halal
        \(Fixture.isrn(2)),TEST-0000002,fsm,hotlisted,,
        \(Fixture.uid(2)),TEST-0000002,fsm,hotlisted,,
        \(Fixture.isrn(3)),TEST-0000003,paid,active,,

        """

    func tap(_ store: EntitlementStore, isrn n: Int) -> StoredEvent {
        store.decide(
            Fixture.identity(isrn: Fixture.isrn(n)), reader: "Till Reader 00 00", lane: "till-1", role: .till, at: now,
            policy: Fixture.policy)
    }

    @Test func aManualLunchIsStoredWithoutACardAndReplaysAsManual() throws {
        let (store, _) = try Fixture.store(list: list, at: now)
        var published: [StoredEvent] = []
        let e = try store.redeem(
            pupil: "TEST-0000001", lane: "till-2", peerUID: 1000, at: now, policy: Fixture.policy,
            onStored: { published.append($0) })
        let expected = StoredEvent(
            seq: 1, timeMillis: 1_795_780_800_000, eventClass: .tap, reader: "", lane: "till-2", card: CardFields(),
            verdict: Verdict(
                decision: .authorised, kind: .lunch, pupil: "TEST-0000001", allergens: ["milk"], message: "Halal"),
            method: .manual, peerUID: 1000)
        #expect(e == expected)
        #expect(published == [expected])
        #expect(try store.events(after: 0, limit: 10) == [expected])
        // A card event says it was a card.
        #expect(tap(store, isrn: 3).method == .card)
        #expect(try store.events(after: 1, limit: 10).map(\.method) == [.card])
    }

    @Test func unknownAndWhollyHotlistedPupils() throws {
        let (store, _) = try Fixture.store(list: list, at: now)
        let unknown = try store.redeem(pupil: "TEST-0000099", lane: nil, peerUID: nil, at: now, policy: Fixture.policy)
        // The manual TAP names the pupil asked for: it has no card to say who it was.
        #expect(unknown.verdict == Verdict(decision: .declined, reason: .unknownPupil, pupil: "TEST-0000099"))
        #expect(unknown.seq == 1)
        let blocked = try store.redeem(pupil: "TEST-0000002", lane: nil, peerUID: nil, at: now, policy: Fixture.policy)
        #expect(blocked.verdict == Verdict(decision: .declined, reason: .hotlisted, pupil: "TEST-0000002"))
        // One active row of two: served by hand.
        let served = try store.redeem(pupil: "TEST-0000001", lane: nil, peerUID: nil, at: now, policy: Fixture.policy)
        #expect(served.kind == .lunch)
        // A paid pupil by hand: may pay, nothing redeemed.
        let paid = try store.redeem(pupil: "TEST-0000003", lane: nil, peerUID: nil, at: now, policy: Fixture.policy)
        #expect(paid.verdict == Verdict(decision: .authorised, kind: .payment, pupil: "TEST-0000003"))
        #expect(throws: ServiceRequestError.invalidPupil) {
            try store.redeem(pupil: "", lane: nil, peerUID: nil, at: self.now, policy: Fixture.policy)
        }
        #expect(throws: ServiceRequestError.invalidPupil) {
            try store.redeem(pupil: "TEST\n1", lane: nil, peerUID: nil, at: self.now, policy: Fixture.policy)
        }
        #expect(try store.lastSeq() == 4)
    }

    @Test func oneLunchADayWhicheverWayComesFirst() throws {
        let (store, _) = try Fixture.store(list: list, at: now)
        // By hand, then the card.
        #expect(try store.redeem(pupil: "TEST-0000001", lane: nil, peerUID: 0, at: now, policy: Fixture.policy).kind == .lunch)
        #expect(tap(store, isrn: 1).reason == .alreadyRedeemed)
        // The card, then by hand (another day).
        let tomorrow = now.addingTimeInterval(86_400)
        let card = store.decide(
            Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: nil, role: .till, at: tomorrow, policy: Fixture.policy)
        #expect(card.kind == .lunch)
        let manual = try store.redeem(pupil: "TEST-0000001", lane: nil, peerUID: 0, at: tomorrow, policy: Fixture.policy)
        #expect(manual.verdict.reason == .alreadyRedeemed)
        #expect(try store.lookup(pupil: "TEST-0000001", at: tomorrow, policy: Fixture.policy).reason == .alreadyRedeemed)
    }

    @Test func tenConnectionsByHandAndTwoReadersAtOnceGiveExactlyOneLunch() throws {
        let (first, _) = try Fixture.store(list: list, at: now)
        let stores = try Fixture.connections(12, to: first.path)
        let lunches = Atomic<Int>(0)
        let declined = Atomic<Int>(0)
        let policy = Fixture.policy
        let at = now
        DispatchQueue.concurrentPerform(iterations: 12) { i in
            let e: StoredEvent
            if i < 10 {
                e = (try? stores[i].redeem(pupil: "TEST-0000001", lane: "till-\(i)", peerUID: 0, at: at, policy: policy))
                    ?? StoredEvent(seq: nil, timeMillis: 0, eventClass: .tap, reader: "", lane: nil, card: CardFields(), verdict: .declined(.unavailable))
            } else {
                e = stores[i].decide(
                    Fixture.identity(isrn: Fixture.isrn(1)), reader: "Reader \(i)", lane: nil, role: .till, at: at,
                    policy: policy)
            }
            if e.kind == .lunch { lunches.add(1, ordering: .relaxed) }
            // A card tap waits only a tap's worth for the lock behind eleven fsyncs: it may
            // be `unavailable` on a loaded machine; either way it is no lunch.
            if e.reason == .alreadyRedeemed || (i >= 10 && e.reason == .unavailable) { declined.add(1, ordering: .relaxed) }
        }
        #expect(lunches.load(ordering: .relaxed) == 1)
        #expect(declined.load(ordering: .relaxed) == 11)
        let redemptions = try first.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM redemption") }
        #expect(redemptions == 1)
    }
}

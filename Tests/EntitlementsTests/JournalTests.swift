import Foundation
import GRDB
import NECCard
import NECProtocol
import Testing
@testable import Entitlements
@testable import ProtocolMapping

@Suite struct JournalTests {
    let now = Fixture.utc("2026-11-27T12:01:02.123Z")

    @Test func jsonLineHasProductKeysInOrder() throws {
        let list = """
            card,pupil,entitlement,allergens,message
            633597013012345674,P0000042,fsm,milk,"Say ""hi"", \\ please"

            """
        let (store, _) = try Fixture.store(list: list, at: now)
        var id = CardIdentity(media: .desfire, uid: Hex.bytes("04A1B2C3D4E580"), isrn: try ISRN("633597013012345674"))
        id.expiry = CivilDate(iso: "2030-07-31")
        let e = store.decide(id, reader: "ACS ACR1252 01 00", lane: "till-1", role: .till, at: now, policy: Fixture.policy)
        #expect(wireText(e) == #"{"class":"TAP","seq":1,"time":"2026-11-27T12:01:02.123Z","reader":"ACS ACR1252 01 00","lane":"till-1","method":"card","card":{"isrn":"633597013012345674","uid":"04A1B2C3D4E580","media":"desfire","expiry":"2030-07-31"},"decision":"authorised","kind":"lunch","pupil":"P0000042","allergens":["milk"],"message":"Say \"hi\", \\ please"}"#)
        let again = store.decide(id, reader: "ACS ACR1252 01 00", lane: nil, role: .till, at: now, policy: Fixture.policy)
        #expect(wireText(again) == #"{"class":"TAP","seq":2,"time":"2026-11-27T12:01:02.123Z","reader":"ACS ACR1252 01 00","method":"card","card":{"isrn":"633597013012345674","uid":"04A1B2C3D4E580","media":"desfire","expiry":"2030-07-31"},"decision":"declined","reason":"already_redeemed","pupil":"P0000042","allergens":["milk"],"message":"Say \"hi\", \\ please"}"#)
        // Replay gives the same bytes as live.
        let replay = try store.events(after: 0, limit: 10)
        #expect(replay.map { wireText($0) } == [wireText(e), wireText(again)])
        #expect(replay == [e, again])
    }

    @Test func aVoidIsJournalledAsAVOIDEDEventAndReplayed() throws {
        let (store, _) = try Fixture.store(list: Fixture.twoCardList(pupils: 2), at: now)
        let lunch = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "Till Reader 00 00", lane: "till-2", role: .till, at: now, policy: Fixture.policy)
        let paid = store.decide(Fixture.identity(isrn: Fixture.isrn(2)), reader: "Till Reader 00 00", lane: nil, role: .till, at: now, policy: Fixture.policy)
        let later = now.addingTimeInterval(60)
        var published: [String] = []
        let outcome = try store.void(seq: lunch.seq!, at: later, policy: Fixture.policy) { published.append(wireText($0)) }
        let expected = #"{"class":"VOIDED","seq":3,"time":"2026-11-27T12:02:02.123Z","voided":1,"pupil":"TEST-0000001","lane":"till-2"}"#
        guard case .released(let voided) = outcome else {
            Issue.record("not released: \(outcome)")
            return
        }
        #expect(wireText(voided) == expected)
        #expect(published == [expected])
        // Stored with its own seq and replayed byte for byte, after the taps.
        let replay = try store.events(after: 0, limit: 10)
        #expect(replay.map(\.seq) == [1, 2, 3])
        #expect(replay.last.map { wireText($0) } == expected)
        #expect(replay.last == voided)
        #expect(try store.lastSeq() == 3)
        // A lane-less lunch's VOIDED event has no lane.
        _ = paid
        let second = store.decide(Fixture.identity(uid: Fixture.uid(1)), reader: "R", lane: nil, role: .till, at: later, policy: Fixture.policy)
        #expect(second.kind == .lunch)
        guard case .released(let again) = try store.void(seq: second.seq!, at: later, policy: Fixture.policy) else {
            Issue.record("the second lunch was not released")
            return
        }
        #expect(wireText(again) == #"{"class":"VOIDED","seq":5,"time":"2026-11-27T12:02:02.123Z","voided":4,"pupil":"TEST-0000001"}"#)
    }

    @Test func onlyALunchOfTodayCanBeVoided() throws {
        let (store, _) = try Fixture.store(list: Fixture.twoCardList(pupils: 1), at: now)
        // 23:30 in London on 27 November, and 00:30 on the 28th.
        let evening = Fixture.utc("2026-11-27T23:30:00Z")
        let lunch = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: nil, role: .till, at: evening, policy: Fixture.policy)
        #expect(lunch.kind == .lunch)
        let nextDay = Fixture.utc("2026-11-28T00:30:00Z")
        #expect(try store.void(seq: lunch.seq!, at: nextDay, policy: Fixture.policy) == .notToday(lunchDay: CivilDate(iso: "2026-11-27")!))
        // Nothing changed: no event, and the lunch is still redeemed for its day.
        #expect(try store.lastSeq() == 1)
        let sameDay = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: nil, role: .till, at: evening, policy: Fixture.policy)
        #expect(sameDay.reason == .alreadyRedeemed)
    }

    @Test func aVoidWhileTheDatabaseIsLockedElsewhereChangesNothing() throws {
        let (store, _) = try Fixture.store(list: Fixture.twoCardList(pupils: 1), at: now)
        let lunch = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: nil, role: .till, at: now, policy: Fixture.policy)
        let other = try DatabaseQueue(path: store.path)
        try other.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            #expect(throws: JournalUnavailable.self) { try store.void(seq: lunch.seq!, at: now, policy: Fixture.policy) }
            try db.execute(sql: "ROLLBACK")
        }
        // Nothing was voided or journalled; once the lock is gone the void goes through.
        #expect(try store.lastSeq() == 1)
        guard case .released(let voided) = try store.void(seq: lunch.seq!, at: now, policy: Fixture.policy) else {
            Issue.record("not released after the lock went")
            return
        }
        #expect(voided.seq == 2 && voided.voided == 1)
    }

    @Test func controlCharactersAreEscaped() {
        #expect(String(decoding: MessageCoding.line(ErrorMessage(message: "a\u{1}b\n\"\u{7F}é")), as: UTF8.self)
            == #"{"class":"ERROR","message":"a\u0001b\n\"\u007fé"}"# + "\n")
    }

    @Test func readBackFromAnySeqAndPrune() throws {
        let (store, _) = try Fixture.store(list: Fixture.twoCardList(pupils: 30), at: now)
        let start = now.addingTimeInterval(-20 * 86_400)
        for i in 0..<30 {
            // One tap a day for 30 days, the last on `now`'s day... and 10 days more.
            let at = start.addingTimeInterval(Double(i) * 86_400)
            _ = store.decide(Fixture.identity(isrn: Fixture.isrn(i + 1)), reader: "R", lane: nil, role: .till, at: at, policy: Fixture.policy)
        }
        #expect(try store.lastSeq() == 30)
        #expect(try store.events(after: 25, limit: 100).map(\.seq) == [26, 27, 28, 29, 30])
        #expect(try store.events(after: 0, limit: 3).map(\.seq) == [1, 2, 3])
        // Retention 14 days at `now`: events before now-14d go (days 0..5 of 30).
        let pruned = try store.prune(at: now, policy: Fixture.policy)
        #expect(pruned == 6)
        #expect(try store.events(after: 0, limit: 1).first?.seq == 7)
        // seq keeps rising after pruning, even when everything is pruned.
        try store.prune(olderThan: now.addingTimeInterval(365 * 86_400), policy: Fixture.policy)
        #expect(try store.events(after: 0, limit: 100).isEmpty)
        #expect(try store.lastSeq() == 30)
        let next = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: nil, role: .till, at: now, policy: Fixture.policy)
        #expect(next.seq == 31)
    }

    @Test func pruneDoesNotBlockTaps() throws {
        let (store, _) = try Fixture.store(list: Fixture.twoCardList(pupils: 1), at: now)
        let old = now.addingTimeInterval(-30 * 86_400)
        try store.pool.write { db in
            for i in 0..<20_000 {
                try db.execute(
                    sql: "INSERT INTO event (time_ms, class, reader, media, decision, list_stale) VALUES (?, 'TAP', 'R', 'unknown', 'declined', 0)",
                    arguments: [EntitlementStore.millis(old) + Int64(i)])
            }
        }
        let outcomes = OutcomeBox()
        let (go, done) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        DispatchQueue.global().async {
            // The prune starts with the taps' first turn, so it cannot be over before they begin.
            go.wait()
            _ = try? store.prune(at: now, policy: Fixture.policy)
            done.signal()
        }
        repeat {
            if outcomes.count == 0 { go.signal() }
            outcomes.note(store.decide(Fixture.identity(isrn: Fixture.isrn(2)), reader: "R", lane: nil, role: .till, at: now, policy: Fixture.policy))
        } while done.wait(timeout: .now()) == .timedOut
        #expect(try store.events(after: 0, limit: 1).first.map { $0.timeMillis >= EntitlementStore.millis(now) } == true)
        // Batches of 500 deletes: each is over long before a tap's wait for the lock is, so
        // no tap during the prune was declined `unavailable`.
        #expect(outcomes.reasons.contains(.unavailable) == false)
        #expect(outcomes.count > 0)
    }
}

final class OutcomeBox: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [Verdict.DeclineReason?] = []
    func note(_ event: StoredEvent) { lock.withLock { seen.append(event.reason) } }
    var reasons: [Verdict.DeclineReason] { lock.withLock { seen.compactMap { $0 } } }
    var count: Int { lock.withLock { seen.count } }
}

import Foundation
import NECTestSupport
import Testing
import VirtualCard

// Many tills asking necd for one pupil at once: the daily limit and the one lunch a day
// hold across connections, and across manual service and card taps on two readers.
extension DaemonEndToEndTests {
    @Test func twentyFourChargesFromTwelveConnectionsAtOnceNeverPassTheDailyLimit() async throws {
        let m = try MoneyFixture()
        try await m.start()
        let tills = try (0..<12).map { _ in try m.till() }
        // Every request is sent before any answer is read: all 24 are in necd at once.
        for (i, till) in tills.enumerated() {
            for j in 0..<2 {
                try till.socket.send(Till.charge(MoneyFixture.racer, 20, txn: "race-\(i)-\(j)", lane: "till-\(i)"))
            }
        }
        var answers: [[String: Any]] = []
        for till in tills {
            for _ in 0..<2 { answers.append(try till.answer(timeout: .seconds(30))) }
        }
        #expect(Set(answers.compactMap { $0["txn"] as? String }).count == 24)
        let authorised = answers.filter { $0["decision"] as? String == "authorised" }
        let declined = answers.filter { $0["decision"] as? String == "declined" }
        #expect(authorised.count == 15)
        #expect(declined.count == 9)
        // Each authorised charge saw the ones before it, so each total appears once.
        #expect(authorised.compactMap { $0["spent_today"] as? Int }.sorted() == Array(stride(from: 20, through: 300, by: 20)))
        for answer in authorised {
            #expect(answer["remaining_today"] as? Int == 300 - (answer["spent_today"] as? Int ?? -1), "\(fields(answer))")
        }
        for answer in declined {
            var expectedKeys: [String: Any] = [
                "class": "PAYMENT", "pupil": MoneyFixture.racer, "kind": "charge", "amount": 20, "decision": "declined",
                "reason": "over_daily_limit", "spent_today": 300, "remaining_today": 0,
            ]
            expectedKeys["txn"] = answer["txn"]
            expectedKeys["lane"] = answer["lane"]
            try expectStored(answer, equals: expectedKeys)
        }
        // In journal order the totals only grow: the charges were decided one after another.
        let bySeq = answers.sorted { ($0["seq"] as? Int ?? 0) < ($1["seq"] as? Int ?? 0) }
        let seqs = bySeq.compactMap { $0["seq"] as? Int }
        #expect(seqs.count == 24 && seqs.last.map { $0 - seqs[0] } == 23)
        #expect(bySeq.compactMap { $0["spent_today"] as? Int } == Array(stride(from: 20, through: 300, by: 20)) + Array(repeating: 300, count: 9))
        // What was answered is what was stored.
        #expect(try m.replay().map(fields) == bySeq.map(fields))
    }

    @Test func onePupilByHandOnTenConnectionsAndByCardOnTwoTillsAtOnceGetsOneLunch() async throws {
        let m = try MoneyFixture()
        try await m.start()
        let watch = try m.base.watcher()
        let tills = try (0..<10).map { _ in try m.till() }
        // The redeems are sent the moment pcscd powers the first card on, so they reach
        // necd while it reads the cards.
        let (powered, poweredOn) = AsyncStream<Void>.makeStream()
        let observer: @Sendable (VirtualCardSession.Event) -> Void = { event in
            if event == .poweredOn { poweredOn.yield() }
        }
        let (a, b) = (DaemonFixture.card(MoneyFixture.twinCardA), DaemonFixture.card(MoneyFixture.twinCardB))
        let (first, second) = (m.tillPort, m.secondTillPort)
        async let tapA = VirtualCardRunner.tap(card: a, port: first, hold: .milliseconds(1500), observer: observer)
        async let tapB = VirtualCardRunner.tap(card: b, port: second, hold: .milliseconds(1500), observer: observer)
        var iterator = powered.makeAsyncIterator()
        _ = await iterator.next()
        for (i, till) in tills.enumerated() {
            try till.socket.send(Till.redeem(MoneyFixture.twin, lane: "till-\(i + 3)"))
        }
        let manual = try tills.map { try $0.answer(timeout: .seconds(20)) }
        _ = try await (tapA, tapB)
        poweredOn.finish()

        // The watcher gets all twelve decisions: ten by hand and two by card.
        var seen: [[String: Any]] = []
        while seen.count < 12, let event = nextDecision(watch, timeout: .seconds(10)) { seen.append(event) }
        let byCard = seen.filter { $0["method"] as? String == "card" }
        #expect(byCard.count == 2, "the watcher got \(seen.map(fields)); necd said: \(m.base.daemon?.stderr ?? "")")
        #expect(Set(byCard.compactMap { $0["lane"] as? String }) == ["till-1", "till-2"])
        #expect(manual.allSatisfy { $0["class"] as? String == "TAP" && $0["method"] as? String == "manual" })
        let all = manual + byCard
        #expect(all.allSatisfy { $0["pupil"] as? String == MoneyFixture.twin })
        let lunches = all.filter { $0["decision"] as? String == "authorised" }
        #expect(lunches.count == 1, "\(all.map(fields))")
        #expect(lunches.first?["kind"] as? String == "lunch")
        #expect(all.filter { $0["reason"] as? String == "already_redeemed" }.count == 11)
        // The journal agrees: one lunch among twelve decisions.
        let journal = try m.replay().filter { $0["pupil"] as? String == MoneyFixture.twin }
        #expect(journal.count == 12)
        #expect(journal.filter { $0["kind"] as? String == "lunch" }.count == 1)
        // Leave both readers empty for the next test (pcscd polls vpcd every 0.4 s).
        try await VirtualReaders.waitUntilEmpty([m.base.tillReader, m.base.kioskReader])
    }
}

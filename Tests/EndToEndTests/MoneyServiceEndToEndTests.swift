import Foundation
import NECCard
import NECTestSupport
import Testing
import VirtualCard

// Both ways to a meal (a card on a reader, a pupil picked by hand at the till) through the
// real necd and pcscd: one lunch a day whichever comes first, and the lunch windows of
// necd.toml, reloaded by SIGHUP, for both.
extension DaemonEndToEndTests {
    @Test func aManualLunchThenACardTapAndACardTapThenAManualLunchAreOneLunchEach() async throws {
        let m = try MoneyFixture()
        try await m.start()
        let watch = try m.base.watcher()
        let till = try m.till()

        // By hand first: a TAP with no reader and no card, then the card is declined.
        let manual = try till.redeem(MoneyFixture.manualFirst)
        let manualSeq = try expectStored(manual, equals: [
            "class": "TAP", "lane": "till-2", "method": "manual", "decision": "authorised", "kind": "lunch",
            "pupil": MoneyFixture.manualFirst,
        ])
        #expect(try m.base.decision(watch)["seq"] as? Int == manualSeq)
        try await m.base.tap(DaemonFixture.card(MoneyFixture.manualFirstCard), port: m.tillPort)
        let card = try cardDecision(m, watch)
        try expectStored(card, equals: cardTap(m, MoneyFixture.manualFirstCard, card, [
            "decision": "declined", "reason": "already_redeemed", "pupil": MoneyFixture.manualFirst,
        ]))
        #expect(card["seq"] as? Int == manualSeq + 1)

        // The card first: the manual request is declined.
        try await m.base.tap(DaemonFixture.card(MoneyFixture.cardFirstCard), port: m.tillPort)
        let tapped = try cardDecision(m, watch)
        try expectStored(tapped, equals: cardTap(m, MoneyFixture.cardFirstCard, tapped, [
            "decision": "authorised", "kind": "lunch", "pupil": MoneyFixture.cardFirst,
        ]))
        let refused = try till.redeem(MoneyFixture.cardFirst, lane: nil)
        try expectStored(refused, equals: [
            "class": "TAP", "method": "manual", "decision": "declined", "reason": "already_redeemed",
            "pupil": MoneyFixture.cardFirst,
        ])
        #expect(refused["seq"] as? Int == manualSeq + 3)
        // A pupil on no row, by hand.
        let nobody = try till.redeem("TEST-NOBODY")
        try expectStored(nobody, equals: [
            "class": "TAP", "lane": "till-2", "method": "manual", "decision": "declined", "reason": "unknown_pupil",
            "pupil": "TEST-NOBODY",
        ])
        // A pupil whose every card is hotlisted is not served by hand either.
        let blocked = try till.redeem(MoneyFixture.blocked)
        #expect(blocked["reason"] as? String == "hotlisted")
        #expect(blocked["pupil"] as? String == MoneyFixture.blocked)
        // The journal has each lunch once.
        let lunches = try m.replay().filter { $0["kind"] as? String == "lunch" }
        #expect(lunches.compactMap { $0["pupil"] as? String } == [MoneyFixture.manualFirst, MoneyFixture.cardFirst])
    }

    @Test func lunchWindowsDecideCardsAndManualServiceButNotPaymentsAndSIGHUPChangesThem() async throws {
        let m = try MoneyFixture(MoneyFixture.closedWindow)
        try await m.start()
        let watch = try m.base.watcher()
        let till = try m.till()

        // Outside every lunch window: declined by card and by hand.
        try await m.base.tap(DaemonFixture.card(MoneyFixture.windowedCard), port: m.tillPort)
        let tapped = try cardDecision(m, watch)
        try expectStored(tapped, equals: cardTap(m, MoneyFixture.windowedCard, tapped, [
            "decision": "declined", "reason": "outside_service", "pupil": MoneyFixture.windowed,
        ]))
        try expectStored(try till.redeem(MoneyFixture.lunchOnly), equals: [
            "class": "TAP", "lane": "till-2", "method": "manual", "decision": "declined", "reason": "outside_service",
            "pupil": MoneyFixture.lunchOnly,
        ])
        try till.socket.send(#"{"cmd":"lookup","card":"\#(MoneyFixture.windowedCard.digits)"}"#)
        #expect(try till.answer()["reason"] as? String == "outside_service")
        // A pupil who may also pay is authorised a payment at any time, by card and by
        // hand, and charged.
        try await m.base.tap(DaemonFixture.card(MoneyFixture.bothCard), port: m.tillPort)
        let paying = try cardDecision(m, watch)
        try expectStored(paying, equals: cardTap(m, MoneyFixture.bothCard, paying, [
            "decision": "authorised", "kind": "payment", "pupil": MoneyFixture.both, "daily_limit": 500,
        ]))
        try expectStored(try till.redeem(MoneyFixture.both), equals: [
            "class": "TAP", "lane": "till-2", "method": "manual", "decision": "authorised", "kind": "payment",
            "pupil": MoneyFixture.both, "daily_limit": 500,
        ])
        try expectStored(try till.charge(MoneyFixture.both, 120, txn: "w-1"), equals: [
            "class": "PAYMENT", "lane": "till-2", "txn": "w-1", "pupil": MoneyFixture.both, "kind": "charge",
            "amount": 120, "decision": "authorised", "spent_today": 120, "remaining_today": 380,
        ])

        // SIGHUP with a window open all day: the next tap and the next manual lunch are served.
        try m.configure(MoneyFixture.openWindow)
        try await m.reload(count: 1)
        try await m.base.tap(DaemonFixture.card(MoneyFixture.windowedCard), port: m.tillPort)
        let served = try cardDecision(m, watch)
        try expectStored(served, equals: cardTap(m, MoneyFixture.windowedCard, served, [
            "decision": "authorised", "kind": "lunch", "pupil": MoneyFixture.windowed,
        ]))
        let manual = try till.redeem(MoneyFixture.lunchOnly)
        #expect(manual["decision"] as? String == "authorised")
        #expect(manual["kind"] as? String == "lunch")

        // SIGHUP with the window closed again: declined again, by card and by hand.
        try m.configure(MoneyFixture.closedWindow)
        try await m.reload(count: 2)
        try await m.base.tap(DaemonFixture.card(MoneyFixture.cardFirstCard), port: m.tillPort)
        let late = try cardDecision(m, watch)
        #expect(late["reason"] as? String == "outside_service")
        #expect(late["pupil"] as? String == MoneyFixture.cardFirst)
        let lateByHand = try till.redeem(MoneyFixture.manualFirst)
        #expect(lateByHand["reason"] as? String == "outside_service")
        #expect(lateByHand["pupil"] as? String == MoneyFixture.manualFirst)
        // The lunch served while the window was open still counts.
        #expect(try till.redeem(MoneyFixture.windowed)["reason"] as? String == "already_redeemed")
    }

    /// The next decision on `watch` made by a card (manual ones are skipped).
    private func cardDecision(_ m: MoneyFixture, _ watch: LineSocket) throws -> [String: Any] {
        let event = watch.readObject(
            matching: { ["TAP", "IDENTIFY"].contains($0["class"] as? String ?? "") && $0["method"] as? String == "card" },
            timeout: .seconds(6))
        return try #require(event, "no card decision; necd said: \(m.base.daemon?.stderr ?? "")")
    }

    /// The keys of a card TAP on the fixture's first till, with `decision` merged in.
    private func cardTap(_ m: MoneyFixture, _ isrn: ISRN, _ event: [String: Any], _ decision: [String: Any]) -> [String: Any] {
        // The UID is the emulator's own (random per card model), so it is the one the event read.
        var card: [String: Any] = ["isrn": isrn.digits, "media": "desfire", "expiry": "2035-07-31"]
        card["uid"] = (event["card"] as? [String: Any])?["uid"]
        #expect((card["uid"] as? String)?.count == 14, "uid of \(fields(event))")
        return ["class": "TAP", "reader": m.base.tillReader, "lane": "till-1", "method": "card", "card": card]
            .merging(decision) { $1 }
    }
}

import Foundation
import NECCard
import Testing
@testable import Entitlements

/// `[[service]]` windows: a lunch outside every lunch window is declined
/// `outside_service`; a `paid` pupil may still pay; a lookup says what a tap would get.
@Suite struct ServiceWindowTests {
    // 2026-11-27 is a Friday; Europe/London is on UTC in November.
    let friday = "2026-11-27"
    let windows = [ServiceWindow(startMinute: 11 * 60 + 45, endMinute: 13 * 60 + 45, days: [.mon, .tue, .wed, .thu, .fri])]
    var policy: DecisionPolicy { DecisionPolicy(serviceWindows: windows) }
    let list = """
        card,pupil,entitlement
        \(Fixture.isrn(1)),TEST-0000001,fsm
        \(Fixture.isrn(2)),TEST-0000002,fsm+paid
        \(Fixture.isrn(3)),TEST-0000003,paid

        """

    @Test func windowEdgesAndDays() {
        let p = policy
        #expect(p.serves(.lunch, at: Fixture.utc("\(friday)T11:44:59Z")) == false)
        #expect(p.serves(.lunch, at: Fixture.utc("\(friday)T11:45:00Z")) == true)
        #expect(p.serves(.lunch, at: Fixture.utc("\(friday)T13:44:59Z")) == true)
        #expect(p.serves(.lunch, at: Fixture.utc("\(friday)T13:45:00Z")) == false)
        // Saturday is not one of the days.
        #expect(p.serves(.lunch, at: Fixture.utc("2026-11-28T12:00:00Z")) == false)
        // Local time: in June, London is UTC+1, so 11:50 UTC is 12:50 there (a Monday).
        #expect(p.serves(.lunch, at: Fixture.utc("2026-06-01T11:50:00Z")) == true)
        #expect(p.serves(.lunch, at: Fixture.utc("2026-06-01T12:50:00Z")) == false)
        // No window: lunch at any time.
        #expect(DecisionPolicy().serves(.lunch, at: Fixture.utc("2026-11-28T03:00:00Z")) == true)
        #expect(ServiceWindow.Weekday(daysSinceUnixEpoch: 0) == .thu)
        #expect(ServiceWindow.Weekday(daysSinceUnixEpoch: -1) == .wed)
    }

    @Test func aLunchOutsideTheWindowAndAPaymentOutsideIt() throws {
        let early = Fixture.utc("\(friday)T10:00:00Z")
        let (store, _) = try Fixture.store(list: list, at: early)
        func tap(_ n: Int, at: Date) -> StoredEvent {
            store.decide(
                Fixture.identity(isrn: Fixture.isrn(n)), reader: "R", lane: nil, role: .till, at: at, policy: policy)
        }
        // What a tap would get now, and then the tap itself.
        #expect(try store.lookup(card: Fixture.isrn(1), at: early, policy: policy).verdict.reason == .outsideService)
        let outside = tap(1, at: early)
        #expect(outside.verdict == Verdict(decision: .declined, reason: .outsideService, pupil: "TEST-0000001"))
        #expect(try store.redeem(pupil: "TEST-0000001", lane: nil, peerUID: 0, at: early, policy: policy).reason == .outsideService)
        // fsm+paid outside the window: may pay instead; paid: may pay at any time.
        #expect(tap(2, at: early).verdict == Verdict(decision: .authorised, kind: .payment, pupil: "TEST-0000002"))
        #expect(tap(3, at: early).kind == .payment)
        let charge = try store.charge(
            pupil: "TEST-0000003", amount: 120, txn: "till1-1", lane: nil, peerUID: 0, at: early, policy: policy)
        #expect(charge.event.decision == .authorised)
        // Nothing was redeemed outside: in the window the lunch is served.
        let noon = Fixture.utc("\(friday)T12:00:00Z")
        #expect(try store.lookup(card: Fixture.isrn(1), at: noon, policy: policy).verdict.kind == .lunch)
        #expect(tap(1, at: noon).kind == .lunch)
        // Had today's lunch, later outside the window: already redeemed says more.
        #expect(tap(1, at: Fixture.utc("\(friday)T15:00:00Z")).reason == .alreadyRedeemed)
    }
}

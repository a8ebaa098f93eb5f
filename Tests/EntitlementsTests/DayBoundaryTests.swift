import Foundation
import Testing
@testable import Entitlements

/// "Today" is the local date in Europe/London, across midnight and both clock changes.
@Suite struct DayBoundaryTests {
    /// Taps pupil 1's card at each instant (UTC) and returns the kinds/reasons.
    func taps(_ instants: [String]) throws -> [String] {
        let first = Fixture.utc(instants[0])
        let (store, _) = try Fixture.store(list: Fixture.twoCardList(pupils: 1), at: first)
        return instants.map { t in
            let e = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: nil, role: .till, at: Fixture.utc(t), policy: Fixture.policy)
            return e.kind?.rawValue ?? e.reason!.rawValue
        }
    }

    @Test func winterMidnight() throws {
        // GMT: 23:59 and 00:01 local are 23:59Z and 00:01Z.
        #expect(try taps(["2026-11-26T23:59:00Z", "2026-11-27T00:01:00Z"]) == ["lunch", "lunch"])
        #expect(try taps(["2026-11-27T00:01:00Z", "2026-11-27T23:59:00Z"]) == ["lunch", "already_redeemed"])
    }

    @Test func summerMidnightIsNotUTCMidnight() throws {
        // BST: 23:59 local on 10 June is 22:59Z, 00:01 local on 11 June is 23:01Z, the same UTC day.
        #expect(try taps(["2026-06-10T22:59:00Z", "2026-06-10T23:01:00Z"]) == ["lunch", "lunch"])
        // 00:01 and 23:59 local on 11 June: different UTC days, one local day.
        #expect(try taps(["2026-06-10T23:01:00Z", "2026-06-11T22:59:00Z"]) == ["lunch", "already_redeemed"])
    }

    @Test func lastSundayOfMarch() throws {
        // 29 March 2026: 01:00 GMT becomes 02:00 BST; the day has 23 hours.
        // 23:59 on the 28th (GMT) and 00:01 on the 29th (GMT).
        #expect(try taps(["2026-03-28T23:59:00Z", "2026-03-29T00:01:00Z"]) == ["lunch", "lunch"])
        // 00:01 GMT and 23:59 BST on the 29th (22:59Z): one day.
        #expect(try taps(["2026-03-29T00:01:00Z", "2026-03-29T22:59:00Z"]) == ["lunch", "already_redeemed"])
        // 23:59 BST on the 29th and 00:01 BST on the 30th (23:01Z on the 29th).
        #expect(try taps(["2026-03-29T22:59:00Z", "2026-03-29T23:01:00Z"]) == ["lunch", "lunch"])
    }

    @Test func lastSundayOfOctober() throws {
        // 25 October 2026: 02:00 BST becomes 01:00 GMT; the day has 25 hours.
        // 23:59 BST on the 24th (22:59Z) and 00:01 BST on the 25th (23:01Z on the 24th).
        #expect(try taps(["2026-10-24T22:59:00Z", "2026-10-24T23:01:00Z"]) == ["lunch", "lunch"])
        // 00:01 BST on the 25th and 23:59 GMT on the 25th: 25 hours apart, one day.
        #expect(try taps(["2026-10-24T23:01:00Z", "2026-10-25T23:59:00Z"]) == ["lunch", "already_redeemed"])
        // 23:59 GMT on the 25th and 00:01 GMT on the 26th.
        #expect(try taps(["2026-10-25T23:59:00Z", "2026-10-26T00:01:00Z"]) == ["lunch", "lunch"])
    }

    @Test func localDateAcrossOffsets() {
        let london = DecisionPolicy()
        #expect(london.localDate(of: Fixture.utc("2026-06-10T23:30:00Z")).description == "2026-06-11")
        #expect(london.localDate(of: Fixture.utc("2026-12-10T23:30:00Z")).description == "2026-12-10")
        let utc = DecisionPolicy(timeZone: TimeZone(identifier: "UTC")!)
        #expect(utc.localDate(of: Fixture.utc("2026-06-10T23:30:00Z")).description == "2026-06-10")
        #expect(london.localDate(of: Date(timeIntervalSince1970: -1)).description == "1970-01-01")
    }
}

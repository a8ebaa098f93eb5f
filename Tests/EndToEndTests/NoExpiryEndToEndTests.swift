import Foundation
import NECCard
import NECTestSupport
import Testing
import VirtualCard

/// Cards whose ITSO shell stores expiry day 0 ("no expiry") through the whole stack: a
/// real necd with a list, pcscd with vpcd readers, VirtualCard and `necctl simulate`
/// taps. Every decision such a card can get, with the exact fields of its event: `card`
/// never has an `expiry`, and rule 2 (`card_expired`) never applies.
@Suite(.serialized, .needsRig)
struct NoExpiryEndToEndTests {
    /// The UID every VirtualCard model has unless told otherwise.
    static let uid = Hex.string(VirtualCardModel.sampleUID7)

    /// A DESFire NEC whose shell stores day 0, with the reserved bits as given.
    static func noExpiryCard(_ isrn: ISRN, reservedBits: UInt8 = 0) -> VirtualCardModel {
        .desfireITSO(shell: VirtualShell(isrn: isrn, expiry: nil, reservedBits: reservedBits))
    }

    /// The `card` object a no-expiry card of this ISRN gives.
    static func card(_ isrn: ISRN, media: String = "desfire") -> [String: Any] {
        ["isrn": isrn.digits, "uid": uid, "media": media]
    }

    @Test func everyDecisionOfANoExpiryCardHasItsExactFields() async throws {
        let d = try DaemonFixture()
        try await d.start()
        let watch = try d.watcher()
        let till: [String: Any] = ["class": "TAP", "reader": d.tillReader, "lane": "till-1"]
        let kiosk: [String: Any] = ["class": "IDENTIFY", "reader": d.kioskReader, "lane": "kiosk-1"]
        // Taps a no-expiry card of `isrn` on `port` and expects exactly `common`, the `card`
        // object such a card gives, and `fields` in the event it gets.
        @discardableResult
        func tapNoExpiry(
            _ isrn: ISRN, port: UInt16, _ common: [String: Any], _ fields: [String: Any],
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> [String: Any] {
            try await d.tap(Self.noExpiryCard(isrn), port: port)
            let event = try d.decision(watch)
            let expected = ["card": Self.card(isrn)].merging(fields) { _, new in new }
            expectEvent(event, common, expected, sourceLocation: sourceLocation)
            return event
        }

        // Rule 6: a free lunch, not card_expired.
        let lunch = try await tapNoExpiry(DaemonFixture.lunchCard, port: d.tillPort, till, [
            "decision": "authorised", "kind": "lunch", "pupil": "TEST-0001",
        ])
        let firstSeq = try #require(lunch["seq"] as? Int)

        // Rule 8: the same pupil again.
        let again = try await tapNoExpiry(DaemonFixture.lunchCard, port: d.tillPort, till, [
            "decision": "declined", "reason": "already_redeemed", "pupil": "TEST-0001",
        ])
        #expect(again["seq"] as? Int == firstSeq + 1)

        // Rule 7, tapped by the technician's own tool: `necctl simulate --no-expiry`.
        let simulated = try await simulate(d, ["--isrn", DaemonFixture.paidCard.grouped, "--no-expiry"])
        #expect(simulated.contains("no expiry"), "simulate said: \(simulated)")
        let paid = try d.decision(watch)
        expectEvent(paid, till, [
            "card": Self.card(DaemonFixture.paidCard), "decision": "authorised", "kind": "payment", "pupil": "TEST-0002",
            "daily_limit": 250, "allergens": ["milk", "eggs"], "message": "see the test note",
        ])

        // Rule 3: not on the list, still showing what was read.
        try await tapNoExpiry(DaemonFixture.unknownCard, port: d.tillPort, till, [
            "decision": "declined", "reason": "unknown_card",
        ])

        // Rule 4: hotlisted, with the pupil shown.
        try await tapNoExpiry(DaemonFixture.hotlistedCard, port: d.tillPort, till, [
            "decision": "declined", "reason": "hotlisted", "pupil": "TEST-0003",
        ])

        // Rule 5: outside valid_from..valid_until.
        try await tapNoExpiry(DaemonFixture.futureCard, port: d.tillPort, till, [
            "decision": "declined", "reason": "not_entitled", "pupil": "TEST-0004",
        ])

        // A kiosk: IDENTIFY, and nothing redeemed, so the till still gives the lunch.
        try await tapNoExpiry(DaemonFixture.secondLunchCard, port: d.kioskPort, kiosk, [
            "decision": "authorised", "kind": "lunch", "pupil": "TEST-0008",
        ])
        try await tapNoExpiry(DaemonFixture.secondLunchCard, port: d.tillPort, till, [
            "decision": "authorised", "kind": "lunch", "pupil": "TEST-0008",
        ])

        // A CMD2 card storing day 0 behind both reserved bits set: still no expiry.
        let cmd2 = VirtualCardModel.cmd2ITSO(shell: VirtualShell(isrn: DaemonFixture.bothCard, expiry: nil, reservedBits: 3))
        try await d.tap(cmd2, port: d.tillPort)
        expectEvent(try d.decision(watch), till, [
            "card": Self.card(DaemonFixture.bothCard, media: "iso7816"), "decision": "authorised", "kind": "lunch",
            "pupil": "TEST-0006",
        ])

        // Rule 2 still holds for a card with a date in the past.
        try await d.tap(DaemonFixture.card(DaemonFixture.expiredCard, expired: true), port: d.tillPort)
        expectEvent(try d.decision(watch), till, [
            "card": ["isrn": DaemonFixture.expiredCard.digits, "uid": Self.uid, "media": "desfire", "expiry": "2024-07-31"],
            "decision": "declined", "reason": "card_expired",
        ])

        // `simulate --expired` without --isrn taps the default ISRN's expired shell, not a
        // card without ITSO: rule 2 comes before the list.
        _ = try await simulate(d, ["--expired"])
        expectEvent(try d.decision(watch), till, [
            "card": [
                "isrn": VirtualCardModel.defaultShellISRN.digits, "uid": Self.uid, "media": "desfire",
                "expiry": "2024-07-31",
            ],
            "decision": "declined", "reason": "card_expired",
        ])

        // Rule 1 comes first: a broken shell is unreadable, expiry or not. simulate names
        // the fault in words.
        let broken = try await simulate(d, ["--isrn", DaemonFixture.lunchCard.digits, "--no-expiry", "--bad-crc"])
        #expect(broken.contains(", no expiry, faults: bad SECRC on "), "simulate said: \(broken)")
        #expect(!broken.contains("VirtualCard"), "simulate said: \(broken)")
        expectEvent(try d.decision(watch), till, [
            "card": ["uid": Self.uid, "media": "desfire"], "decision": "declined", "reason": "unreadable",
        ])

        // The journal keeps what was sent: replayed, the first lunch is the same object.
        let replay = try d.watcher(since: Int64(firstSeq - 1))
        let replayed = try d.decision(replay)
        #expect(canonicalJSON(replayed) == canonicalJSON(lunch))
    }

    /// Runs `necctl simulate` on the till's vpcd port, checks it succeeded, and waits
    /// until necd sees the till reader empty again. Returns what it printed.
    func simulate(_ d: DaemonFixture, _ arguments: [String]) async throws -> String {
        let process = try ChildProcess(
            BuiltProducts.executable("necctl"),
            ["simulate"] + arguments + ["--port", String(d.tillPort), "--hold", "0.7"])
        let status = await process.wait(timeout: .seconds(15)).status
        #expect(status == 0, "necctl simulate \(arguments): \(process.stderr)")
        try await d.waitUntilNecdSeesEmpty([d.tillReader])
        return process.outputLines.joined(separator: "\n")
    }
}

/// Checks that a TAP or IDENTIFY event has exactly the fields `common` + `fields` with
/// those values (so a `card` without `expiry` in `fields` must have none), plus `seq`
/// (an integer) and `time` (UTC, milliseconds). The one other
/// key allowed is `method`, and only as `"card"`: protocol minor version 1 adds it to
/// every event of a tap.
func expectEvent(
    _ event: [String: Any], _ common: [String: Any], _ fields: [String: Any],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var expected = common.merging(fields) { _, new in new }
    expected["seq"] = event["seq"] as? Int ?? -1
    expected["time"] = event["time"] as? String ?? "(missing)"
    if let method = event["method"] { expected["method"] = method as? String == "card" ? method : "card" }
    #expect(canonicalJSON(event) == canonicalJSON(expected), sourceLocation: sourceLocation)
    let time = event["time"] as? String ?? ""
    #expect(time.count == 24 && time.hasSuffix("Z") && time.dropFirst(19).hasPrefix("."), "time \(time)",
            sourceLocation: sourceLocation)
}

/// A JSON object as text with sorted keys, so two objects compare (and print) exactly.
func canonicalJSON(_ object: [String: Any]) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
        return "(not JSON: \(object))"
    }
    return String(decoding: data, as: UTF8.self)
}

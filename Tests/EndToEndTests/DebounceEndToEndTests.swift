import Foundation
import Glibc
import NECTestSupport
import Testing
import VirtualCard

/// `debounce` against a real necd, pcscd and vpcd: a card lifted and laid again within the
/// window on the same reader is decided once; past the window, or on another reader, it
/// is a new tap. necd runs with its debug log, which says when the window holds a tap
/// back: so a test knows necd saw the card laid again (and not that pcscd missed it, or
/// that the reader monitor, which reports a card held still only once, swallowed it).
@Suite(.serialized, .needsRig)
struct DebounceEndToEndTests {
    /// What necd logs (at debug) for a tap the window holds back, after the reader's name.
    static let heldBack = ": same card again within the debounce window"

    /// necd with `debounce` seconds and its debug log.
    static func daemon(debounce: Double) async throws -> DaemonFixture {
        let d = try DaemonFixture()
        try d.configure("", debounce: debounce)
        try await d.start(environment: ["NECD_LOG_LEVEL": "debug"])
        return d
    }

    /// necd with `debounce` seconds, a watcher, and the lunch card's first tap on the
    /// till, decided a lunch (its event returned).
    static func lunchServed(debounce: Double) async throws -> (DaemonFixture, LineSocket, VirtualCardModel, [String: Any]) {
        let d = try await daemon(debounce: debounce)
        let watch = try d.watcher()
        let card = DaemonFixture.card(DaemonFixture.lunchCard)
        try await d.layAndLift(card)
        let lunch = try d.decision(watch)
        #expect(lunch["kind"] as? String == "lunch")
        return (d, watch, card, lunch)
    }

    @Test func laidAgainWithinTheWindowOnTheSameReaderIsOneDecision() async throws {
        let (d, watch, card, _) = try await Self.lunchServed(debounce: 30)

        try await d.layAndLift(card)
        try await d.waitForLog(d.tillReader + Self.heldBack, count: 1)
        #expect(try received(watch).isEmpty, "a second decision within the window")

        // The window is per card: another card on the reader is decided at once, and the
        // reader then remembers that one, so the first card is a new tap again.
        try await d.layAndLift(DaemonFixture.card(DaemonFixture.paidCard))
        #expect(try d.decision(watch)["pupil"] as? String == "TEST-0002")
        try await d.layAndLift(card)
        let again = try d.decision(watch)
        #expect(again["pupil"] as? String == "TEST-0001")
        #expect(again["reason"] as? String == "already_redeemed")
        #expect(d.logCount(d.tillReader + Self.heldBack) == 1)
    }

    @Test func laidAgainPastTheWindowIsANewDecision() async throws {
        let (d, watch, card, first) = try await Self.lunchServed(debounce: 1)
        // Pacing, not synchronisation: the card stays off the reader for longer than the
        // 1 s window, which runs from the moment necd saw it lifted (just before this).
        try await Task.sleep(for: .milliseconds(1500))
        try await d.layAndLift(card)
        let second = try d.decision(watch)
        #expect(second["reason"] as? String == "already_redeemed")
        #expect(second["seq"] as? Int == (first["seq"] as? Int).map { $0 + 1 })
        #expect(d.logCount(Self.heldBack) == 0)
    }

    /// The window is per reader (necd.toml(5): "on the same reader"): the same card on a
    /// second till within it is a tap of that till, decided (one lunch a day still holds),
    /// while laying it again on either till within the window decides nothing.
    @Test func theSameCardOnAnotherReaderWithinTheWindowIsDecidedThere() async throws {
        let d = try await Self.daemon(debounce: 30)
        // The rig's first reader: no [[reader]] table names it, so it is a till.
        let otherPort = VirtualReaders.ports[0]
        let otherReader = try #require(VirtualReaders.environment["NECD_VPCD_READERS"]?.split(separator: "\n").first.map(String.init))
        try await d.waitUntilNecdSeesEmpty([otherReader])
        let watch = try d.watcher()
        let card = DaemonFixture.card(DaemonFixture.lunchCard)
        try await d.layAndLift(card)
        let first = try d.decision(watch)
        #expect(first["reader"] as? String == d.tillReader)
        #expect(first["kind"] as? String == "lunch")

        try await d.layAndLift(card, on: otherPort, reader: otherReader)
        let there = try d.decision(watch)
        #expect(there["class"] as? String == "TAP")
        #expect(there["reader"] as? String == otherReader)
        #expect(there["pupil"] as? String == "TEST-0001")
        #expect(there["reason"] as? String == "already_redeemed")

        // Each reader remembers the card on its own.
        try await d.layAndLift(card, on: otherPort, reader: otherReader)
        try await d.waitForLog(otherReader + Self.heldBack, count: 1)
        try await d.layAndLift(card)
        try await d.waitForLog(d.tillReader + Self.heldBack, count: 1)
        #expect(try received(watch).isEmpty, "a second decision within the window")
    }

    /// `debounce` is one of the settings SIGHUP applies to the next tap.
    @Test func aReloadedWindowAppliesToTheNextTap() async throws {
        let (d, watch, card, _) = try await Self.lunchServed(debounce: 30)
        try d.configure("", debounce: 0)
        try await d.reload()
        try await d.layAndLift(card)
        #expect(try d.decision(watch)["reason"] as? String == "already_redeemed")
        #expect(d.logCount(Self.heldBack) == 0)
    }
}

extension DaemonFixture {
    /// Lays `card` on the reader at `port` for 0.7 s (pcscd polls vpcd every 0.4 s), lifts
    /// it, and waits until necd has seen `reader` empty: the next laying is a new card to
    /// the reader monitor. The till's reader unless told.
    func layAndLift(_ card: VirtualCardModel, on port: UInt16? = nil, reader: String? = nil) async throws {
        try await VirtualCardRunner.tap(card: card, port: port ?? tillPort, hold: .milliseconds(700))
        try await waitUntilNecdSeesEmpty([reader ?? tillReader])
    }

    /// How many lines of necd's log so far contain one of `texts`.
    func logCount(_ texts: String...) -> Int { logLines(containing: texts) }

    private func logLines(containing texts: [String]) -> Int {
        (daemon?.stderr ?? "").split(separator: "\n").filter { line in texts.contains { line.contains($0) } }.count
    }

    /// Waits until `count` lines of necd's log contain one of `texts`; fails with the log
    /// after `timeout`.
    func waitForLog(_ texts: String..., count: Int, timeout: Duration = .seconds(10)) async throws {
        try await waitUntil("necd logged \(count) × \(texts)", timeout: timeout, every: .milliseconds(50), detail: { self.daemon?.stderr ?? "" }) {
            logLines(containing: texts) >= count
        }
    }

    /// Sends necd SIGHUP and waits until it has applied the file or refused it (its log
    /// says which).
    func reload() async throws {
        let daemon = try #require(daemon)
        let outcomes = ("configuration reloaded", "keeping the settings in force")
        let before = logCount(outcomes.0, outcomes.1)
        kill(daemon.pid, SIGHUP)
        try await waitForLog(outcomes.0, outcomes.1, count: before + 1)
    }
}

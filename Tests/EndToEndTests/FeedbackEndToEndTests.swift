import Foundation
import Glibc
import NECCard
import NECTestSupport
import Synchronization
import Testing
import VirtualCard

/// Reader feedback end to end: real pcscd and vpcd, VirtualCard taps, a real necd. The
/// virtual card logs every APDU it receives, the reader's pseudo-APDUs included (vpcd
/// passes them on), so the test sees exactly what necd sent after the identity read; and
/// at the moment the first feedback APDU arrives it looks into a watcher's socket, so
/// "the event was out first" is decided by what had happened by then, not by clocks.
@Suite(.serialized, .needsRig)
struct FeedbackEndToEndTests {
    static let greenBeep: [UInt8] = [0xFF, 0x00, 0x40, 0xA0, 0x04, 0x02, 0x01, 0x01, 0x01]
    static let redTwoBeeps: [UInt8] = [0xFF, 0x00, 0x40, 0x50, 0x04, 0x01, 0x01, 0x02, 0x01]

    /// A fixture whose till reader has `feedback` set as given (the kiosk's left to its name).
    static func fixture(tillFeedback: String) throws -> DaemonFixture {
        let d = try DaemonFixture()
        let config = """
            socket = "\(d.socketPath)"
            socket_group = "necd-no-such-group"
            database = "\(d.databasePath)"
            debounce = 0.5

            [[reader]]
            match = "\(d.kioskReader)"
            role = "kiosk"
            lane = "kiosk-1"

            [[reader]]
            match = "\(d.tillReader)"
            role = "till"
            lane = "till-1"
            feedback = "\(tillFeedback)"

            """
        try config.write(toFile: d.configPath, atomically: true, encoding: .utf8)
        return d
    }

    /// Starts necd with the till's `feedback` as given, and taps the lunch card once on the
    /// kiosk (a "Virtual PCD" name: no feedback by default), which is what the identity
    /// read alone sends.
    static func started(tillFeedback: String) async throws -> (DaemonFixture, RawWatcher, identityRead: [[UInt8]]) {
        let d = try fixture(tillFeedback: tillFeedback)
        try await d.start()
        let watch = try RawWatcher(path: d.socketPath)
        let identityRead = try await FeedbackTap.plain(DaemonFixture.card(DaemonFixture.lunchCard), port: d.kioskPort)
        let kioskEvent = try watch.decision()
        #expect(kioskEvent["class"] as? String == "IDENTIFY")
        #expect(kioskEvent["reader"] as? String == d.kioskReader)
        #expect(identityRead.isEmpty == false)
        #expect(identityRead.allSatisfy { !FeedbackTap.isFeedback($0) })
        try await FeedbackTap.readerEmpty()
        return (d, watch, identityRead)
    }

    @Test func authorisedDeclinedAndUnreadableTapsAreShownAfterTheirEvent() async throws {
        let (d, watch, identityRead) = try await Self.started(tillFeedback: "acs")

        // The same pupil twice, then a bad SECRC: authorised shows green and one beep;
        // declined (already_redeemed), and unreadable like any declined reason, red and
        // two beeps. Each after its event.
        let broken = DaemonFixture.card(DaemonFixture.lunchCard).with(.badSECRC)
        let second = DaemonFixture.card(DaemonFixture.secondLunchCard)
        let taps: [(VirtualCardModel, decision: String, reason: String?, feedback: [UInt8])] = [
            (second, "authorised", nil, Self.greenBeep),
            (second, "declined", "already_redeemed", Self.redTwoBeeps),
            (broken, "declined", "unreadable", Self.redTwoBeeps),
        ]
        for (card, decision, reason, feedback) in taps {
            let seen = try await FeedbackTap.untilFeedback(card, port: d.tillPort, watch: watch)
            let event = try watch.decision()
            #expect(event["class"] as? String == "TAP")
            #expect(event["decision"] as? String == decision)
            #expect(event["reason"] as? String == reason)
            #expect(seen.commands == identityRead + [feedback], "\(decision) \(reason ?? "")")
            #expect(seen.eventWasOutFirst == true, "\(decision) \(reason ?? "")")
            try await FeedbackTap.readerEmpty()
        }
        await d.stopDaemon()
    }

    @Test func withFeedbackNoneNothingFollowsTheIdentityRead() async throws {
        // The kiosk reader ("Virtual PCD" by name: none by default) and the till (none by
        // its table) both read the card and send nothing more, for either decision.
        let (d, watch, onKiosk) = try await Self.started(tillFeedback: "none")
        let card = DaemonFixture.card(DaemonFixture.lunchCard)
        let onTill = try await FeedbackTap.plain(card, port: d.tillPort)
        let tap = try watch.decision()
        #expect(tap["decision"] as? String == "authorised")
        try await FeedbackTap.readerEmpty()
        let declinedOnTill = try await FeedbackTap.plain(card, port: d.tillPort)
        #expect(try watch.decision()["reason"] as? String == "already_redeemed")
        #expect(onTill == onKiosk)
        #expect(declinedOnTill == onKiosk)
        await d.stopDaemon()
    }

    @Test func aCardThatLeavesAtTheFeedbackChangesNothing() async throws {
        let (d, watch, identityRead) = try await Self.started(tillFeedback: "acs")

        // The card leaves the field at the feedback APDU: the decision stands as published.
        let leaving = DaemonFixture.card(DaemonFixture.restartCard).with(.removeAfter(apdus: identityRead.count))
        let left = try await FeedbackTap.untilFeedback(leaving, port: d.tillPort, watch: watch)
        #expect(left.commands == identityRead + [Self.greenBeep])
        #expect(left.eventWasOutFirst == true)
        let tap = try watch.decision()
        #expect(tap["decision"] as? String == "authorised")
        #expect(tap["pupil"] as? String == "TEST-0007")
        try await FeedbackTap.readerEmpty()

        // necd is unharmed: the next tap on that reader is decided and shown.
        let next = try await FeedbackTap.untilFeedback(DaemonFixture.card(DaemonFixture.restartCard), port: d.tillPort, watch: watch)
        let again = try watch.decision()
        #expect(again["reason"] as? String == "already_redeemed")
        #expect(again["seq"] as? Int == (tap["seq"] as? Int).map { $0 + 1 })
        #expect(next.commands == identityRead + [Self.redTwoBeeps])
        #expect(await d.stopDaemon() == 0)
    }
}

/// Taps that record what the card received.
enum FeedbackTap {
    struct Seen {
        var commands: [[UInt8]]
        /// Whether the TAP event was in the watcher's socket when the first feedback APDU
        /// reached the card; nil when none came.
        var eventWasOutFirst: Bool?
    }

    /// An ACS LED or buzzer pseudo-APDU (`FF 00 40`, `FF 00 44`, `FF 00 52`).
    static func isFeedback(_ command: [UInt8]) -> Bool {
        command.count >= 5 && command[0] == 0xFF && command[1] == 0x00 && [0x40, 0x44, 0x52].contains(command[2])
    }

    /// Taps `card` for the rig's usual dwell and returns every APDU it received.
    static func plain(_ card: VirtualCardModel, port: UInt16) async throws -> [[UInt8]] {
        let statistics = try await VirtualCardRunner.tap(card: card, port: port, hold: .milliseconds(700))
        return statistics.commands
    }

    /// Lays `card` on the reader and keeps it there until the first feedback APDU has
    /// arrived (or the card left by itself), failing after 10 s.
    static func untilFeedback(_ card: VirtualCardModel, port: UInt16, watch: RawWatcher) async throws -> Seen {
        let seen = Mutex(Seen(commands: []))
        let descriptor = watch.descriptor
        let answered = Mutex(false)
        let session = try await VirtualCardSession.insert(card, port: port) { event in
            switch event {
            case .received(let command):
                seen.withLock { seen in
                    seen.commands.append(command)
                    if isFeedback(command), seen.eventWasOutFirst == nil {
                        seen.eventWasOutFirst = RawWatcher.buffered(descriptor).contains(#""class":"TAP""#)
                    }
                }
            case .answered(let command, _) where isFeedback(command):
                answered.withLock { $0 = true }
            default:
                break
            }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while !answered.withLock({ $0 }), session.statistics.ending == nil {
            guard ContinuousClock.now < deadline else {
                await session.remove()
                throw LineSocket.Failure(description: "no feedback APDU within 10 s; the card got \(seen.withLock { $0.commands })")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        await session.remove()
        // The card's thread has ended: everything it received is in.
        return seen.withLock { $0 }
    }

    /// Waits as the fixture does for pcscd to see the readers empty before the next tap,
    /// and paces it past `debounce` (0.5 s), since the next may be the same card.
    static func readerEmpty() async throws {
        try await VirtualReaders.waitUntilEmpty(VirtualReaders.readers)
        // Pacing, not a wait: the same card laid again within `debounce` of leaving would be
        // the same tap by design.
        try await Task.sleep(for: .milliseconds(700))
    }
}

/// A watcher on necd's socket made of plain POSIX calls, whose unread bytes can be looked
/// at from another thread without taking them (`MSG_PEEK`).
final class RawWatcher: @unchecked Sendable {
    let descriptor: Int32
    private var pending: [UInt8] = []

    init(path: String) throws {
        descriptor = try LineSocket.connected(to: path)
        guard try object()?["class"] as? String == "VERSION" else { throw LineSocket.Failure(description: "no VERSION banner") }
        let command = Array(#"{"cmd":"watch","enable":true}"#.utf8) + [0x0A]
        guard write(descriptor, command, command.count) == command.count else { throw LineSocket.Failure(description: "write failed") }
        guard try object()?["class"] as? String == "WATCH" else { throw LineSocket.Failure(description: "no WATCH answer") }
    }

    deinit { close(descriptor) }

    /// What the socket holds unread right now, without reading it.
    static func buffered(_ descriptor: Int32) -> String {
        var bytes = [UInt8](repeating: 0, count: 65536)
        let count = recv(descriptor, &bytes, bytes.count, Int32(MSG_PEEK | MSG_DONTWAIT))
        return count > 0 ? String(decoding: bytes.prefix(count), as: UTF8.self) : ""
    }

    /// The next TAP or IDENTIFY event, failing after 6 s.
    func decision() throws -> [String: Any] {
        let deadline = ContinuousClock.now + .seconds(6)
        while ContinuousClock.now < deadline {
            guard let object = try object(until: deadline) else { break }
            if ["TAP", "IDENTIFY"].contains(object["class"] as? String ?? "") { return object }
        }
        throw LineSocket.Failure(description: "no decision within 6 s")
    }

    private func object(until deadline: ContinuousClock.Instant = .now + .seconds(6)) throws -> [String: Any]? {
        while true {
            if let end = pending.firstIndex(of: 0x0A) {
                let line = Array(pending[..<end])
                pending.removeFirst(end + 1)
                return try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
            }
            let left = deadline - .now
            guard left > .zero else { return nil }
            var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000, 6000))
            guard poll(&waiting, 1, max(1, milliseconds)) > 0 else { continue }
            var bytes = [UInt8](repeating: 0, count: 4096)
            let count = read(descriptor, &bytes, bytes.count)
            guard count > 0 else { return nil }
            pending += bytes.prefix(count)
        }
    }
}

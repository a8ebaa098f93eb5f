import Foundation
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Synchronization
import Testing

/// A journal of whatever events a test writes, behind the real socket server: declines,
/// kiosk identifications and large seqs, which the in-memory backend does not make.
final class JournalBackend: DaemonBackend {
    private let events = Mutex<[EventLine]>([])

    /// Stores `event` and returns its line for ``SocketServer/publish(_:)``.
    @discardableResult
    func store(_ event: TapEvent) -> EventLine {
        let line = EventLine(seq: event.seq, line: MessageCoding.line(event))
        events.withLock { $0.append(line) }
        return line
    }

    func storedEvents(after seq: Int64, limit: Int) async throws -> [EventLine] {
        events.withLock { lines in Array(lines.filter { ($0.seq ?? 0) > seq }.prefix(limit)) }
    }

    func readers() async -> ReadersMessage { ReadersMessage(readers: []) }

    func status() async -> StatusMessage {
        StatusMessage(uptime: 1, pcscdConnected: true, readerCount: 0, lastSeq: events.withLock { $0.last?.seq })
    }

    func lookup(card: String) async throws -> LookupMessage { throw RequestRefusal("not in this test") }

    func void(seq: Int64) async throws -> VoidMessage { throw RequestRefusal("not in this test") }
}

/// `necctl watch` for people: words instead of codes, fixed columns, masked card numbers,
/// and a word when necd goes away and comes back.
struct WatchFormatTests {
    private static let time = "2026-11-27T12:01:02.000Z"  // 12:01:02 in Europe/London (GMT in November)

    private static func tap(
        _ seq: Int64, _ decision: Decision, kind: AuthorisationKind? = nil, reason: DeclineReason? = nil,
        kiosk: Bool = false, isrn: String? = "633597999900000018", uid: String? = nil, pupil: String? = "TEST-0042",
        lane: String? = "till-1", allergens: [String]? = nil
    ) -> TapEvent {
        TapEvent(
            messageClass: kiosk ? .identify : .tap, seq: seq, time: time, reader: "Test Reader 00 00", lane: lane,
            card: CardInfo(isrn: isrn, uid: uid, media: .desfire), decision: decision, kind: kind, reason: reason,
            pupil: pupil, allergens: allergens)
    }

    /// Every kind of line, replayed with --since 0 so nothing depends on when watch connected.
    private static let journal: [TapEvent] = [
        tap(1, .authorised, kind: .lunch, allergens: ["milk"]),
        tap(2, .declined, reason: .cardExpired),
        tap(3, .authorised, kind: .lunch, kiosk: true, lane: "kiosk-1"),
        tap(4, .declined, reason: .unknownCard, kiosk: true, isrn: nil, uid: "04A1B2C3D4E580", pupil: nil, lane: "kiosk-1"),
        tap(99, .declined, reason: .alreadyRedeemed, lane: nil),
        tap(123_456, .declined, reason: DeclineReason(rawValue: "list_untrusted")),
    ]

    @Test func humanLinesSayWhatHappenedInFixedColumnsWithCardsMasked() async throws {
        let backend = JournalBackend()
        for event in Self.journal { backend.store(event) }
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { _, socket in
                let watch = try ChildProcess(BuiltProducts.necctl, ["watch", "--since", "0", "--socket", socket, "--config", "/dev/null"])
                defer { watch.stop() }
                let lines = await watch.waitForLines(Self.journal.count, timeout: .seconds(15))
                #expect(lines == [
                    "12:01:02        #1  till-1                633597******0018      authorised: free lunch  pupil *******42  allergens: milk",
                    "12:01:02        #2  till-1                633597******0018      declined: card expired  pupil *******42",
                    "12:01:02        #3  kiosk-1               633597******0018      identified: entitled to a free lunch (nothing redeemed)  pupil *******42",
                    "12:01:02        #4  kiosk-1               uid 04A1B2******E580  identified: would be declined (card not on the list)",
                    "12:01:02       #99  Test Reader 00 00     633597******0018      declined: already had today's lunch  pupil *******42",
                    "12:01:02   #123456  till-1                633597******0018      declined: the list in force is not signed by a trusted key  pupil *******42",
                ], "stderr: \(watch.stderr)")
                for line in lines {
                    #expect(!line.contains("633597999900000018") && !line.contains("633597 9999 0000 0018") && !line.contains("TEST-0042"))
                    #expect(!line.contains("AUTHORISED") && !line.contains("DECLINED") && !line.contains("_"), "a protocol code: \(line)")
                }
            }
        }
    }

    @Test func showCardNumbersShowsThemForTheCardOffice() async throws {
        let backend = JournalBackend()
        backend.store(Self.journal[0])
        backend.store(Self.journal[3])
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { _, socket in
                let watch = try ChildProcess(BuiltProducts.necctl, ["watch", "--since", "0", "--show-card-numbers", "--socket", socket, "--config", "/dev/null"])
                defer { watch.stop() }
                let lines = await watch.waitForLines(2, timeout: .seconds(15))
                #expect(lines == [
                    "12:01:02        #1  till-1                633597 9999 0000 0018     authorised: free lunch  pupil TEST-0042  allergens: milk",
                    "12:01:02        #4  kiosk-1               uid 04A1B2C3D4E580        identified: would be declined (card not on the list)",
                ], "stderr: \(watch.stderr)")
            }
        }
    }

    @Test func jsonIsMaskedByDefaultAndTheDaemonsOwnLinesWithShowCardNumbers() async throws {
        let backend = JournalBackend()
        let stored = [backend.store(Self.journal[0]), backend.store(Self.journal[3])]
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { _, socket in
                let masked = try ChildProcess(BuiltProducts.necctl, ["watch", "--json", "--since", "0", "--socket", socket, "--config", "/dev/null"])
                defer { masked.stop() }
                let full = try ChildProcess(
                    BuiltProducts.necctl, ["watch", "--json", "--since", "0", "--show-card-numbers", "--socket", socket, "--config", "/dev/null"])
                defer { full.stop() }

                #expect(await full.waitForLines(2, timeout: .seconds(15)) == stored.map(\.json))
                let lines = await masked.waitForLines(2, timeout: .seconds(15))
                try #require(lines.count == 2, "stderr: \(masked.stderr)")
                let first = try MessageCoding.daemonMessage(from: Array(lines[0].utf8))
                guard case .tap(let tap) = first else { Issue.record("not a TAP: \(lines[0])"); return }
                #expect(tap.card.isrn == "633597******0018")
                #expect(tap.pupil == "*******42")
                #expect(tap.seq == 1)
                #expect(tap.decision == .authorised)
                #expect(tap.allergens == ["milk"])
                guard case .tap(let identify) = try MessageCoding.daemonMessage(from: Array(lines[1].utf8)) else {
                    Issue.record("not an IDENTIFY: \(lines[1])")
                    return
                }
                #expect(identify.messageClass == .identify)
                #expect(identify.card.uid == "04A1B2******E580")
                #expect(identify.card.isrn == nil)
                #expect(identify.pupil == nil)
            }
        }
    }

    /// necd goes away; watch retries several times against a socket that closes at once
    /// (never a daemon); necd comes back. One line says it is gone and one that it is back.
    @Test func watchSaysOnceThatNecdIsGoneAndOnceThatItIsBack() async throws {
        let backend = JournalBackend()
        let first = backend.store(Self.journal[0])
        try await withTemporaryDirectory { directory in
            let socket = directory + "/necd.sock"
            let arguments = ["watch", "--json", "--show-card-numbers", "--since", "0", "--socket", socket, "--config", "/dev/null"]
            let watch: ChildProcess = try await withSocketServer(backend: backend, in: directory) { _, _ in
                let watch = try ChildProcess(BuiltProducts.necctl, arguments)
                #expect(await watch.waitForLines(1, timeout: .seconds(15)) == [first.json], "stderr: \(watch.stderr)")
                return watch
            }
            defer { watch.stop() }
            // Which words depend on how far the server's shutdown had gone when watch looked.
            let goneLines = [
                "necctl: necd is not running (no socket at \(socket)); waiting for it...",
                "necctl: necd is not running (nothing is listening on \(socket)); waiting for it...",
                "necctl: lost the connection to necd; reconnecting...",
            ]
            let gone = await Self.waitFor(timeout: .seconds(15)) { !watch.stderr.isEmpty }
            #expect(gone, "watch said nothing when necd went away")

            // Something that accepts and hangs up: each reconnection attempt fails again.
            let mute = try ChildProcess("/usr/bin/env", ["python3", "-u", "-c", """
                import os, socket, sys
                s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
                while True:
                    c, _ = s.accept(); c.close(); print("accepted")
                """, socket])
            let attempts = await mute.waitForLines(2, timeout: .seconds(30))
            mute.stop()
            #expect(attempts.count >= 2, "watch did not retry: \(mute.stderr)")
            unlink(socket)

            let missed = backend.store(Self.tap(2, .declined, reason: .cardExpired))
            try await withSocketServer(backend: backend, in: directory) { _, _ in
                let back = await Self.waitFor(timeout: .seconds(30)) { watch.stderr.contains("necd is back") }
                #expect(back, "stderr: \(watch.stderr)")
                #expect(await watch.waitForLines(2, timeout: .seconds(15)) == [first.json, missed.json])
                let said = watch.stderr.split(separator: "\n").map(String.init)
                try #require(said.count == 2, "\(said)")
                #expect(goneLines.contains(said[0]), "\(said[0])")
                #expect(said[1] == "necctl: necd is back; following its events again")
            }
        }
    }

    /// Polls `condition` every 50 ms until it holds or `timeout` passes.
    static func waitFor(timeout: Duration, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }
}

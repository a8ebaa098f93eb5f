import Entitlements
import Foundation
import InMemoryLogging
import Logging
import NECCard
@testable import NECDaemon
import NECTestSupport
import PCSC
import Testing
import ProtocolMapping
import NECSocketServerTesting
import NECSocketServer
import NECConfiguration
import NECCardReading

/// The daemon's middle without pcscd: reader events made up by the test go into a
/// ``TapPipeline`` over a real SQLite store (a two-row list imported) and a real socket
/// server on a temporary socket; a real client watching sees what the pipeline publishes.
@Suite("Tap pipeline: reader events in, READER and TAP lines out", .timeLimit(.minutes(1)))
struct TapPipelineTests {
    static let lunchCard = "633597999900000019"
    static let paidCard = "633597999900000027"
    static let unknownCard = "633597999900000035"
    static let till = "Till Reader 00 00"
    static let kiosk = "Kiosk Reader 00 01"
    static let atr: [UInt8] = [0x3B, 0x81, 0x80, 0x01, 0x80, 0x80]
    /// 2026-03-02 12:00:00 UTC, a Monday.
    static let noon = Date(timeIntervalSince1970: 1_772_452_800)

    /// What a test drives and looks at.
    struct Rig {
        let events: ScriptedReaderEvents
        let registry: ReaderRegistry
        let store: EntitlementStore
        let watcher: SocketTestClient
        let log: InMemoryLogHandler

        /// The next line the watcher receives; nil when none comes within `timeout` (a
        /// line the pipeline failed to publish fails the test, rather than hanging it; the
        /// bound is far above a line's time, since the suite runs in parallel on two cores).
        func line(timeout: Duration = .seconds(50)) async -> String? {
            let watcher = self.watcher
            return await withTaskGroup(of: String?.self) { group in
                group.addTask { await watcher.nextLine() }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
        }
    }

    /// A pipeline running over a fresh store and socket while `body` runs; its events
    /// end afterwards and the pipeline is waited for.
    static func withPipeline(debounce: Duration = .seconds(60), _ body: (Rig) async throws -> Void) async throws {
        try await withTemporaryDirectory { directory in
            let store = try EntitlementStore(path: directory + "/necd.sqlite")
            let list = "card,pupil,entitlement,daily_limit\n\(lunchCard),TEST-0001,fsm,\n\(paidCard),TEST-0002,paid,250\n"
            try list.write(toFile: directory + "/list.csv", atomically: true, encoding: .utf8)
            try store.importList(path: directory + "/list.csv")
            var configuration = NECConfiguration()
            configuration.timeZone = try #require(TimeZone(identifier: "Europe/London"))
            configuration.debounce = debounce
            configuration.readers = [
                ReaderRule(match: "Till Reader *", role: .till, lane: "till-1"),
                ReaderRule(match: "Kiosk Reader *", role: .kiosk, lane: "kiosk-1"),
            ]
            let state = DaemonState(configuration: configuration, store: store)
            let registry = ReaderRegistry()
            let log = InMemoryLogHandler()
            let logger = Logger(label: "necd.test") { _ in log }
            try await withSocketServer(backend: DaemonBackendStore(state: state, registry: registry), in: directory) { server, path in
                let watcher = try await connectPastBanner(path)
                try await watcher.send(#"{"cmd":"watch","enable":true}"#)
                #expect(await watcher.nextLine() == #"{"class":"WATCH","enable":true,"since":0}"#)
                try await waitUntil("the watcher is live") { server.liveWatcherCount == 1 }
                let events = ScriptedReaderEvents()
                let pipeline = TapPipeline(state: state, registry: registry, server: server, events: events, logger: logger)
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await pipeline.run() }
                    let rig = Rig(events: events, registry: registry, store: store, watcher: watcher, log: log)
                    do {
                        try await body(rig)
                    } catch {
                        events.stop()
                        try? await tasks.waitForAll()
                        throw error
                    }
                    events.stop()
                    try await tasks.waitForAll()
                }
                await watcher.close()
            }
        }
    }

    /// A successful read of an ITSO DESFire card with this ISRN.
    static func reading(
        _ isrn: String, on reader: String = till, seenAt: ContinuousClock.Instant = .now, time: Date = noon
    ) throws -> TapReading {
        TapReading(
            reader: reader, atr: atr, result: .success(CardIdentity(media: .desfire, isrn: try ISRN(isrn))),
            exchanges: [], seenAt: seenAt, finishedAt: seenAt, time: time)
    }

    static func present(_ reading: TapReading) -> ScriptedReaderEvents.Element {
        .cardPresent(reader: reading.reader, atr: reading.atr, reading: reading)
    }

    @Test func readersComingAndGoingArePublishedAsReaderLines() async throws {
        try await Self.withPipeline { rig in
            await rig.events.send(.readerAdded(Self.till))
            #expect(await rig.line() == #"{"class":"READER","name":"Till Reader 00 00","state":"empty","role":"till"}"#)
            await rig.events.send(.readerAdded(Self.kiosk))
            #expect(await rig.line() == #"{"class":"READER","name":"Kiosk Reader 00 01","state":"empty","role":"kiosk"}"#)
            #expect(rig.registry.pcscdConnected)
            #expect(rig.registry.readers.map(\.name) == [Self.kiosk, Self.till])

            await rig.events.send(.readerUnavailable(Self.till))
            #expect(await rig.line() == #"{"class":"READER","name":"Till Reader 00 00","state":"unavailable","role":"till"}"#)
            #expect(rig.registry.readers.first { $0.name == Self.till }?.entry == ReaderRegistry.Entry(state: .unavailable, atr: nil))

            await rig.events.send(.readerRemoved(Self.kiosk))
            #expect(await rig.line() == #"{"class":"READER","name":"Kiosk Reader 00 01","state":"unavailable","role":"kiosk"}"#)
            #expect(rig.registry.readers.map(\.name) == [Self.till])
        }
    }

    @Test func aTapIsDecidedStoredThenPublishedWithTheCardMaskedInTheLog() async throws {
        try await Self.withPipeline { rig in
            await rig.events.send(.readerAdded(Self.till))
            _ = await rig.line()
            await rig.events.send(Self.present(try Self.reading(Self.lunchCard)))
            #expect(
                await rig.line()
                    == #"{"class":"TAP","seq":1,"time":"2026-03-02T12:00:00.000Z","reader":"Till Reader 00 00","lane":"till-1","method":"card","card":{"isrn":"633597999900000019","media":"desfire"},"decision":"authorised","kind":"lunch","pupil":"TEST-0001"}"#
            )
            #expect(try rig.store.lastSeq() == 1)
            #expect(rig.registry.readers.first?.entry == ReaderRegistry.Entry(state: .present, atr: Self.atr))
            // The card leaves; another, unlisted, is declined.
            await rig.events.send(.cardRemoved(reader: Self.till))
            #expect(rig.registry.readers.first?.entry == ReaderRegistry.Entry(state: .empty, atr: nil))
            await rig.events.send(Self.present(try Self.reading(Self.unknownCard)))
            #expect(
                await rig.line()
                    == #"{"class":"TAP","seq":2,"time":"2026-03-02T12:00:00.000Z","reader":"Till Reader 00 00","lane":"till-1","method":"card","card":{"isrn":"633597999900000035","media":"desfire"},"decision":"declined","reason":"unknown_card"}"#
            )
            // The lane logs a decision after publishing it, and starts its next one after
            // that: with the second published, the first is in the log.
            let summary = rig.log.entries.first { $0.level == .info && "\($0.message)".hasPrefix("TAP ") }
            #expect(summary?.message == "TAP Till Reader 00 00: card 633597******0019 authorised lunch seq 1")
            // The pupil reference (TEST-0001) is not logged, not even masked.
            #expect(summary?.metadata["pupil"] == nil)
        }
    }

    /// A read that failed (the card left mid-read) is never decided: the next line is
    /// the decision of the tap after it.
    @Test func aFailedReadGivesNoDecision() async throws {
        try await Self.withPipeline { rig in
            await rig.events.send(.readerAdded(Self.kiosk))
            _ = await rig.line()
            let failed = TapReading(
                reader: Self.kiosk, atr: Self.atr,
                result: .failure(TapReading.Failure(message: "card removed during the read", pcscError: .removedCard, apdus: 2)),
                exchanges: [], seenAt: .now, finishedAt: .now, time: Self.noon)
            await rig.events.send(Self.present(failed))
            #expect(rig.log.entries.map { "\($0.message)" }.contains("Kiosk Reader 00 01: no decision: card removed during the read"))
            await rig.events.send(.cardRemoved(reader: Self.kiosk))
            await rig.events.send(.cardPresent(reader: Self.kiosk, atr: Self.atr, reading: nil))
            await rig.events.send(.cardRemoved(reader: Self.kiosk))
            await rig.events.send(Self.present(try Self.reading(Self.paidCard, on: Self.kiosk)))
            #expect(
                await rig.line()
                    == #"{"class":"IDENTIFY","seq":1,"time":"2026-03-02T12:00:00.000Z","reader":"Kiosk Reader 00 01","lane":"kiosk-1","method":"card","card":{"isrn":"633597999900000027","media":"desfire"},"decision":"authorised","kind":"payment","pupil":"TEST-0002","daily_limit":250}"#
            )
            #expect(try rig.store.lastSeq() == 1)
        }
    }

    /// The same card laid again within the window after it left is decided once; laid
    /// again after the window has passed since it left, it is decided a second time.
    /// The instants are the readings' own (`seenAt`), so no clock decides the test.
    @Test func aRetapWithinTheWindowIsDecidedOnceAndAfterItAgain() async throws {
        try await Self.withPipeline(debounce: .seconds(60)) { rig in
            await rig.events.send(.readerAdded(Self.till))
            _ = await rig.line()
            let first = ContinuousClock.now
            await rig.events.send(Self.present(try Self.reading(Self.lunchCard, seenAt: first)))
            #expect(await rig.line() == Self.tapLine(seq: 1, time: "2026-03-02T12:00:00.000Z"))

            await rig.events.send(.cardRemoved(reader: Self.till))
            await rig.events.send(
                Self.present(try Self.reading(Self.lunchCard, seenAt: first + .seconds(1), time: Self.noon + 1)))
            await rig.events.send(.cardRemoved(reader: Self.till))
            // The window runs from the removal just handled: a minute past it is outside.
            let removed = ContinuousClock.now
            await rig.events.send(
                Self.present(try Self.reading(Self.lunchCard, seenAt: removed + .seconds(61), time: Self.noon + 120)))
            // Had the re-tap been decided, this line would be its decision (12:00:01).
            #expect(await rig.line() == Self.tapLine(seq: 2, time: "2026-03-02T12:02:00.000Z", Self.redeemed))
            #expect(try rig.store.lastSeq() == 2)
        }
    }

    static let lunch = #""decision":"authorised","kind":"lunch""#
    static let redeemed = #""decision":"declined","reason":"already_redeemed""#

    /// The lunch card's TAP on the till.
    static func tapLine(seq: Int, time: String, _ verdict: String = lunch) -> String {
        #"{"class":"TAP","seq":\#(seq),"time":"\#(time)","reader":"Till Reader 00 00","lane":"till-1","method":"card","card":{"isrn":"633597999900000019","media":"desfire"},\#(verdict),"pupil":"TEST-0001"}"#
    }

    /// pcscd lost: every reader it had is published unavailable and the registry (which
    /// `status` and `readers` answer from) says pcscd is not connected; back again, the readers it lists are published as they are, and
    /// taps are decided again.
    @Test func pcscdLostAndBack() async throws {
        try await Self.withPipeline { rig in
            await rig.events.send(.readerAdded(Self.till))
            _ = await rig.line()
            await rig.events.send(.readerAdded(Self.kiosk))
            _ = await rig.line()
            await rig.events.send(Self.present(try Self.reading(Self.paidCard, on: Self.kiosk)))
            #expect(await rig.line()?.hasPrefix(#"{"class":"IDENTIFY","seq":1,"#) == true)

            await rig.events.send(.serviceLost(.noService))
            #expect(await rig.line() == #"{"class":"READER","name":"Kiosk Reader 00 01","state":"unavailable","role":"kiosk"}"#)
            #expect(await rig.line() == #"{"class":"READER","name":"Till Reader 00 00","state":"unavailable","role":"till"}"#)
            #expect(!rig.registry.pcscdConnected)
            #expect(rig.registry.readers.map(\.entry) == [ReaderRegistry.Entry(state: .unavailable, atr: nil), ReaderRegistry.Entry(state: .unavailable, atr: nil)])
            #expect(rig.log.entries.contains { $0.level == .error && "\($0.message)".hasPrefix("pcscd unreachable: ") })

            await rig.events.send(.serviceRestored)
            #expect(rig.registry.pcscdConnected)
            await rig.events.send(.readerAdded(Self.till))
            #expect(await rig.line() == #"{"class":"READER","name":"Till Reader 00 00","state":"empty","role":"till"}"#)
            await rig.events.send(Self.present(try Self.reading(Self.lunchCard)))
            #expect(await rig.line() == Self.tapLine(seq: 2, time: "2026-03-02T12:00:00.000Z"))
        }
    }
}

import Foundation
import Glibc
import NECTestSupport
import PCSC
import Testing

/// What scripts/with-virtual-readers tells the tests about its private pcscd.
enum Rig {
    static let environment = ProcessInfo.processInfo.environment
    static var readers: [String] {
        (environment["NECD_VPCD_READERS"] ?? "").split(separator: "\n").map(String.init)
    }
    static var ports: [UInt16] {
        (environment["NECD_VPCD_PORTS"] ?? "").split(separator: ",").compactMap { UInt16($0) }
    }

    /// Runs the rig's pcscd control command (stop, kill, start, ...), which waits for
    /// pcscd itself. posix_spawn and waitpid, because Foundation's Process left the
    /// command a zombie and waitUntilExit hanging here.
    static func pcscd(_ command: String) throws {
        let control = try #require(environment["NECD_PCSCD_CTL"])
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(control), strdup(command), nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, control, nil, nil, argv, environ)
        try #require(spawned == 0, "posix_spawn \(control): \(spawned)")
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        #expect(status == 0, "pcscd-ctl \(command) exited with status \(status)")
    }
}

/// Ends a monitor after `limit`, so a missing event fails a test instead of hanging it.
func stopping<Reading>(_ monitor: ReaderMonitor<Reading>, after limit: Duration) -> Task<Void, Never> {
    Task {
        try? await Task.sleep(for: limit)
        monitor.stop()
    }
}

/// Tests against a real pcscd. Serialised: some stop pcscd, which every other test would notice.
@Suite(.serialized, .needsRig)
struct LivePCSCTests {
    @Test func listReadersFindsTheVirtualReaders() throws {
        let context = try PCSCContext.establish()
        defer { try? context.release() }
        #expect(context.isValid)
        let names = try context.listReaders()
        #expect(!Rig.readers.isEmpty)
        #expect(names == Rig.readers)
    }

    @Test func statusChangeReportsEmptyReadersAndTimesOut() throws {
        let context = try PCSCContext.establish()
        defer { try? context.release() }
        var states = try context.listReaders().map { ReaderState(reader: $0) }
        try context.statusChange(&states, timeout: 0)
        for state in states {
            #expect(state.eventState.contains(.empty), "\(state.reader): \(state.eventState)")
            #expect(state.atr.isEmpty)
        }
        states = states.map { var state = $0; state.acknowledge(); return state }
        #expect(throws: PCSCError.timeout) { try context.statusChange(&states, timeout: 50) }
    }

    @Test func connectingToAnEmptyReaderNamesTheError() throws {
        let context = try PCSCContext.establish()
        defer { try? context.release() }
        let reader = try #require(Rig.readers.first)
        #expect(throws: PCSCError.noSmartCard) { try context.connect(reader: reader) }
        #expect(throws: PCSCError.unknownReader) { try context.connect(reader: "No Such Reader 00 00") }
    }

    @Test func releasedContextIsNoLongerValid() throws {
        let context = try PCSCContext.establish()
        try context.release()
        #expect(!context.isValid)
        #expect(throws: PCSCError.invalidHandle) { try context.listReaders() }
    }

    @Test func cancelEndsAWaitInAnotherThread() async throws {
        let context = try PCSCContext.establish()
        defer { try? context.release() }
        let waiter = Thread.detachedResult { () throws(PCSCError) in
            var states = [ReaderState(reader: ReaderState.plugAndPlayNotification)]
            // Learn the reader count first, so the second call really waits.
            do throws(PCSCError) {
                try context.statusChange(&states, timeout: 0)
                states[0].acknowledge()
            } catch .timeout {
                // pcsc-lite 1.9.9 reports no change on a first PnP-only call.
            }
            try context.statusChange(&states)
        }
        // Pacing: cancel once the thread is likely inside the wait (a cancel before it gets
        // there ends the wait just the same, which the test cannot tell apart).
        try await Task.sleep(for: .milliseconds(200))
        try context.cancel()
        // The wait has no timeout: without the cancel it would never return, and the test
        // would fail at its time limit. No clock decides it.
        let result = await waiter.value
        #expect(throws: PCSCError.cancelled) { try result.get() }
    }

    @Test func monitorReportsTheReaders() async throws {
        let monitor = ReaderMonitor()
        let watchdog = stopping(monitor, after: .seconds(10))
        defer { watchdog.cancel() }
        var added: [String] = []
        for await event in monitor {
            guard case .readerAdded(let name) = event else {
                Issue.record("unexpected \(event)")
                continue
            }
            added.append(name)
            if added.count == Rig.readers.count { break }
        }
        #expect(added == Rig.readers)
        monitor.stop()
    }

    @Test func monitorStopsPromptly() async throws {
        let monitor = ReaderMonitor()
        var iterator = monitor.makeAsyncIterator()
        _ = await iterator.next()  // a reader: the thread now waits in pcscd
        // Pacing: let the thread get into its wait, which has no timeout; were the stop
        // not to end it, the loop below would never end, and the test fails at its limit.
        try await Task.sleep(for: .milliseconds(300))
        monitor.stop()
        var rest: [ReaderEvent<NoReading>] = []
        while let event = await iterator.next() { rest.append(event) }
        #expect(rest.count == Rig.readers.count - 1)
    }

    @Test func cancellingTheConsumerStopsTheMonitor() async throws {
        let monitor = ReaderMonitor()
        let consumer = Task {
            var count = 0
            for await _ in monitor { count += 1 }
            return count
        }
        // Pacing: let the consumer get every reader and wait in pcscd (no timeout there, so
        // only the cancellation can end it; otherwise the test fails at its time limit).
        try await Task.sleep(for: .milliseconds(500))
        consumer.cancel()
        let count = await consumer.value
        #expect(count == Rig.readers.count)
    }

    @Test func pcscdKilledAndRestartedIsLostAndRestored() async throws {
        let monitor = ReaderMonitor()
        let watchdog = stopping(monitor, after: .seconds(20))
        defer { watchdog.cancel() }
        var events: [ReaderEvent<NoReading>] = []
        var killed = false
        var restarted = false
        defer { if killed && !restarted { try? Rig.pcscd("start") } }
        for await event in monitor {
            events.append(event)
            switch event {
            case .readerAdded where !killed && events.count == Rig.readers.count:
                // The monitor now waits in SCardGetStatusChange(INFINITE). Pacing: the kill
                // is meant to land in that wait (landing before it is lost service all the same).
                try await Task.sleep(for: .milliseconds(200))
                try Rig.pcscd("kill")
                killed = true
            case .serviceLost:
                try Rig.pcscd("start")
                restarted = true
            case .readerAdded where restarted && events.count == 2 * Rig.readers.count + 2:
                monitor.stop()
            default:
                break
            }
        }
        let readersAdded = Rig.readers.map { ReaderEvent<NoReading>.readerAdded($0) }
        let expected = readersAdded + [.serviceLost(.communicationError), .serviceRestored] + readersAdded
        #expect(events == expected)
    }

    @Test func monitorStartedWithoutPcscdWaitsForIt() async throws {
        try Rig.pcscd("stop")
        let monitor = ReaderMonitor()
        let watchdog = stopping(monitor, after: .seconds(20))
        defer { watchdog.cancel() }
        var events: [ReaderEvent<NoReading>] = []
        var restarted = false
        defer { if !restarted { try? Rig.pcscd("start") } }
        for await event in monitor {
            events.append(event)
            if case .serviceLost = event {
                // Let the monitor back off a few times first.
                try await Task.sleep(for: .milliseconds(700))
                try Rig.pcscd("start")
                restarted = true
            }
            if events.count == Rig.readers.count + 2 { monitor.stop() }
        }
        // Usually SCARD_E_NO_SERVICE; a pcscd still shutting down can refuse the context
        // with SCARD_W_SECURITY_VIOLATION first. Either way, one serviceLost.
        guard case .serviceLost? = events.first else {
            Issue.record("first event \(String(describing: events.first)) is not serviceLost")
            return
        }
        let expected = [ReaderEvent<NoReading>.serviceRestored] + Rig.readers.map { .readerAdded($0) }
        #expect(Array(events.dropFirst()) == expected)
    }

    @Test func stopDuringBackoffReturnsPromptly() async throws {
        try Rig.pcscd("kill")  // SIGTERM takes pcscd 2 to 5 s; the test needs it gone, not tidy
        defer { try? Rig.pcscd("start") }
        // A backoff far longer than any machine's slowness: a stop that waited it out would
        // take a minute, one that ends it takes next to nothing, so a bound of 20 s tells
        // them apart on the slowest machine without a clock close to the work.
        let monitor = ReaderMonitor(initialBackoff: .seconds(60))
        var iterator = monitor.makeAsyncIterator()
        let first = await iterator.next()
        #expect(first == .serviceLost(.noService), "\(String(describing: first))")
        try await Task.sleep(for: .milliseconds(100))  // pacing: now in the backoff wait
        let stoppedAt = ContinuousClock.now
        monitor.stop()
        #expect(await iterator.next() == nil)
        #expect(ContinuousClock.now - stoppedAt < .seconds(20))
    }
}

extension Thread {
    /// Runs `body` on a new thread (blocking PC/SC calls stay off the cooperative pool)
    /// and hands back its result.
    static func detachedResult<T: Sendable>(
        _ body: @escaping @Sendable () throws(PCSCError) -> T
    ) -> Task<Result<T, PCSCError>, Never> {
        let (stream, continuation) = AsyncStream.makeStream(of: Result<T, PCSCError>.self)
        Thread {
            continuation.yield(Result { () throws(PCSCError) in try body() })
            continuation.finish()
        }.start()
        return Task {
            for await result in stream { return result }
            fatalError("the thread ended without a result")
        }
    }
}

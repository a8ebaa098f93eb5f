import Dispatch
import Logging
@testable import NECDaemon
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import Synchronization
import Testing

/// An event line with this `seq`.
private func event(_ seq: Int64) -> EventLine {
    EventLine(seq: seq, json: #"{"class":"TAP","seq":\#(seq)}"#)
}

@Suite("Tap lanes: readers decide in parallel, events go out in seq order", .timeLimit(.minutes(1)))
struct TapLanesTests {
    /// Runs `body` with a socket server, a live watcher on it (reading from its own
    /// thread), and tap lanes; events are published from seq 1.
    static func withLanes(_ body: (SocketServer, RawSocket, TapLanes) async throws -> Void) async throws {
        try await withSocketServer(backend: InMemoryBackend()) { server, path in
            let watcher = try await rawWatcher(path, on: server)
            server.startPublishing(after: 0)
            let lanes = TapLanes(logger: Logger(label: "test"))
            try await body(server, watcher, lanes)
            await lanes.finish()
            watcher.close()
        }
    }

    /// Reader A's decision waits (as for a database lock) before it commits; reader B's
    /// tap meanwhile is decided and published, and A's follows once it is done.
    @Test func aReaderWaitingForTheDatabaseDoesNotHoldUpAnother() async throws {
        try await Self.withLanes { server, watcher, lanes in
            let gate = DispatchSemaphore(value: 0)
            let journal = Mutex<Int64>(0)
            lanes.submit("Reader A") { _ in
                let ticket = server.reserve()
                gate.wait()  // waiting for the lock: nothing committed yet
                let seq = journal.withLock { $0 += 1; return $0 }
                server.publish(event(seq), for: ticket)
        }
        // A's next tap waits behind its first: one reader's taps stay in order.
        lanes.submit("Reader A") { _ in
            let ticket = server.reserve()
            let seq = journal.withLock { $0 += 1; return $0 }
            server.publish(event(seq), for: ticket)
        }
        lanes.submit("Reader B") { _ in
            let ticket = server.reserve()
            let seq = journal.withLock { $0 += 1; return $0 }
            server.publish(event(seq), for: ticket)
        }
        let first = try await onOwnThread { try watcher.readLine(timeout: .seconds(10)) }
        #expect(first == #"{"class":"TAP","seq":1}"#, "reader B's tap waited for reader A's")
        #expect(journal.withLock { $0 } == 1, "reader A's second tap ran before its first")
        gate.signal()
        let rest = try await onOwnThread { try (0..<2).map { _ in try watcher.readLine(timeout: .seconds(10)) } }
        #expect(rest == [#"{"class":"TAP","seq":2}"#, #"{"class":"TAP","seq":3}"#])
        }
    }

    /// Reader A commits first but is slow to return; reader B commits next and returns at
    /// once. B's event must wait for A's: events go out in seq order.
    @Test func anEventCommittedLaterWaitsForOneCommittedEarlier() async throws {
        try await Self.withLanes { server, watcher, lanes in
            let committed = DispatchSemaphore(value: 0)
            let gate = DispatchSemaphore(value: 0)
            lanes.submit("Reader A") { _ in
                let ticket = server.reserve()
                committed.signal()  // seq 1 is in the journal
                gate.wait()
                server.publish(event(1), for: ticket)
        }
        lanes.submit("Reader B") { _ in
            committed.wait()
            let ticket = server.reserve()
            server.publish(event(2), for: ticket)
            gate.signal()
        }
        let lines = try await onOwnThread { try (0..<2).map { _ in try watcher.readLine(timeout: .seconds(10)) } }
        #expect(lines == [#"{"class":"TAP","seq":1}"#, #"{"class":"TAP","seq":2}"#])
        }
    }
}

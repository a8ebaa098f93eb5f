import NECClient
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

/// Takes events from the stream until it has `count` TAP seqs.
private func take(_ count: Int, from iterator: inout AsyncThrowingStream<DaemonEvent, any Error>.AsyncIterator) async throws -> [Int64] {
    var seqs: [Int64] = []
    while seqs.count < count, let event = try await iterator.next() {
        if let seq = event.seq { seqs.append(seq) }
    }
    return seqs
}

/// Waits until `condition` holds, polling briefly; fails loudly after 10 s.
private func eventually(_ condition: @Sendable () -> Bool) async throws {
    try await waitUntil("the condition holds") { condition() }
}

@Suite("NECClient against a real socket server", .timeLimit(.minutes(2)))
struct NECClientTests {
    @Test func requestHelpers() async throws {
        let backend = InMemoryBackend(
            readers: [ReaderInfo(name: "Test Reader 00 00", state: .present, role: .kiosk, atr: "3B8F8001")],
            cards: ["633597999900000018": LookupMessage(card: CardInfo(isrn: "633597999900000018"), decision: .declined, reason: .unknownCard)])
        backend.configureVoid(of: 2)
        backend.configureVoid(of: 3, refusal: "event 3 holds no lunch to release (not a lunch, or already voided)")
        try await withSocketServer(backend: backend) { server, path in
            let client = NECClient(socketPath: path)
            #expect(try await client.readers().readers.map(\.name) == ["Test Reader 00 00"])
            backend.tap(2, through: server)
            #expect(try await client.status().lastSeq == 2)
            let lookup = try await client.lookup(card: "633597999900000018")
            #expect(lookup.reason == .unknownCard)
            #expect(try await client.void(seq: 2) == VoidMessage(seq: 2))
            await #expect(throws: NECClientError.refused("event 3 holds no lunch to release (not a lunch, or already voided)")) {
                try await client.void(seq: 3)
            }
        }
    }

    @Test func noDaemonIsAClearError() async throws {
        try await withTemporaryDirectory { directory in
            let client = NECClient(socketPath: directory + "/absent.sock")
            await #expect {
                try await client.status()
            } throws: { error in
                guard case NECClientError.cannotConnect = error else { return false }
                return true
            }
        }
    }

    @Test func eventsSinceReplayThenLive() async throws {
        let backend = InMemoryBackend()
        try await withSocketServer(backend: backend) { server, path in
            backend.tap(10, through: server)
            let client = NECClient(socketPath: path)
            var events = client.events(since: 4).makeAsyncIterator()
            let got6 = try await take(6, from: &events)
            #expect(got6 == Array(5...10))
            backend.tap(3, through: server)
            let got3 = try await take(3, from: &events)
            #expect(got3 == [11, 12, 13])
        }
    }

    /// The daemon restarts between events; the stream reconnects by itself and resumes
    /// after the last event it handed out: every event once, in order.
    @Test func reconnectsAndResumesAcrossADaemonRestart() async throws {
        let backend = InMemoryBackend()
        try await withTemporaryDirectory { directory in
            let client = NECClient(
                socketPath: directory + "/necd.sock",
                reconnectPolicy: .init(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200))
            )
            var events = client.events().makeAsyncIterator()
            var seen: [Int64] = []
            try await withSocketServer(backend: backend, in: directory) { server, _ in
                // The stream connects in the background; wait for its watch to be live.
                try await eventually { server.liveWatcherCount == 1 }
                backend.tap(4, through: server)
                seen += try await take(4, from: &events)
            }
            // Daemon down: events are stored by nobody... then the daemon comes back with more.
            backend.storeTap()
            backend.storeTap()
            try await withSocketServer(backend: backend, in: directory) { server, _ in
                backend.tap(3, through: server)
                seen += try await take(5, from: &events)
            }
            #expect(seen == Array(1...9))
        }
    }

    @Test func aPlainWatchResumesFromTheWatchAnswerBeforeAnyEvent() async throws {
        let backend = InMemoryBackend()
        for _ in 0..<5 { backend.storeTap() }
        try await withTemporaryDirectory { directory in
            let client = NECClient(
                socketPath: directory + "/necd.sock",
                reconnectPolicy: .init(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(100))
            )
            var events = client.events().makeAsyncIterator()
            try await withSocketServer(backend: backend, in: directory) { server, _ in
                try await eventually { server.liveWatcherCount == 1 }
            }
            backend.storeTap()  // seq 6, while the daemon is down
            try await withSocketServer(backend: backend, in: directory) { server, _ in
                backend.tap(1, through: server)
                let got2 = try await take(2, from: &events)
                #expect(got2 == [6, 7])
            }
        }
    }
}

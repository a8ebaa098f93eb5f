import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Synchronization
import Testing

@Suite("Socket server: watch, replay and fan-out", .timeLimit(.minutes(2)))
struct SocketServerWatchTests {
    @Test func plainWatchIsLiveFromNowAndSaysWhereItStarts() async throws {
        let backend = InMemoryBackend()
        try await withSocketServer(backend: backend) { server, path in
            backend.tap(3, through: server)
            let watcher = try await connectPastBanner(path)
            try await watcher.send(#"{"cmd":"watch","enable":true}"#)
            #expect(await watcher.nextLine() == #"{"class":"WATCH","enable":true,"since":3}"#)
            backend.tap(2, through: server)
            server.publish(EventLine(seq: nil, json: #"{"class":"READER","name":"Test Reader 00 00","state":"unavailable"}"#))
            #expect(try await collectSeqs(watcher, count: 2) == [4, 5])
            #expect(await watcher.nextLine() == #"{"class":"READER","name":"Test Reader 00 00","state":"unavailable"}"#)

            try await watcher.send(#"{"cmd":"watch","enable":false}"#)
            #expect(await watcher.nextLine() == #"{"class":"WATCH","enable":false}"#)
            backend.tap(1, through: server)
            try await watcher.send(#"{"cmd":"status"}"#)
            // The next line is the STATUS answer, not event 6.
            try #require(try await nextClass(watcher) == "STATUS", "an event arrived after watch enable:false")
            await watcher.close()
        }
    }

    @Test func watchSinceReplaysInPagesThenGoesLive() async throws {
        let backend = InMemoryBackend()
        try await withSocketServer(backend: backend, configure: { $0.replayPageSize = 7 }) { server, path in
            backend.tap(50, through: server)
            let watcher = try await connectPastBanner(path)
            try await watcher.send(#"{"cmd":"watch","enable":true,"since":41}"#)
            #expect(await watcher.nextLine() == #"{"class":"WATCH","enable":true,"since":41}"#)
            #expect(try await collectSeqs(watcher, count: 9) == Array(42...50))
            backend.tap(2, through: server)
            #expect(try await collectSeqs(watcher, count: 2) == [51, 52])
            // since 0 replays everything, over several pages.
            let all = try await connectPastBanner(path)
            try await all.send(#"{"cmd":"watch","enable":true,"since":0}"#)
            let replayed = try await collectSeqs(all, count: 52)
            #expect(replayed == Array(1...52))
            await watcher.close()
            await all.close()
        }
    }

    @Test func aSinceBeyondTheJournalRunsFromItsEnd() async throws {
        let backend = InMemoryBackend()
        try await withSocketServer(backend: backend) { server, path in
            backend.tap(3, through: server)
            let watcher = try await connectPastBanner(path)
            try await watcher.send(#"{"cmd":"watch","enable":true,"since":500}"#)
            #expect(await watcher.nextLine() == #"{"class":"WATCH","enable":true,"since":3}"#)
            backend.tap(1, through: server)
            #expect(try await collectSeqs(watcher, count: 1) == [4])
            await watcher.close()
        }
    }

    /// Events keep coming while a watcher replays: the seam between replay and live
    /// must have no gap and no duplicate.
    @Test(arguments: [1, 3, 64])
    func noGapAndNoDuplicateAtTheSeam(pageSize: Int) async throws {
        let backend = InMemoryBackend()
        try await withSocketServer(backend: backend, configure: { $0.replayPageSize = pageSize }) { server, path in
            backend.tap(200, through: server)
            let total = 1_200
            let publisher = Task {
                for _ in 200..<total {
                    backend.tap(1, through: server)
                    await Task.yield()
                }
            }
            let watcher = try await connectPastBanner(path)
            try await watcher.send(#"{"cmd":"watch","enable":true,"since":0}"#)
            let seqs = try await collectSeqs(watcher, count: total)
            await publisher.value
            #expect(seqs.count == total)
            let exact = seqs == Array(1...Int64(total))
            #expect(exact, "out of order or duplicated")
            await watcher.close()
        }
    }

    /// The seam made certain: the replay waits on its first page while live events are
    /// published, so they are held for this watcher and must come after the replay, in
    /// order (not before it, not twice).
    @Test(arguments: [1, 3, 64])
    func liveEventsDuringAReplayAreHeldAndComeAfterItInOrder(pageSize: Int) async throws {
        let backend = InMemoryBackend()
        try await withSocketServer(backend: backend, configure: { $0.replayPageSize = pageSize }) { server, path in
            backend.tap(200, through: server)
            backend.holdReplayPages()
            let watcher = try await connectPastBanner(path)
            try await watcher.send(#"{"cmd":"watch","enable":true,"since":0}"#)
            try await waitUntil("the replay waits for its first page") { backend.heldReplayPages == 1 }
            let pagesBefore = backend.storedEventsCalls
            // 201...300 are published before a single replayed event can be sent.
            backend.tap(100, through: server)
            backend.releaseReplayPages()
            let seqs = try await collectSeqs(watcher, count: 300)
            #expect(seqs == Array(1...300), "out of order, duplicated or missing")
            // No page was read before the live events came: the whole replay followed them.
            #expect(pagesBefore == 0 && backend.storedEventsCalls > 0)
            await watcher.close()
        }
    }

    @Test func aWatcherThatReconnectsWithSinceGetsEveryEventOnceInOrder() async throws {
        let backend = InMemoryBackend()
        try await withSocketServer(backend: backend) { server, path in
            var received: [Int64] = []
            let first = try await connectPastBanner(path)
            try await first.send(#"{"cmd":"watch","enable":true}"#)
            _ = await first.nextLine()
            backend.tap(5, through: server)
            received += try await collectSeqs(first, count: 5)
            await first.close()

            backend.tap(7, through: server)  // while nobody watches

            let second = try await connectPastBanner(path)
            try await second.send(#"{"cmd":"watch","enable":true,"since":\#(received.last!)}"#)
            _ = await second.nextLine()
            backend.tap(3, through: server)
            received += try await collectSeqs(second, count: 10)
            #expect(received == Array(1...15))
            await second.close()
        }
    }

    @Test func aClientThatNeverReadsIsDroppedAndDelaysNobody() async throws {
        let backend = InMemoryBackend()
        try await withTemporaryDirectory { directory in
            // A bound of 500 lines: the stuck client passes it after about 1,700 events (the
            // kernel's socket buffer and NIO's write buffer hold the rest).
            try await withSocketServer(backend: backend, in: directory, configure: { $0.backlogLines = 500 }) { server, path in
                let stuck = try await SocketTestClient.connect(to: path, reading: false)
                try await stuck.send(#"{"cmd":"watch","enable":true}"#)
                let readers = [try await connectPastBanner(path), try await connectPastBanner(path)]
                for reader in readers {
                    try await reader.send(#"{"cmd":"watch","enable":true}"#)
                    _ = await reader.nextLine()
                }
                // Wait until the stuck client's watch is live (it cannot tell us).
                try await waitUntil("the stuck client's watch is live") { server.liveWatcherCount == 3 }

                let count = 3_000
                // How far each reading client has read: the events are published no further
                // ahead of the slower one than `lead`, so a reader starved of CPU on a busy
                // machine is never the one that passes the bound; only the stuck client does.
                let progress = ReadProgress()
                let lead = 200
                try await withThrowingTaskGroup(of: [Int64].self) { group in
                    for (index, reader) in readers.enumerated() {
                        group.addTask {
                            try await collectSeqs(reader, count: count) { read in progress.counts.withLock { $0[index] = read } }
                        }
                    }
                    for published in 0..<count {
                        if published.isMultiple(of: 50) {
                            try await waitUntil(
                                "both readers are within \(lead) events of the \(published) published",
                                detail: { "read \(progress.counts.withLock { $0 })" }
                            ) { progress.counts.withLock { $0.min()! } >= published - lead }
                        }
                        backend.tap(1, through: server)
                    }
                    for try await seqs in group {
                        #expect(seqs.count == count)
                        let exact = seqs == Array(1...Int64(count))
                        #expect(exact, "first wrong: \(String(describing: zip(seqs, Int64(1)...).first { $0.0 != $0.1 }))")
                    }
                }
                #expect(server.clientCount == 2, "the stuck client was not dropped")
                for reader in readers { await reader.close() }
                await stuck.close()
            }
        }
    }
}

/// How many events each of two reading clients has read, shared with their tasks.
private final class ReadProgress: Sendable {
    let counts = Mutex([0, 0])
}

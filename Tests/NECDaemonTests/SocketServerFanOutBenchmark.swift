#if canImport(Glibc)
import Glibc
#endif
import NECDaemon
import NECDaemonTesting
import NECProtocol
import Synchronization
import Testing

/// Opt-in: `NECD_BENCH=1 swift test --filter SocketServerFanOutBenchmark`.
/// 50 watchers, 1,000 events published 1 ms apart; every watcher must get every event,
/// and the delivery time (publish to the watcher's task reading the decoded line) is reported.
@Suite("Fan-out benchmark", .enabled(if: getenv("NECD_BENCH") != nil, "set NECD_BENCH=1 to run"), .timeLimit(.minutes(5)))
struct SocketServerFanOutBenchmark {
    @Test func fiftyWatchersThousandEvents() async throws {
        let watcherCount = 50
        let eventCount = 1_000
        let backend = InMemoryBackend()
        let published = PublishTimes(count: eventCount + 1)
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { server, path in
                var watchers: [SocketTestClient] = []
                for _ in 0..<watcherCount {
                    let watcher = try await connectPastBanner(path)
                    try await watcher.send(#"{"cmd":"watch","enable":true}"#)
                    _ = await watcher.nextLine()
                    watchers.append(watcher)
                }
                var latencies: [Duration] = []
                try await withThrowingTaskGroup(of: [Duration].self) { group in
                    for watcher in watchers {
                        group.addTask {
                            var delays: [Duration] = []
                            var expected: Int64 = 1
                            while expected <= Int64(eventCount), let line = await watcher.nextLine() {
                                let now = ContinuousClock.now
                                guard case .tap(let tap) = try MessageCoding.daemonMessage(from: Array(line.utf8)) else { continue }
                                #expect(tap.seq == expected)
                                expected = tap.seq + 1
                                if let sent = published.times.withLock({ $0[Int(tap.seq)] }) { delays.append(now - sent) }
                            }
                            return delays
                        }
                    }
                    for _ in 0..<eventCount {
                        let line = backend.storeTap()
                        published.times.withLock { $0[Int(line.seq!)] = ContinuousClock.now }
                        server.publish(line)
                        try await Task.sleep(for: .milliseconds(1))
                    }
                    for try await delays in group {
                        #expect(delays.count == eventCount)
                        latencies += delays
                    }
                }
                latencies.sort()
                func percentile(_ p: Double) -> Duration { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
                print(
                    "fan-out: \(watcherCount) watchers x \(eventCount) events, \(latencies.count) deliveries;",
                    "p50 \(percentile(0.50)), p99 \(percentile(0.99)), max \(latencies.last!)"
                )
                #expect(latencies.count == watcherCount * eventCount)
                for watcher in watchers { await watcher.close() }
            }
        }
    }
}

/// When each event was published, by seq; shared with the watcher tasks.
private final class PublishTimes: Sendable {
    let times: Mutex<[ContinuousClock.Instant?]>
    init(count: Int) { times = Mutex(Array(repeating: nil, count: count)) }
}

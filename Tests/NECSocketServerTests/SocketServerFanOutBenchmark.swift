#if canImport(Glibc)
import Glibc
#endif
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import Synchronization
import Testing

/// Opt-in: `NECD_BENCH=1 swift test --filter SocketServerFanOutBenchmark`.
/// 50 watchers, 1,000 events published 1 ms apart (`NECD_BENCH_INTERVAL_MS` to change); every watcher must get every event,
/// and the delivery time (publish to the watcher's task reading the decoded line) is reported.
@Suite("Fan-out benchmark", .enabled(if: getenv("NECD_BENCH") != nil, "set NECD_BENCH=1 to run"), .timeLimit(.minutes(5)))
struct SocketServerFanOutBenchmark {
    @Test func fiftyWatchersThousandEvents() async throws {
        let watcherCount = 50
        let eventCount = 1_000
        // NECD_BENCH_INTERVAL_MS: the gap between events (default 1 ms, a thousand taps a second).
        let interval = getenv("NECD_BENCH_INTERVAL_MS").flatMap { Int(String(cString: $0)) } ?? 1
        let backend = InMemoryBackend()
        let published = PublishTimes(count: eventCount + 1)
        try await withSocketServer(backend: backend) { server, path in
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
                        while expected <= Int64(eventCount), let line = await watcher.nextReceivedLine() {
                            guard let seq = seqOf(line.text) else { continue }
                            #expect(seq == expected)
                            expected = seq + 1
                            if let sent = published.times.withLock({ $0[Int(seq)] }) { delays.append(line.receivedAt - sent) }
                        }
                        return delays
                    }
                }
                for _ in 0..<eventCount {
                    let line = backend.storeTap()
                    published.times.withLock { $0[Int(line.seq!)] = ContinuousClock.now }
                    server.publish(line)
                    try await Task.sleep(for: .milliseconds(interval))
                }
                for try await delays in group {
                    #expect(delays.count == eventCount)
                    latencies += delays
                }
            }
            latencies.sort()
            func percentile(_ p: Double) -> Duration { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
            print(
                "fan-out: \(watcherCount) watchers x \(eventCount) events \(interval) ms apart, \(latencies.count) deliveries;",
                "p50 \(percentile(0.50)), p99 \(percentile(0.99)), max \(latencies.last!)"
            )
            #expect(latencies.count == watcherCount * eventCount)
            for watcher in watchers { await watcher.close() }
        }
    }
}

/// When each event was published, by seq; shared with the watcher tasks.
private final class PublishTimes: Sendable {
    let times: Mutex<[ContinuousClock.Instant?]>
    init(count: Int) { times = Mutex(Array(repeating: nil, count: count)) }
}

/// The `seq` of an event line, found without a JSON decoder so the measurement's own cost stays small.
private func seqOf(_ line: String) -> Int64? {
    guard let range = line.firstRange(of: #""seq":"#) else { return nil }
    return Int64(line[range.upperBound...].prefix { $0.isNumber })
}

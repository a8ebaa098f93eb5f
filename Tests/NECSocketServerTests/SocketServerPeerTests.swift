#if canImport(Glibc)
import Glibc
#endif
import Logging
import NECSocketServer
import NECSocketServerTesting
import Synchronization
import Testing

/// Keeps every record a logger writes, so a test can read what was logged.
private final class LogRecords: Sendable {
    let lines = Mutex<[String]>([])
}

private struct RecordingLogHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let line = "\(event.level) \(event.message) " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        records.lines.withLock { $0.append(line) }
    }
}

@Suite("Socket server: peer credentials", .timeLimit(.minutes(1)))
struct SocketServerPeerTests {
    @Test func recordsEachClientsPidUidAndGidAtDebugLevel() async throws {
        let records = LogRecords()
        let logger = Logger(label: "necd.socket.test") { _ in RecordingLogHandler(records: records) }
        try await withSocketServer(backend: InMemoryBackend(), logger: logger) { _, path in
            let client = try await connectPastBanner(path)
            await client.close()
        }
        let expected = "peer=pid=\(getpid()) uid=\(getuid()) gid=\(getgid())"
        let connected = records.lines.withLock { $0.filter { $0.hasPrefix("debug client connected") } }
        #expect(connected.count == 1)
        #expect(connected.first?.contains(expected) == true, "\(connected)")
    }
}

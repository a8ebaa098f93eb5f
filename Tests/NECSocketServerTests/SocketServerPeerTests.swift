#if canImport(Glibc)
import Glibc
#endif
import InMemoryLogging
import Logging
import NECSocketServer
import NECSocketServerTesting
import Synchronization
import Testing

@Suite("Socket server: peer credentials", .timeLimit(.minutes(1)))
struct SocketServerPeerTests {
    @Test func recordsEachClientsPidUidAndGidAtDebugLevel() async throws {
        let records = InMemoryLogHandler()
        var logger = Logger(label: "necd.socket.test") { _ in records }
        logger.logLevel = .debug
        try await withSocketServer(backend: InMemoryBackend(), logger: logger) { _, path in
            let client = try await connectPastBanner(path)
            await client.close()
        }
        let connected = records.entries.filter { $0.level == .debug && $0.message == "client connected" }
        #expect(connected.count == 1)
        #expect(connected.first?.metadata["peer"] == "pid=\(getpid()) uid=\(getuid()) gid=\(getgid())", "\(connected)")
    }
}

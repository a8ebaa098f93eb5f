import Foundation
import NECClient
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

/// Clients while another program connects and closes in a tight loop, filling necd's
/// listen queue faster than it drains: their connect waits its turn instead of failing
/// with EAGAIN. One flood at a time: they are heavy on a two-core machine.
@Suite("Clients under a connect flood", .serialized, .timeLimit(.minutes(2)))
struct ConnectFloodTests {
    /// Runs `body` against a socket server while another program floods it with connects
    /// (once more than a thousand are under way).
    static func duringAConnectFlood(_ body: (String) async throws -> Void) async throws {
        // Flooding connections count against max_clients until the server sees them
        // close; these tests are about the listen queue, not that cap.
        try await withSocketServer(backend: InMemoryBackend(), configure: { $0.maxClients = 10_000 }) { _, path in
            let flood = ConnectFlood(path: path)
            flood.start(threads: 1)
            defer { flood.stop() }
            try await waitUntil("the flood is under way") { flood.connections > 1_000 }
            try await body(path)
        }
    }

    /// While another program connects and closes in a tight loop (filling the listen
    /// queue faster than it drains), the example still gets through every time: its
    /// connect waits for room instead of failing with EAGAIN.
    @Test(.needs(tool: "python3", package: "python3"))
    func getsThroughAConnectFlood() async throws {
        try await Self.duringAConnectFlood { path in
            var failures: [String] = []
            for _ in 0..<5 {
                let result = try await PythonExampleTests.run(["--socket", path, "readers"])
                if result.status != 0 || result.lines != [#"{"class":"READERS","readers":[]}"#] {
                    failures.append("status \(result.status): \(result.lines) \(result.errors)")
                }
            }
            #expect(failures.isEmpty, "\(failures.count) of 5 runs failed: \(failures.prefix(3))")
        }
    }

    /// While another program floods the socket with connects, requests still get through:
    /// a full listen queue makes the client wait its turn, not fail.
    @Test func requestsGetThroughAConnectFlood() async throws {
        try await Self.duringAConnectFlood { path in
            let client = NECClient(socketPath: path)
            var failures: [String] = []
            for _ in 0..<5 {
                do {
                    _ = try await client.readers()
                } catch {
                    failures.append("\(error)")
                }
            }
            #expect(failures.isEmpty, "\(failures.count) of 5 failed: \(failures.prefix(2))")
        }
    }
}

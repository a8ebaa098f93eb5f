import Foundation
import Glibc
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

@Suite("Socket server: limits on clients, requests and the listen queue", .timeLimit(.minutes(2)))
struct SocketServerLimitsTests {
    /// A client that pipelines requests has at most `maxRequestsInFlight` of them read at a
    /// time; the rest wait unread, and every one is answered in order in the end.
    @Test func pipelinedRequestsWaitUnreadPastTheBound() async throws {
        let backend = InMemoryBackend()
        try await withSocketServer(backend: backend, configure: { $0.maxRequestsInFlight = 4 }) { server, path in
            let client = try await connectPastBanner(path)
            backend.holdStatusRequests()
            let pipelined = String(repeating: #"{"cmd":"status"}"# + "\n", count: 100)
            try await client.send(raw: Array(pipelined.utf8))
            try await waitUntil("one status is held and three wait") {
                backend.heldStatusRequests == 1 && server.requestsWaiting == 3
            }
            #expect(server.requestsBeingAnswered == 1)
            // One answered: one more is read, never more.
            backend.releaseStatusRequests(1)
            #expect(isStatus(await client.nextLine()))
            try await waitUntil("the next status is held") { backend.heldStatusRequests == 1 }
            #expect(server.requestsWaiting == 3)
            #expect(server.requestsBeingAnswered == 1)
            // Another connection is not held up by the first one's bound.
            let other = try await connectPastBanner(path)
            try await other.send(#"{"cmd":"readers"}"#)
            #expect(await other.nextLine() == #"{"class":"READERS","readers":[]}"#)
            backend.releaseStatusRequests()
            var answered = 1
            while answered < 100, isStatus(await client.nextLine()) { answered += 1 }
            #expect(answered == 100)
            #expect(server.requestsWaiting == 0)
            #expect(server.requestsBeingAnswered == 0)
            await client.close()
            await other.close()
        }
    }

    /// Past `maxClients`, a client is told so in one line and closed; once one leaves,
    /// the next is served.
    @Test func clientsPastTheCapAreRefusedWithAnErrorLine() async throws {
        try await withSocketServer(backend: InMemoryBackend(), configure: { $0.maxClients = 3 }) { server, path in
            let served = try await onOwnThread { () -> [RawSocket] in
                try (0..<3).map { _ in
                    let socket = try RawSocket(path: path)
                    #expect(try socket.readLine()?.hasPrefix(#"{"class":"VERSION""#) == true)
                    return socket
                }
            }
            for _ in 0..<5 {
                let refused = try await onOwnThread { try RawSocket(path: path).readToEnd() }
                #expect(refused == [#"{"class":"ERROR","message":"too many clients (max_clients 3); try again later"}"#])
            }
            #expect(server.connectionCount == 3)
            served[0].close()
            try await waitUntil("the closed client's slot is free") { server.connectionCount == 2 }
            let next = try await onOwnThread { () -> [String] in
                let socket = try RawSocket(path: path)
                let banner = try socket.readLine()
                try socket.send(#"{"cmd":"readers"}"#)
                let answer = try socket.readLine()
                return [banner, answer].compactMap { $0 }
            }
            #expect(next.count == 2 && next[1] == #"{"class":"READERS","readers":[]}"#)
            for socket in served { socket.close() }
        }
    }

    /// The listen queue is as long as the system allows (`net.core.somaxconn`), so a burst
    /// of connections waits instead of being refused.
    @Test(.needs(tool: "ss", package: "iproute2"))
    func theListenBacklogIsTheSystemMaximum() async throws {
        try await withSocketServer(backend: InMemoryBackend()) { _, path in
            let (somaxconn, fields, output) = try await Self.listenBacklog(of: path)
            #expect(fields.count >= 5, "ss said: \(output)")
            #expect(fields.dropFirst(3).first == somaxconn, "ss said: \(output)")
        }
    }

    /// A socket handed over by systemd keeps a long queue too (NIO would listen on it again
    /// with 128).
    @Test(.needs(tool: "ss", package: "iproute2"))
    func anInheritedSocketGetsTheSystemMaximumBacklogToo() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/activated.sock"
            let descriptor = try boundUnixSocket(at: path, listening: true)
            try await withSocketServer(backend: InMemoryBackend(), in: directory, configure: { $0.endpoint = .inheritedDescriptor(descriptor) }) { _, _ in
                let (somaxconn, fields, output) = try await Self.listenBacklog(of: path)
                #expect(fields.dropFirst(3).first == somaxconn, "ss said: \(output)")
            }
        }
    }

    /// The system's maximum listen backlog (`net.core.somaxconn`), and the fields of the
    /// line `ss` prints for the listening socket at `path`, with that line.
    static func listenBacklog(of path: String) async throws -> (somaxconn: String, fields: [String], output: String) {
        let somaxconn = try String(contentsOfFile: "/proc/sys/net/core/somaxconn", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let output = try await onOwnThread { try Self.run("ss", ["-xlnH", "src", path]) }
        // u_str LISTEN 0 <backlog> <path> ...: for a listening socket Send-Q is its backlog.
        return (somaxconn, output.split(whereSeparator: \.isWhitespace).map(String.init), output)
    }

    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// necd itself, run out of file descriptors: every client past what it can hold is told
/// so and closed at once, instead of waiting in the listen queue while the accept loop
/// retries.
@Suite("necd out of file descriptors", .timeLimit(.minutes(1)))
struct SocketServerDescriptorExhaustionTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static var necd: String {
        if let directory = ProcessInfo.processInfo.environment["NECD_BIN_DIR"] { return directory + "/necd" }
        let beside = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("necd").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return packageRoot.appendingPathComponent(".build/debug/necd").path
    }
    static var ready: Bool {
        FileManager.default.isExecutableFile(atPath: necd) && FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit")
    }

    @Test(.needs("needs the built necd (swift build --build-tests) and prlimit (apt-get install util-linux)") { ready })
    func clientsPastTheDescriptorLimitAreRefusedNotLeftWaiting() async throws {
        try await withTemporaryDirectory { directory in
            let socketPath = directory + "/necd.sock"
            try """
                socket = "\(socketPath)"
                database = "\(directory)/necd.sqlite"
                """.write(toFile: directory + "/necd.toml", atomically: true, encoding: .utf8)
            let daemon = Process()
            daemon.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
            // 64 descriptors: the database, the event loops and a few dozen clients.
            daemon.arguments = ["--nofile=64:64", Self.necd, "--config", directory + "/necd.toml"]
            // Kept away from the rig's pcscd: other tests tap its readers, and a necd watching
            // them would read their cards too.
            var environment = ProcessInfo.processInfo.environment
            environment["PCSCLITE_CSOCK_NAME"] = directory + "/no-pcscd.comm"
            daemon.environment = environment
            daemon.standardError = FileHandle.nullDevice
            daemon.standardOutput = FileHandle.nullDevice
            try daemon.run()
            defer {
                daemon.terminate()
                daemon.waitUntilExit()
            }
            try await waitUntil("necd listens", timeout: .seconds(20)) { (try? RawSocket(path: socketPath)) != nil }
            let answers = try await onOwnThread { () -> [String: Int] in
                var sockets: [RawSocket] = []
                for _ in 0..<100 { sockets.append(try RawSocket(path: socketPath)) }
                var counts: [String: Int] = [:]
                for socket in sockets {
                    let first = try socket.readLine(timeout: .seconds(10)) ?? "(closed)"
                    let kind = first.hasPrefix(#"{"class":"VERSION""#) ? "served" : first
                    counts[kind, default: 0] += 1
                }
                return counts
            }
            let refusal = #"{"class":"ERROR","message":"necd is out of file descriptors and cannot serve another client now; try again later"}"#
            #expect(Set(answers.keys).isSubset(of: ["served", refusal]), "\(answers)")
            #expect(answers.values.reduce(0, +) == 100)
            #expect((answers[refusal] ?? 0) > 0, "\(answers)")
        }
    }
}

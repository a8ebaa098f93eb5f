import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

/// `clients` as a new connection's STATUS reports it (that connection included).
func clientsInStatus(_ path: String) async throws -> Int? {
    try await onOwnThread {
        let socket = try RawSocket(path: path)
        _ = try socket.readLine()
        try socket.send(#"{"cmd":"status"}"#)
        guard let line = try socket.readLine(),
            case .status(let status) = try MessageCoding.daemonMessage(from: Array(line.utf8))
        else { return nil }
        return status.clients
    }
}

/// Waits until STATUS counts only the asking connection.
func waitUntilOnlyTheAskerIsCounted(_ path: String, _ what: String) async throws {
    try await waitUntil(what, timeout: .seconds(15)) { try await clientsInStatus(path) == 1 }
}

@Suite("Socket server: clients that leave are forgotten", .timeLimit(.minutes(2)))
struct SocketServerCleanupTests {
    /// 50 clients ask for a replay far larger than their backlog bound, read its first
    /// event, and close: every one is forgotten, and the server still serves.
    @Test func clientsThatCloseDuringAReplayAreCleanedUp() async throws {
        let backend = InMemoryBackend()
        for _ in 0..<20_000 { backend.storeTap() }
        try await withSocketServer(backend: backend) { server, path in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await onOwnThread {
                            let socket = try RawSocket(path: path)
                            _ = try socket.readLine()
                            try socket.send(#"{"cmd":"watch","enable":true,"since":0}"#)
                            #expect(try socket.readLine() == #"{"class":"WATCH","enable":true,"since":0}"#)
                            #expect(try socket.readLine()?.contains(#""seq":1,"#) == true)
                            socket.close()
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await waitUntilOnlyTheAskerIsCounted(path, "the 50 replaying clients that closed are forgotten")
            try await waitUntil("every connection is closed and forgotten") {
                server.connectionCount == 0 && server.clientCount == 0
            }
            // Still serving, and a replay that is read runs to the end.
            let reader = try await connectPastBanner(path)
            try await reader.send(#"{"cmd":"watch","enable":true,"since":19990}"#)
            _ = await reader.nextLine()
            #expect(try await collectSeqs(reader, count: 10) == Array(19_991...20_000))
            await reader.close()
        }
    }

    /// A watcher that closes is no longer counted, with no event needed to find out.
    @Test func aClosedWatcherIsForgottenWithoutWaitingForAnEvent() async throws {
        try await withSocketServer(backend: InMemoryBackend()) { server, path in
            var watchers: [RawSocket] = []
            for live in 1...3 {
                watchers.append(try await rawWatcher(path, on: server, watchers: live, answer: #"{"class":"WATCH","enable":true,"since":0}"#))
            }
            #expect(try await clientsInStatus(path) == 4)
            for watcher in watchers { watcher.close() }
            try await waitUntilOnlyTheAskerIsCounted(path, "the closed watchers are forgotten")
            #expect(server.liveWatcherCount == 0)
        }
    }
}

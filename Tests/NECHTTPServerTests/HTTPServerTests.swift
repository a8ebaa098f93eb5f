import Foundation
import Logging
import NECHTTPServer
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import ServiceLifecycle
import Testing

/// The token every test server wants.
let testToken = "test-token-0123456789abcdef"
/// The one origin the test servers list.
let tillOrigin = "http://till.example:8080"

/// Runs a socket server with an HTTP face on an ephemeral loopback port while `body` runs.
func withHTTPServer<Result>(
    backend: InMemoryBackend = InMemoryBackend(),
    configure: (inout SocketServerConfiguration) -> Void = { _ in },
    _ body: (SocketServer, _ socketPath: String, _ port: Int) async throws -> Result
) async throws -> Result {
    try await withTemporaryDirectory { directory in
        try await withSocketServer(backend: backend, in: directory, configure: configure) { server, socketPath in
            let (ports, portReady) = AsyncStream.makeStream(of: Int.self)
            let http = HTTPServer(
                endpoint: .init(host: "127.0.0.1", port: 0),
                access: HTTPAccess(token: testToken, allowedOrigins: [tillOrigin]), sessions: server,
                metrics: { Array("necd_test_up 1\n".utf8) }, logger: Logger(label: "necd.http.test"),
                onListening: { port in
                    portReady.yield(port)
                    portReady.finish()
                })
            let group = ServiceGroup(configuration: .init(services: [http], logger: Logger(label: "necd.test")))
            return try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                var port = 0
                for await bound in ports { port = bound }
                defer { portReady.finish() }
                do {
                    let result = try await body(server, socketPath, port)
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                    return result
                } catch {
                    await group.triggerGracefulShutdown()
                    try? await tasks.waitForAll()
                    throw error
                }
            }
        }
    }
}

/// A message decoded as a JSON object.
func object(_ text: String?) -> [String: Any]? {
    text.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any]
}

/// The status code of a refused upgrade (0 when it was not refused).
func refusedUpgrade(port: Int, path: String, origin: String?) async throws -> (status: Int, body: String) {
    try await onOwnThread {
        do {
            _ = try WebSocketTestClient(port: port, path: path, origin: origin)
            return (0, "")
        } catch let refused as WebSocketTestClient.Refused {
            return (refused.answer.status, refused.answer.body)
        }
    }
}

@Suite("HTTP face: token, origin, and the socket protocol over WebSocket", .timeLimit(.minutes(2)))
struct HTTPServerTests {
    /// Without the token, or with a wrong one, every path answers 401 and no WebSocket is
    /// opened; a listed origin, necd's own, and no origin at all are let in with it.
    @Test func theTokenIsRequiredEverywhere() async throws {
        try await withHTTPServer { server, _, port in
            for path in ["/ws", "/ws?token=", "/ws?token=wrong-token-0123456789", "/ws?token=\(testToken)x"] {
                let refused = try await refusedUpgrade(port: port, path: path, origin: tillOrigin)
                #expect(refused.status == 401, "\(path)")
                #expect(!refused.body.contains("VERSION"))
            }
            let page = try await onOwnThread { try WebSocketTestClient.get(port: port, path: "/?token=nope") }
            #expect(page.status == 401)
            let metrics = try await onOwnThread {
                try WebSocketTestClient.get(port: port, path: "/metrics", headers: ["Authorization": "Bearer nope"])
            }
            #expect(metrics.status == 401)
            #expect(metrics.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
            let queryTokenOnMetrics = try await onOwnThread {
                try WebSocketTestClient.get(port: port, path: "/metrics?token=\(testToken)")
            }
            #expect(queryTokenOnMetrics.status == 401)
            let good = try await onOwnThread {
                try WebSocketTestClient.get(port: port, path: "/metrics", headers: ["Authorization": "Bearer \(testToken)"])
            }
            #expect(good.status == 200)
            #expect(good.body == "necd_test_up 1\n")
            let statusPage = try await onOwnThread { try WebSocketTestClient.get(port: port, path: "/?token=\(testToken)") }
            #expect(statusPage.status == 200)
            #expect(statusPage.headers["content-type"]?.hasPrefix("text/html") == true)
            #expect(statusPage.headers["referrer-policy"] == "no-referrer")
            #expect(server.clientCount == 0)
        }
    }

    /// A browser page from an origin not listed gets 403 before the upgrade; the listed
    /// origin, necd's own (the status page's), and a client sending no Origin get the banner.
    @Test func originsNotListedAreRefused() async throws {
        try await withHTTPServer { _, _, port in
            let path = "/ws?token=\(testToken)"
            for origin in ["http://evil.example", "http://till.example:8081", "https://till.example:8080", "null"] {
                #expect(try await refusedUpgrade(port: port, path: path, origin: origin).status == 403, "\(origin)")
            }
            for origin in [tillOrigin, "http://127.0.0.1:\(port)", "http://localhost:\(port)", nil] {
                let banner = object(try await onOwnThread {
                    try WebSocketTestClient(port: port, path: path, origin: origin).next()
                })
                #expect(banner?["class"] as? String == "VERSION", "\(origin ?? "no origin")")
            }
            // A plain GET of /ws with the token is told it must upgrade.
            let plain = try await onOwnThread { try WebSocketTestClient.get(port: port, path: path) }
            #expect(plain.status == 400)
        }
    }

    /// One JSON object per message: the banner, answers, and events after `watch` with
    /// `since`; the WebSocket client counts in STATUS.
    @Test func theSessionIsTheSocketProtocol() async throws {
        let backend = InMemoryBackend()
        let stored = (0..<3).map { _ in backend.storeTap() }
        try await withHTTPServer(backend: backend) { server, socketPath, port in
            let client = try await onOwnThread {
                try WebSocketTestClient(port: port, path: "/ws?token=\(testToken)", origin: tillOrigin)
            }
            let socket = try await connectPastBanner(socketPath)
            let banner = try await onOwnThread { client.next() }
            #expect(banner?.hasPrefix(#"{"class":"VERSION""#) == true)
            try await onOwnThread { try client.send(#"{"cmd":"status"}"#) }
            let status = object(try await onOwnThread { client.next() })
            #expect(status?["class"] as? String == "STATUS")
            #expect(status?["clients"] as? Int == 2)
            // The same request on both transports gets the same answer.
            try await onOwnThread { try client.send(#"{"cmd":"readers"}"#) }
            try await socket.send(#"{"cmd":"readers"}"#)
            let overWebSocket = try await onOwnThread { client.next() }
            #expect(overWebSocket == (await socket.nextLine()))
            try await onOwnThread { try client.send(#"{"cmd":"bogus"}"#) }
            try await socket.send(#"{"cmd":"bogus"}"#)
            let errorOverWebSocket = try await onOwnThread { client.next() }
            #expect(errorOverWebSocket?.hasPrefix(#"{"class":"ERROR""#) == true)
            #expect(errorOverWebSocket == (await socket.nextLine()))
            // watch since 1: stored events 2 and 3, then live ones.
            try await onOwnThread { try client.send(#"{"cmd":"watch","enable":true,"since":1}"#) }
            let watch = object(try await onOwnThread { client.next() })
            #expect(watch?["class"] as? String == "WATCH")
            for event in stored.dropFirst() {
                let replayed = try await onOwnThread { client.next() }
                #expect(replayed.map { Array(($0 + "\n").utf8) } == event.line)
            }
            try await waitUntil("the WebSocket watcher is live") { server.liveWatcherCount == 1 }
            backend.tap(through: server)
            let live = object(try await onOwnThread { client.next() })
            #expect(live?["seq"] as? Int == 4)
            await socket.close()
            client.close()
            try await waitUntil("both clients are gone") { server.clientCount == 0 }
        }
    }

    /// A request over the protocol's line limit gets the socket's ERROR and the close.
    @Test func aMessageOverTheLineLimitClosesWithTheSocketsError() async throws {
        try await withHTTPServer { server, _, port in
            let answers = try await onOwnThread { () -> [String] in
                let client = try WebSocketTestClient(port: port, path: "/ws?token=\(testToken)")
                _ = client.next()
                try client.send(#"{"cmd":"lookup","card":""# + String(repeating: "9", count: 17_000) + #""}"#)
                var answers: [String] = []
                while let message = client.next() { answers.append(message) }
                #expect(client.closed)
                return answers
            }
            #expect(answers == [#"{"class":"ERROR","message":"line longer than 16384 bytes; closing"}"#])
            try await waitUntil("the client is gone") { server.clientCount == 0 }
        }
    }

    /// A watcher that stops reading is dropped once its backlog passes the bound, as on
    /// the socket, and its connection is closed.
    @Test func aWebSocketWatcherThatDoesNotReadIsDropped() async throws {
        let backend = InMemoryBackend()
        try await withHTTPServer(backend: backend, configure: { $0.backlogLines = 50 }) { server, _, port in
            let stalled = try await onOwnThread { () -> WebSocketTestClient in
                let client = try WebSocketTestClient(port: port, path: "/ws?token=\(testToken)")
                _ = client.next()
                try client.send(#"{"cmd":"watch","enable":true}"#)
                _ = client.next()
                return client
            }
            try await waitUntil("the watcher is live") { server.liveWatcherCount == 1 }
            // Big events fill the kernel's buffers soon; then 50 more pass the bound.
            let pupil = String(repeating: "P", count: 4_000)
            var published = 0
            while server.clientCount == 1, published < 20_000 {
                server.publish(backend.storeTap(pupil: pupil))
                published += 1
                await Task.yield()
            }
            try await waitUntil("the stalled watcher is dropped") { server.clientCount == 0 }
            #expect(published < 20_000)
            let closed = try await onOwnThread { stalled.waitForClose(timeout: .seconds(30)) }
            #expect(closed)
        }
    }
}

public import Logging
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
public import NECSocketServer
import NIOCore
import NIOHTTP1
public import ServiceLifecycle
import Synchronization

/// necd's HTTP face, for browser tills and monitoring: `GET /ws?token=T` upgrades to a
/// WebSocket that carries the socket protocol (one JSON object per text message, served
/// by the socket server's own sessions); `GET /?token=T` is the status page;
/// `GET /metrics` with `Authorization: Bearer T` is Prometheus's text format.
///
/// Nothing is answered without the token (401). A `/ws` request whose `Origin` is
/// neither listed nor necd's own is refused (403) before the upgrade; a request with no
/// `Origin` (not a browser) needs only the token.
public final class HTTPServer: Service {
    /// Where to listen.
    public struct Endpoint: Sendable, Hashable {
        /// An IP address or `localhost`.
        public var host: String
        /// The TCP port.
        public var port: Int

        /// - Parameters: see the properties.
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// The origins a page served from this endpoint, bound to `port`, has: the status page's own.
        func ownOrigins(port: Int) -> Set<String> {
            var hosts: Set<String> = [host.contains(":") ? "[\(host)]" : host]
            if host == "localhost" || host == "127.0.0.1" || host == "::1" {
                hosts.formUnion(["localhost", "127.0.0.1", "[::1]"])
            }
            return Set(hosts.map { "http://\($0):\(port)" })
        }
    }

    /// The largest WebSocket message read: past the protocol's line limit, so a request
    /// over it gets the protocol's `ERROR` and close; past this, the WebSocket's own close
    /// (1009, message too big).
    static let maxMessageBytes = 1 << 16

    private let endpoint: Endpoint
    private let access: Mutex<HTTPAccess>
    /// necd's own origins, known once the listener is bound (its port may have been 0).
    private let ownOrigins = Mutex<Set<String>>([])
    private let sessions: SocketServer
    private let metrics: @Sendable () async -> [UInt8]
    private let logger: Logger
    private let onListening: @Sendable (Int) async -> Void

    /// - Parameters:
    ///   - endpoint: where to listen.
    ///   - access: the token and the allowed origins; see ``update(access:)``.
    ///   - sessions: the socket server whose sessions `/ws` clients get.
    ///   - metrics: the Prometheus text for `/metrics`, made at each scrape.
    ///   - logger: where to log. Requests are not logged: their URLs carry the token.
    ///   - onListening: called with the bound port once the listener accepts connections.
    public init(
        endpoint: Endpoint, access: HTTPAccess, sessions: SocketServer,
        metrics: @escaping @Sendable () async -> [UInt8], logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.endpoint = endpoint
        self.access = Mutex(access)
        self.sessions = sessions
        self.metrics = metrics
        self.logger = logger
        self.onListening = onListening
    }

    /// Puts a new token and list of origins in force for the requests that follow
    /// (connected WebSockets stay connected).
    public func update(access: HTTPAccess) {
        self.access.withLock { $0 = access }
    }

    /// Listens until graceful shutdown.
    public func run() async throws {
        let router = Router(context: HTTPRequestContext.self)
        router.get("/") { request, _ in try self.statusPage(request) }
        router.get("/metrics") { request, _ in try await self.metricsPage(request) }
        // A /ws request the upgrade turned down lands here: say why.
        router.get("/ws") { request, _ -> Response in
            try self.admit(request)
            throw HTTPError(.badRequest, message: "/ws is a WebSocket: send an upgrade request")
        }
        let webSocketRouter = Router(context: HTTPRequestContext.self)
        webSocketRouter.ws("/ws") { request, _ in
            (try? self.admit(request)) == nil ? .dontUpgrade : .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            let client = context.requestContext.remoteAddress.map { "ws \($0)" } ?? "ws"
            await self.bridge(inbound, outbound, client: client)
        }
        // Hummingbird's own lines (start, stop) at notice and above; nothing per request.
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)
        let listening = onListening
        let webSocketResponder = webSocketRouter.buildResponder()
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(idleTimeout: .seconds(60)),
            ws: .init(maxFrameSize: Self.maxMessageBytes, closeTimeout: .seconds(2)))
        let server = HTTPServerBuilder { responder in
            GatedWebSocketChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder, webSocketResponder: webSocketResponder, configuration: configuration),
                check: { target, origin in
                    self.refusal(token: URI(target).queryParameters["token"], origin: origin).map {
                        (HTTPResponseStatus(statusCode: $0.status), $0.message)
                    }
                })
        }
        let app = Application(
            router: router, server: server,
            configuration: .init(address: .hostname(endpoint.host, port: endpoint.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? self.endpoint.port
                self.ownOrigins.withLock { $0 = self.endpoint.ownOrigins(port: port) }
                await listening(port)
            },
            logger: quiet
        )
        logger.info("http listening", metadata: ["listen": "\(endpoint.host):\(endpoint.port)"])
        try await app.run()
        logger.info("http server stopped")
    }

    /// Refuses a request without the token (401) or, on `/ws`, from an origin not
    /// allowed (403).
    private func admit(_ request: Request) throws {
        if let refusal = refusal(token: request.uri.queryParameters["token"], origin: request.headers[.origin]) {
            throw HTTPError(.init(code: refusal.status), message: refusal.message)
        }
    }

    /// Why a `/ws` request with this token and `Origin` is refused, or nil.
    func refusal(token: Substring?, origin: String?) -> (status: Int, message: String)? {
        let access = self.access.withLock { $0 }
        guard access.accepts(token: token) else { return (401, "a token is required: ?token=...") }
        guard access.accepts(origin: origin, own: ownOrigins.withLock { $0 }) else {
            return (403, "origin \(origin ?? "") is not in allowed_origins")
        }
        return nil
    }

    private func statusPage(_ request: Request) throws -> Response {
        let access = self.access.withLock { $0 }
        guard access.accepts(token: request.uri.queryParameters["token"]) else {
            throw HTTPError(.unauthorized, message: "a token is required: ?token=...")
        }
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        // The page's address carries the token: it must not leave in a Referer.
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: StatusPage.html)))
    }

    private func metricsPage(_ request: Request) async throws -> Response {
        let access = self.access.withLock { $0 }
        let authorization = request.headers[.authorization]
        let presented = authorization.flatMap { $0.hasPrefix("Bearer ") ? $0.dropFirst(7) : nil }
        guard access.accepts(token: presented) else {
            throw HTTPError(
                .unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"necd\""],
                message: "a token is required: Authorization: Bearer ...")
        }
        let text = await metrics()
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: text)))
    }

    /// Runs one WebSocket client's session: each text message is a request; each message
    /// the session sends is one text message.
    private func bridge(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, client: String) async {
        let session: TransportSession
        switch sessions.openTransportSession(describedAs: client) {
        case .success(let opened):
            session = opened
        case .failure(let refusal):
            try? await outbound.write(.text(String(buffer: refusal.message)))
            return
        }
        await withDiscardingTaskGroup { group in
            group.addTask {
                do {
                    for try await message in inbound.messages(maxSize: Self.maxMessageBytes) {
                        let bytes: [UInt8] = switch message {
                        case .text(let text): Array(text.utf8)
                        case .binary(let buffer): Array(buffer.readableBytesView)
                        }
                        if await session.receive(bytes) == .stopped { return }
                    }
                } catch {
                    // The connection failed or broke the WebSocket's rules: it is gone.
                }
                session.end()
            }
            await session.serve { messages in
                for message in messages { try await outbound.writeTextMessage(String(buffer: message)) }
            }
            // The session is over (the client left, was dropped, or the server is stopping):
            // stop reading, and the WebSocket is closed.
            group.cancelAll()
        }
    }
}

import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

/// Refuses a `/ws` upgrade without the token (401) or from an origin not allowed (403)
/// with that status, before the upgrade handler sees it. (Hummingbird answers every
/// upgrade it turns down with a bare 400.) Sits between the HTTP request decoder and the
/// upgrade handler; lets an admitted upgrade through and leaves the pipeline, so the
/// WebSocket that follows never passes it. Other requests pass untouched.
final class WebSocketGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Why a request is refused: its status and a line for the body; nil to let it in.
    typealias Check = @Sendable (_ target: String, _ origin: String?) -> (status: HTTPResponseStatus, message: String)?

    private let check: Check
    /// The rest of a refused request is dropped.
    private var refusing = false

    init(check: @escaping Check) {
        self.check = check
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = Self.unwrapInboundIn(data)
        guard case .head(let head) = part else {
            if !refusing { context.fireChannelRead(data) }
            return
        }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard path == "/ws", head.headers["upgrade"].contains(where: { $0.lowercased() == "websocket" }) else {
            context.fireChannelRead(data)
            return
        }
        guard let refusal = check(head.uri, head.headers["origin"].first) else {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        refusing = true
        let body = ByteBuffer(string: refusal.message + "\n")
        var headers = HTTPHeaders([
            ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "\(body.readableBytes)"),
            ("Connection", "close"),
        ])
        if refusal.status == .unauthorized { headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"necd\"") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: refusal.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let context = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.value.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.value.close(promise: nil) }
    }
}

/// Hummingbird's HTTP/1 with WebSocket upgrade, with a ``WebSocketGate`` in each
/// connection's pipeline.
struct GatedWebSocketChannel: ServerChildChannel {
    let inner: HTTP1WebSocketUpgradeChannel
    let check: WebSocketGate.Check

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1WebSocketUpgradeChannel.Value> {
        // The inner setup builds the pipeline at once, on this event loop.
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let decoder = try channel.pipeline.syncOperations.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(WebSocketGate(check: check), position: .after(decoder.handler))
            return value
        }
    }

    func handle(value: HTTP1WebSocketUpgradeChannel.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

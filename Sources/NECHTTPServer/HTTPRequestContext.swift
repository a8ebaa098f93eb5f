import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// What a route knows about a request besides the request: for `/ws`, the WebSocket it
/// may become, and the peer's address (for logs).
struct HTTPRequestContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<HTTPRequestContext>
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        remoteAddress = source.channel.remoteAddress
    }
}

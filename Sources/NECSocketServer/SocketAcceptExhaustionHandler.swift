import Glibc
import Logging
import NIOCore

/// Keeps the accept loop from spinning when the process runs out of file descriptors.
///
/// With no descriptor left, `accept` fails with EMFILE (ENFILE: the whole system is out)
/// and the pending connection stays in the listen queue, so the listening socket stays
/// readable and the event loop would retry at once, for ever. This handler keeps one
/// descriptor in reserve: on EMFILE or ENFILE it gives it up, accepts each pending
/// connection, sends it one `ERROR` line and closes it, then takes the reserve back. The
/// queue is empty, nothing wakes the loop, and each client is told why instead of
/// waiting in silence. NIO's own back-off then delays the next accept by a second.
final class SocketAcceptExhaustionHandler: ChannelInboundHandler {
    typealias InboundIn = any Channel

    struct Settings: Sendable {
        /// The listening descriptor.
        var listening: CInt
        /// The line sent to each client refused for want of descriptors.
        var refusal: ByteBuffer
        var logger: Logger
    }

    private let settings: Settings
    private var reserve: CInt

    init(_ settings: Settings) {
        self.settings = settings
        reserve = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? IOError, error.errnoCode == EMFILE || error.errnoCode == ENFILE {
            refusePending(errno: error.errnoCode)
        }
        context.fireErrorCaught(error)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if reserve >= 0 {
            close(reserve)
            reserve = -1
        }
    }

    private func refusePending(errno code: CInt) {
        if reserve >= 0 {
            close(reserve)
            reserve = -1
        }
        var refused = 0
        while true {
            // Closed at once, so neither non-blocking nor close-on-exec matters.
            let client = accept(settings.listening, nil, nil)
            if client < 0 { break }  // EAGAIN: the queue is empty; EMFILE: not even the reserve helped
            _ = settings.refusal.withUnsafeReadableBytes {
                send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            close(client)
            refused += 1
        }
        reserve = open("/dev/null", O_RDONLY | O_CLOEXEC)
        settings.logger.error(
            "out of file descriptors (\(code == ENFILE ? "system-wide" : "this process")): refused clients; raise LimitNOFILE or lower max_clients",
            metadata: ["refused": "\(refused)"])
    }
}

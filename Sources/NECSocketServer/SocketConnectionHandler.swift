import NECProtocol
import NIOCore

/// Reads one client's connection: cuts its bytes into lines with the protocol's
/// ``LineFramer`` and hands them to its ``SocketInbox`` one at a time, reading more only
/// while the inbox has room, so bytes a client pipelines past what the server will take
/// stay unparsed.
///
/// It is in the pipeline from the moment the connection is accepted, so nothing a client
/// sends (and no end of input) is missed while the task that serves it starts.
final class SocketConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let inbox: SocketInbox
    private var framer: LineFramer
    /// NIO asked to read while the inbox was full.
    private var readWanted = false
    private var inputEnded = false
    /// Nothing more is read: the requests ended, a line was too long, or the connection closed.
    private var stopped = false

    init(inbox: SocketInbox, maxLineBytes: Int) {
        self.inbox = inbox
        self.framer = LineFramer(maxLineBytes: maxLineBytes)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let context = NIOLoopBound(context, eventLoop: context.eventLoop)
        let eventLoop = context.value.eventLoop
        inbox.whenRoom {
            eventLoop.execute { handler.value.deliver(context: context.value) }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !stopped else { return }
        framer.push(Self.unwrapInboundIn(data).readableBytesView)
        deliver(context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            inputEnded = true
            deliver(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopped = true
        inbox.close()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A read error (the client reset the connection): NIO closes the channel, and
        // `channelInactive` ends the requests.
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        guard !stopped else { return }
        if inbox.hasRoom {
            context.read()
        } else {
            readWanted = true
        }
    }

    /// Moves whole lines into the inbox while it has room; at end of input, the last one
    /// and the end. Resumes reading once everything held is handed over.
    private func deliver(context: ChannelHandlerContext) {
        guard !stopped else { return }
        do {
            while inbox.hasRoom {
                guard let line = try framer.nextLine() else {
                    if inputEnded {
                        if let last = try framer.finish() { inbox.push(last) }
                        inbox.end(.end)
                        stopped = true
                        return
                    }
                    break
                }
                inbox.push(line)
            }
        } catch {
            inbox.end(.tooLong(limit: error.limit))
            stopped = true
            return
        }
        if readWanted && inbox.hasRoom && !inputEnded {
            readWanted = false
            context.read()
        }
    }
}

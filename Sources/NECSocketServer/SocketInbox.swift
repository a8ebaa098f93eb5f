import Glibc
import Logging
import NECProtocol
import NIOCore
import Synchronization

/// How many requests the server holds right now, across every connection.
final class SocketRequestCounts: Sendable {
    private struct Counts {
        var waiting = 0
        var answering = 0
    }

    private let counts = Mutex(Counts())

    /// Requests read from clients and not yet started.
    var waiting: Int { counts.withLock { $0.waiting } }
    /// Requests being answered now.
    var answering: Int { counts.withLock { $0.answering } }

    func read() { counts.withLock { $0.waiting += 1 } }
    func started() { counts.withLock { $0.waiting -= 1; $0.answering += 1 } }
    func answered() { counts.withLock { $0.answering -= 1 } }
    func discarded(_ count: Int) { counts.withLock { $0.waiting -= count } }
}

/// One client's requests, from the event loop that reads them to the task that answers
/// them, one at a time.
///
/// The bound: at most `maxInFlight` requests are read and not yet answered. While that
/// many are held, the connection is not read at all, so a client that pipelines
/// thousands of requests costs a few lines of memory and one request's worth of work at
/// a time, and waits in its own socket buffer.
final class SocketInbox: Sendable {
    /// What the answering task gets next.
    enum Next: Equatable {
        /// A request line, without its `\n`.
        case line([UInt8])
        /// The client shut its sending side after its last request.
        case end
        /// The client sent a line past the limit; nothing after it is read.
        case tooLong(limit: Int)
        /// The connection is gone.
        case closed
    }

    private struct State {
        var lines: [[UInt8]] = []
        var head = 0
        /// Read and not yet answered: queued, or being answered now.
        var inFlight = 0
        var ending: Next?
        var waiter: CheckedContinuation<Next, Never>?
        var onRoom: (@Sendable () -> Void)?
        /// A line handed to the task whose answer is not yet done.
        var answering = false
    }

    let maxInFlight: Int
    private let counts: SocketRequestCounts
    private let state = Mutex(State())

    init(maxInFlight: Int, counts: SocketRequestCounts) {
        self.maxInFlight = max(1, maxInFlight)
        self.counts = counts
    }

    // MARK: The event loop's side

    /// Whether another request may be read.
    var hasRoom: Bool { state.withLock { $0.ending == nil && $0.inFlight < maxInFlight } }

    /// Called (from any thread) when room appears after the bound was reached.
    func whenRoom(_ action: @escaping @Sendable () -> Void) {
        state.withLock { $0.onRoom = action }
    }

    /// Hands a request to the answering task.
    func push(_ line: [UInt8]) {
        let waiter: CheckedContinuation<Next, Never>? = state.withLock { state in
            guard state.ending == nil else { return nil }
            state.inFlight += 1
            counts.read()
            if let waiter = state.waiter {
                state.waiter = nil
                state.answering = true
                counts.started()
                return waiter
            }
            state.lines.append(line)
            return nil
        }
        waiter?.resume(returning: .line(line))
    }

    /// Ends the requests: the task gets every request held so far, then `how`. A
    /// `.closed` discards what is held instead: nobody could read the answers.
    func end(_ how: Next) {
        let waiter: CheckedContinuation<Next, Never>? = state.withLock { state in
            if case .closed? = state.ending { return nil }
            if how != .closed, state.ending != nil { return nil }
            if how == .closed {
                let held = state.lines.count - state.head
                counts.discarded(held)
                state.inFlight -= held
                state.lines = []
                state.head = 0
                state.onRoom = nil
            }
            state.ending = how
            guard state.head == state.lines.count, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: how)
    }

    /// The connection closed.
    func close() { end(.closed) }

    // MARK: The answering task's side

    /// The next request, or how the requests ended. Call ``answered()`` after answering a line.
    func next() async -> Next {
        await withCheckedContinuation { (continuation: CheckedContinuation<Next, Never>) in
            let ready: Next? = state.withLock { state in
                if state.head < state.lines.count {
                    let line = state.lines[state.head]
                    state.head += 1
                    if state.head == state.lines.count {
                        state.lines.removeAll(keepingCapacity: true)
                        state.head = 0
                    }
                    state.answering = true
                    counts.started()
                    return .line(line)
                }
                if let ending = state.ending { return ending }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// The request last returned by ``next()`` is answered; reading resumes if it had stopped.
    func answered() {
        let onRoom: (@Sendable () -> Void)? = state.withLock { state in
            guard state.answering else { return nil }
            state.answering = false
            counts.answered()
            state.inFlight -= 1
            return state.inFlight == maxInFlight - 1 && state.ending == nil ? state.onRoom : nil
        }
        onRoom?()
    }
}

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

/// Sends one line to a client the server will not serve, then closes: a refusal costs a
/// write and a close, never a task or a session.
final class SocketRefusalHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let line: ByteBuffer

    init(line: ByteBuffer) { self.line = line }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        context.writeAndFlush(Self.wrapOutboundOut(line)).whenComplete { _ in channel.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

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

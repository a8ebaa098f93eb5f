#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import Logging
import NECProtocol
public import NIOCore
public import NIOPosix
public import ServiceLifecycle
import Synchronization

/// The daemon's client socket: protocol v1 (see docs/protocol.md) for tills, kiosks and `necctl`.
///
/// Run it in a `ServiceGroup`. The pipeline calls ``publish(_:)`` after each event is
/// stored; requests are answered from a ``DaemonBackend``. Fan-out never waits for a
/// client: each has a bounded backlog and is dropped when it passes it. On graceful
/// shutdown the server stops accepting, tells every client, and closes them.
public actor SocketServer: Service {
    /// What the server owns in each phase of its life.
    private enum State {
        /// Not started yet.
        case initial
        /// Listening; the channel accepts connections.
        case running(serverChannel: any Channel)
        /// Graceful shutdown began; clients are being told and closed.
        case shuttingDown
        /// Stopped; it cannot be started again.
        case shutdown
    }

    /// The server was asked to run twice.
    public struct AlreadyStarted: Error, Hashable, Sendable {}

    private var state: State = .initial
    /// The socket file this server bound, so it removes that file and no other.
    private var boundSocketFile: SocketFile.Identity?
    let configuration: SocketServerConfiguration
    let backend: any DaemonBackend
    private let eventLoopGroup: any EventLoopGroup
    private let onListening: (@Sendable () async -> Void)?
    let registry: SocketClientRegistry
    let logger: Logger
    let goodbye: ByteBuffer
    private let sequencer: EventSequencer
    let slots = ConnectionSlots()
    let requestCounts = SocketRequestCounts()

    /// Creates a server; it listens once ``run()`` is called.
    /// - Parameters:
    ///   - configuration: where to listen and the per-client bounds.
    ///   - backend: answers requests and replays stored events.
    ///   - eventLoopGroup: the event loops connections run on; NIO's shared group by default.
    ///   - logger: where the server logs; connections and peer credentials at debug level.
    ///   - onListening: called once the socket accepts connections: the moment to tell
    ///     systemd `READY=1`.
    public init(
        configuration: SocketServerConfiguration,
        backend: any DaemonBackend,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "necd.socket"),
        onListening: (@Sendable () async -> Void)? = nil
    ) {
        self.configuration = configuration
        self.backend = backend
        self.eventLoopGroup = eventLoopGroup
        self.onListening = onListening
        let registry = SocketClientRegistry(maxHeldLines: configuration.backlogLines)
        self.registry = registry
        self.logger = logger
        self.goodbye = ByteBuffer(bytes: MessageCoding.line(ErrorMessage(message: "necd is shutting down")))
        self.sequencer = EventSequencer { event in
            let bytes = ByteBuffer(bytes: event.line)
            let dropped = registry.publish(.init(seq: event.seq, bytes: bytes))
            if dropped > 0 {
                logger.warning("dropped clients whose backlog passed its bound", metadata: ["count": "\(dropped)"])
            }
        }
    }

    /// How many clients are connected now.
    public nonisolated var clientCount: Int { registry.count }

    /// How many clients watch and have caught up with the stored events.
    public nonisolated var liveWatcherCount: Int { registry.liveWatcherCount }

    /// How many connections are open, counted against `maxClients`; a connection counts
    /// from the moment it is accepted until it is closed.
    public nonisolated var connectionCount: Int { slots.count }

    /// Requests read from clients, waiting for the one before them on their connection.
    public nonisolated var requestsWaiting: Int { requestCounts.waiting }

    /// Requests being answered now (at most one per connection).
    public nonisolated var requestsBeingAnswered: Int { requestCounts.answering }

    /// Sends a stored event (or a live-only `READER` event) to every watcher. Never waits.
    ///
    /// Call it after the event is durably stored, in `seq` order. A writer that may run
    /// alongside others (each reader's taps decide at once) uses ``reserve()`` and
    /// ``publish(_:for:)`` instead, which keep the order for it.
    /// - Parameter event: the event's line, exactly as the journal replays it.
    public nonisolated func publish(_ event: EventLine) {
        sequencer.finish(nil, with: event)
    }

    /// Takes a place in the publishing order; call it before writing an event to the journal.
    public nonisolated func reserve() -> PublishTicket {
        sequencer.reserve()
    }

    /// Publishes what was written with `ticket` (nil when nothing was), as soon as every
    /// event with a lower `seq` has been published. Never waits.
    /// - Parameters:
    ///   - event: the stored event's line, or nil.
    ///   - ticket: the ticket taken before writing it.
    public nonisolated func publish(_ event: EventLine?, for ticket: PublishTicket) {
        sequencer.finish(ticket, with: event)
    }

    /// As ``publish(_:for:)``, then runs `then` once the event has been written to the
    /// connection of every watcher that was live when it went out (or that watcher has
    /// gone), never before. The event may first wait for a lower `seq` from another
    /// writer; with no event, `then` follows what is already queued. A watcher that does
    /// not read holds `then` back until it is dropped. `then` runs on a writer's thread or
    /// task: keep it quick.
    public nonisolated func publish(
        _ event: EventLine?, for ticket: PublishTicket, then: @escaping @Sendable () -> Void
    ) {
        let registry = self.registry
        sequencer.finish(ticket, with: event) { registry.whenWrittenToLiveWatchers(then) }
    }

    /// Tells the server the newest `seq` already in the journal when writers start, so the
    /// next event is published without waiting on any other writer.
    public nonisolated func startPublishing(after seq: Int64) {
        sequencer.start(after: seq)
    }

    /// Listens and serves until graceful shutdown (or cancellation), then returns once every client is gone.
    public func run() async throws {
        guard case .initial = state else { throw AlreadyStarted() }
        let serverChannel = try await bind()
        // A shutdown that arrived while binding wins.
        guard case .initial = state else {
            try? await serverChannel.channel.close()
            state = .shutdown
            removeBoundSocketFile()
            return
        }
        state = .running(serverChannel: serverChannel.channel)
        logger.info("listening", metadata: ["socket": "\(describe(configuration.endpoint))"])
        warnIfDescriptorsAreShort()
        await onListening?()

        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    try await serverChannel.executeThenClose { connections in
                        for try await accepted in connections {
                            guard let inbox = accepted.inbox else { continue }
                            group.addTask { await self.serve(accepted.channel, inbox: inbox) }
                        }
                    }
                }
            } onCancel: {
                Task { await self.beginShutdown() }
            }
        } onGracefulShutdown: {
            Task { await self.beginShutdown() }
        }
        state = .shutdown
        removeBoundSocketFile()
        logger.info("socket server stopped")
    }

    /// The file is ours unless someone has put another there since; a socket handed over
    /// by systemd is systemd's.
    private func removeBoundSocketFile() {
        if case .path(let path) = configuration.endpoint, let bound = boundSocketFile {
            SocketFile.remove(path, ifStill: bound)
        }
    }

    /// Each client is a file descriptor; say so at start when `max_clients` cannot fit
    /// under the process's limit (necd's own descriptors need some 64 more).
    private func warnIfDescriptorsAreShort() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let needed = UInt64(configuration.maxClients) + 64
        if UInt64(limit.rlim_cur) < needed {
            logger.warning(
                "max_clients does not fit under the file descriptor limit; clients past it will be refused",
                metadata: ["max_clients": "\(configuration.maxClients)", "limit": "\(limit.rlim_cur)"])
        }
    }

    func isRunning() -> Bool {
        if case .running = state { return true }
        return false
    }

    /// Stops accepting, tells every client, and closes each after the grace period.
    private func beginShutdown() {
        switch state {
        case .initial:
            state = .shuttingDown
        case .running(let serverChannel):
            state = .shuttingDown
            serverChannel.close(promise: nil)
            let disconnects = registry.finishAll(goodbye: goodbye)
            logger.info("closing client connections", metadata: ["clients": "\(disconnects.count)"])
            let grace = configuration.shutdownGrace
            // A client that does not read never drains its goodbye; cut it off after the grace.
            eventLoopGroup.next().scheduleTask(in: grace) {
                for disconnect in disconnects { disconnect() }
            }
        case .shuttingDown, .shutdown:
            break
        }
    }

    /// The listen backlog when the configuration leaves it: as long as the system allows
    /// (the kernel caps it at `net.core.somaxconn`, 4096 by default), so a burst of
    /// connections (a flood, or every till reconnecting after a restart) waits in the
    /// kernel instead of being refused with EAGAIN.
    static let systemMaximumBacklog = Int32.max

    // Every accepted connection gets its reading handler here, on the accept path, before
    // it is registered: a client that sends its requests and shuts its side at once has
    // them read into its inbox even before the task that serves it starts. The clients
    // past `maxClients` get a refusal line instead, and no task at all.
    private func bind() async throws -> NIOAsyncChannel<AcceptedConnection, Never> {
        let backlog = configuration.listenBacklog ?? Self.systemMaximumBacklog
        let bootstrap = ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: backlog)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        let slots = self.slots
        let maxClients = configuration.maxClients
        let maxInFlight = configuration.maxRequestsInFlight
        let counts = requestCounts
        let refusal = ByteBuffer(bytes: MessageCoding.line(
            ErrorMessage(message: "too many clients (max_clients \(maxClients)); try again later")))
        let logger = self.logger
        let initializer: @Sendable (any Channel) -> EventLoopFuture<AcceptedConnection> = { channel in
            channel.eventLoop.makeCompletedFuture {
                switch slots.take(limit: maxClients) {
                case .taken(let refusedMeanwhile):
                    if refusedMeanwhile > 0 {
                        logger.notice("accepting clients again", metadata: ["refused": "\(refusedMeanwhile)"])
                    }
                    channel.closeFuture.whenComplete { _ in slots.release() }
                    let inbox = SocketInbox(maxInFlight: maxInFlight, counts: counts)
                    try channel.pipeline.syncOperations.addHandler(
                        SocketConnectionHandler(inbox: inbox, maxLineBytes: ProtocolLimits.maxLineBytes))
                    return AcceptedConnection(channel: channel, inbox: inbox)
                case .full(let first):
                    if first {
                        logger.warning("refusing clients: max_clients reached", metadata: ["max_clients": "\(maxClients)"])
                    }
                    try channel.syncOptions?.setOption(.autoRead, value: false)
                    try channel.pipeline.syncOperations.addHandler(SocketRefusalHandler(line: refusal))
                    return AcceptedConnection(channel: channel, inbox: nil)
                }
            }
        }
        let descriptor: CInt
        var bound: SocketFile.Identity?
        switch configuration.endpoint {
        case .path(let path):
            // Replaces a stale socket file from an earlier run, never one a live server answers on.
            try SocketFile.prepareToBind(path: path)
            descriptor = try SocketFile.bindListening(path: path, backlog: backlog)
            bound = SocketFile.Identity(path: path)
            boundSocketFile = bound
            do {
                try SocketFile.apply(path: path, mode: configuration.mode, group: configuration.group)
            } catch {
                close(descriptor)
                if let bound { SocketFile.remove(path, ifStill: bound) }
                throw error
            }
        case .inheritedDescriptor(let inherited):
            // systemd listens on it already, with the unit's Backlog=.
            descriptor = inherited
        }
        let exhaustion = SocketAcceptExhaustionHandler.Settings(
            listening: descriptor, refusal: ByteBuffer(bytes: MessageCoding.line(ErrorMessage(
                message: "necd is out of file descriptors and cannot serve another client now; try again later"))),
            logger: logger)
        do {
            let channel = try await bootstrap
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(SocketAcceptExhaustionHandler(exhaustion))
                    }
                }
                .bind(descriptor, childChannelInitializer: initializer)
            // NIO listens again on a socket it is handed, with its default backlog of 128,
            // before any option applies; set the backlog back (listen on a listening
            // socket only changes its backlog). systemd's socket gets it too.
            if Glibc.listen(descriptor, backlog) != 0 {
                logger.warning("cannot set the listen backlog", metadata: ["errno": "\(errno)"])
            }
            return channel
        } catch {
            if case .path(let path) = configuration.endpoint {
                close(descriptor)
                if let bound { SocketFile.remove(path, ifStill: bound) }
            }
            throw error
        }
    }

    private nonisolated func describe(_ endpoint: SocketServerConfiguration.Endpoint) -> String {
        switch endpoint {
        case .path(let path): path
        case .inheritedDescriptor(let descriptor): "fd \(descriptor) from systemd"
        }
    }

    /// One buffer for a batch of lines: a client that fell behind catches up with one write, not hundreds.
    private static func joined(_ lines: [ByteBuffer]) -> ByteBuffer {
        if lines.count == 1 { return lines[0] }
        var batch = ByteBuffer()
        batch.reserveCapacity(lines.reduce(0) { $0 + $1.readableBytes })
        for line in lines { batch.writeImmutableBuffer(line) }
        return batch
    }

    /// Serves one client until it leaves, is dropped, or the server shuts down.
    private nonisolated func serve(_ channel: any Channel, inbox: SocketInbox) async {
        let peer = await SocketPeer.of(channel)
        var logger = self.logger
        logger[metadataKey: "peer"] = "\(peer.map(\.description) ?? "unknown")"
        logger.debug("client connected")

        let outbox = SocketOutbox(maxLines: configuration.backlogLines, maxBytes: configuration.backlogBytes)
        let dropLogger = logger
        registry.add(outbox) {
            dropLogger.debug("client disconnected by the server")
            outbox.close()
            channel.close(promise: nil)
        }
        defer { registry.remove(outbox) }
        // Whatever ends the connection (the client closing, a failed write, the server)
        // wakes the writer and the session, even one waiting for room to replay into.
        channel.closeFuture.whenComplete { _ in
            outbox.close()
            inbox.close()
        }
        if await !isRunning() {
            outbox.finish(last: goodbye)
        }

        let session = SocketSession(
            outbox: outbox, inbox: inbox, registry: registry, backend: backend, configuration: configuration,
            peer: peer, logger: logger
        )
        let writerLogger = logger
        await withDiscardingTaskGroup { group in
            group.addTask { await Self.write(outbox, to: channel, logger: writerLogger) }
            await session.serve()
        }
        channel.close(promise: nil)
        logger.debug("client gone")
    }

    /// Writes what the outbox holds until it is closed, or finished and drained; then closes
    /// the connection. Each write is awaited, so by the time the connection is closed every
    /// byte is with the kernel: a client that half-closed reads every answer, then the end.
    private static func write(_ outbox: SocketOutbox, to channel: any Channel, logger: Logger) async {
        while let lines = await outbox.take() {
            do {
                try await channel.writeAndFlush(joined(lines)).get()
                outbox.wrote(lines.count)
            } catch {
                logger.debug("client write failed", metadata: ["error": "\(error)"])
                outbox.close()
                break
            }
        }
        channel.close(promise: nil)
    }
}

/// A connection as the accept path hands it over: with its inbox, or refused (nil).
struct AcceptedConnection: Sendable {
    var channel: any Channel
    var inbox: SocketInbox?
}

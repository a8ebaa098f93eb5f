#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NECProtocol
import NIOCore
import NIOPosix
public import ServiceLifecycle

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
    /// Pending connections the kernel queues (a socket this server binds listens with it).
    private static let listenBacklog: Int32 = 256
    /// The socket file this server bound, so it removes that file and no other.
    private var boundSocketFile: SocketFile.Identity?
    private let configuration: SocketServerConfiguration
    private let backend: any DaemonBackend
    private let registry: SocketClientRegistry
    private let logger: Logger
    private let goodbye: ByteBuffer

    /// Creates a server; it listens once ``run()`` is called.
    /// - Parameters:
    ///   - configuration: where to listen and the per-client bounds.
    ///   - backend: answers requests and replays stored events.
    public init(configuration: SocketServerConfiguration, backend: any DaemonBackend) {
        self.configuration = configuration
        self.backend = backend
        self.registry = SocketClientRegistry(maxHeldLines: configuration.backlogLines)
        self.logger = configuration.logger
        self.goodbye = ByteBuffer(bytes: MessageCoding.line(ErrorMessage(message: "necd is shutting down")))
    }

    /// How many clients are connected now.
    public nonisolated var clientCount: Int { registry.count }

    /// How many clients watch and have caught up with the stored events.
    public nonisolated var liveWatcherCount: Int { registry.liveWatcherCount }

    /// Sends a stored event (or a live-only `READER` event) to every watcher. Never waits.
    ///
    /// Call it after the event is durably stored, in `seq` order.
    /// - Parameter event: the event's line, exactly as the journal replays it.
    public nonisolated func publish(_ event: EventLine) {
        var bytes = ByteBuffer(string: event.json)
        bytes.writeInteger(UInt8(ascii: "\n"))
        let dropped = registry.publish(.init(seq: event.seq, bytes: bytes))
        if dropped > 0 {
            logger.warning("dropped clients whose backlog passed its bound", metadata: ["count": "\(dropped)"])
        }
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
        await configuration.onListening?()

        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    try await serverChannel.executeThenClose { connections in
                        for try await channel in connections {
                            group.addTask { await self.serve(channel) }
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

    private func isRunning() -> Bool {
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
            configuration.eventLoopGroup.next().scheduleTask(in: grace) {
                for disconnect in disconnects { disconnect() }
            }
        case .shuttingDown, .shutdown:
            break
        }
    }

    // Accepted connections come out of the listening socket as plain channels, with
    // reading off, and are wrapped in NIOAsyncChannel by the task that serves them. Wrapping
    // them in the accept path instead leaves a window (swift-nio#2637) where a connection
    // accepted while the server stops is dropped unwrapped-but-unfinished, and NIO's writer
    // traps in deinit ("Deinited NIOAsyncWriter without calling finish()").
    private func bind() async throws -> NIOAsyncChannel<any Channel, Never> {
        let bootstrap = ServerBootstrap(group: configuration.eventLoopGroup)
            .serverChannelOption(.backlog, value: Self.listenBacklog)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.autoRead, value: false)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<any Channel> = { channel in
            channel.eventLoop.makeSucceededFuture(channel)
        }
        switch configuration.endpoint {
        case .path(let path):
            // Replaces a stale socket file from an earlier run, never one a live server answers on.
            try SocketFile.prepareToBind(path: path)
            let descriptor = try SocketFile.bindListening(path: path, backlog: Self.listenBacklog)
            let bound = SocketFile.Identity(path: path)
            boundSocketFile = bound
            do {
                try SocketFile.apply(path: path, mode: configuration.mode, group: configuration.group)
            } catch {
                close(descriptor)
                if let bound { SocketFile.remove(path, ifStill: bound) }
                throw error
            }
            do {
                return try await bootstrap.bind(descriptor, childChannelInitializer: initializer)
            } catch {
                if let bound { SocketFile.remove(path, ifStill: bound) }
                throw error
            }
        case .inheritedDescriptor(let descriptor):
            return try await bootstrap.bind(descriptor, childChannelInitializer: initializer)
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
    private nonisolated func serve(_ channel: any Channel) async {
        let connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            connection = try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SocketLineDecoder()))
                let wrapped = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                    wrappingChannelSynchronously: channel,
                    configuration: .init(isOutboundHalfClosureEnabled: false)
                )
                // Nothing could be read before the handlers were in place; now they are.
                channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
                return wrapped
            }.get()
        } catch {
            logger.debug("client connection could not be set up", metadata: ["error": "\(error)"])
            channel.close(promise: nil)
            return
        }
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
        if await !isRunning() {
            outbox.finish(last: goodbye)
        }

        let session = SocketSession(
            outbox: outbox, registry: registry, backend: backend, configuration: configuration, logger: logger
        )
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        while let lines = await outbox.take() {
                            try await outbound.write(Self.joined(lines))
                        }
                        // Drained after finish, dropped, or told goodbye: nothing more will be sent.
                        channel.close(promise: nil)
                    }
                    await session.serve(inbound)
                    try await group.waitForAll()
                }
            }
        } catch {
            logger.debug("client connection ended", metadata: ["error": "\(error)"])
        }
        outbox.close()
        logger.debug("client gone")
    }
}

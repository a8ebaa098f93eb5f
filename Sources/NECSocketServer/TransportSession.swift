public import NIOCore
import NECProtocol

/// A client that reaches the server by another transport than the Unix socket (the HTTP
/// face's WebSocket), served by the same session as a socket client: the banner, every
/// request and answer, `watch` with `since`, the limits, the slow-client rule and the
/// errors. It counts as a client (`max_clients`, `STATUS`) while it is served.
///
/// The transport reads its messages and hands each over with ``receive(_:)``, one
/// request per message (no `\n` needed), and gives ``serve(send:)`` a way to write the
/// session's messages; each is one JSON object without its `\n`.
///
/// Made by ``SocketServer/openTransportSession(describedAs:)``.
public final class TransportSession: Sendable {
    /// What a message handed to ``receive(_:)`` did.
    public enum Receipt: Sendable, Equatable {
        /// Taken; hand over the next one.
        case taken
        /// Nothing more is read: the message broke the line limit (the client is told and
        /// closed), or the session ended. Stop reading.
        case stopped
    }

    let inbox: SocketInbox
    let outbox: SocketOutbox
    let server: SocketServer
    let description: String
    private let room: AsyncStream<Void>
    private let roomSignal: AsyncStream<Void>.Continuation

    init(server: SocketServer, inbox: SocketInbox, outbox: SocketOutbox, description: String) {
        self.server = server
        self.inbox = inbox
        self.outbox = outbox
        self.description = description
        (room, roomSignal) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        let signal = roomSignal
        inbox.whenRoom { signal.yield() }
    }

    /// Hands one request to the session, waiting while the client already has
    /// `maxRequestsInFlight` requests unanswered (the transport stops reading meanwhile,
    /// as the socket does).
    /// - Parameter message: the request's bytes; a trailing `\n` (or `\r\n`) is dropped.
    public func receive(_ message: [UInt8]) async -> Receipt {
        var line = message[...]
        if line.last == UInt8(ascii: "\n") { line = line.dropLast() }
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        var waits = room.makeAsyncIterator()
        while !inbox.hasRoom {
            if outbox.isClosed { return .stopped }
            // Woken when the session answers a request, or the session ends (``end()``).
            guard await waits.next() != nil else { return .stopped }
        }
        guard !outbox.isClosed else { return .stopped }
        if line.count > ProtocolLimits.maxLineBytes {
            inbox.end(.tooLong(limit: ProtocolLimits.maxLineBytes))
            return .stopped
        }
        inbox.push(Array(line))
        return .taken
    }

    /// The transport's connection is gone: the session stops, and nothing more is written.
    public func end() {
        inbox.close()
        outbox.close()
        roomSignal.finish()
    }

    /// Serves the client until it leaves, is dropped, or the server shuts down.
    /// - Parameter send: writes a batch of the session's messages, in order, returning
    ///   once they are with the transport; throwing ends the session.
    public func serve(send: @escaping @Sendable ([ByteBuffer]) async throws -> Void) async {
        await server.serveTransport(self, send: send)
        roomSignal.finish()
    }
}

extension SocketServer {
    /// Opens a session for a client of another transport, counted against `max_clients`.
    /// - Parameter description: who the client is, for logs (e.g. `ws 127.0.0.1:51234`).
    /// - Returns: the session, or the `ERROR` message to send when `max_clients` are connected.
    public nonisolated func openTransportSession(describedAs description: String) -> Result<TransportSession, TransportRefusal> {
        switch slots.take(limit: configuration.maxClients) {
        case .taken:
            let inbox = SocketInbox(maxInFlight: configuration.maxRequestsInFlight, counts: requestCounts)
            let outbox = SocketOutbox(maxLines: configuration.backlogLines, maxBytes: configuration.backlogBytes)
            return .success(TransportSession(server: self, inbox: inbox, outbox: outbox, description: description))
        case .full:
            let message = ErrorMessage(message: "too many clients (max_clients \(configuration.maxClients)); try again later")
            return .failure(TransportRefusal(message: Self.withoutNewline(MessageCoding.line(message))))
        }
    }

    /// A session's messages, as the transport sends them.
    nonisolated func serveTransport(
        _ session: TransportSession, send: @escaping @Sendable ([ByteBuffer]) async throws -> Void
    ) async {
        defer { slots.release() }
        let outbox = session.outbox
        var peerLogger = self.logger
        peerLogger[metadataKey: "peer"] = "\(session.description)"
        let logger = peerLogger
        logger.debug("client connected")
        let sessionLogger = logger
        let served = SocketSession(
            outbox: outbox, inbox: session.inbox, registry: registry, backend: backend, configuration: configuration,
            peer: nil, logger: sessionLogger)
        let writer = Task {
            while let lines = await outbox.take() {
                do {
                    try await send(lines.map { Self.withoutNewline($0) })
                    outbox.wrote(lines.count)
                } catch {
                    sessionLogger.debug("client write failed", metadata: ["error": "\(error)"])
                    break
                }
            }
            session.end()
        }
        // A client dropped (its backlog passed the bound, or shutdown's grace ran out) may
        // have a write waiting on a peer that does not read: cancelling it ends the write.
        registry.add(outbox) {
            logger.debug("client disconnected by the server")
            session.end()
            writer.cancel()
        }
        defer { registry.remove(outbox) }
        if await !isRunning() {
            outbox.finish(last: goodbye)
        }
        await withTaskCancellationHandler {
            await served.serve()
        } onCancel: {
            writer.cancel()
        }
        if outbox.isClosed { writer.cancel() }
        await writer.value
        logger.debug("client gone")
    }

    private nonisolated static func withoutNewline(_ line: ByteBuffer) -> ByteBuffer {
        var line = line
        if line.readableBytesView.last == UInt8(ascii: "\n") { line.moveWriterIndex(to: line.writerIndex - 1) }
        return line
    }

    private nonisolated static func withoutNewline(_ line: [UInt8]) -> ByteBuffer {
        withoutNewline(ByteBuffer(bytes: line))
    }
}

/// A transport client refused because `max_clients` are connected: send it ``message``
/// (an `ERROR` object) and close.
public struct TransportRefusal: Error, Sendable {
    /// The `ERROR` message, one JSON object.
    public let message: ByteBuffer
}

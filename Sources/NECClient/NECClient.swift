// NECClient: A Swift client for necd's socket: connect, watch with since, reconnect, partial lines.
public import NECProtocol
public import NIOCore
public import NIOPosix
import Foundation
import Glibc

/// A client of necd's socket (protocol v1).
///
/// ```swift
/// let client = NECClient(socketPath: "/run/necd/necd.sock")
/// for try await event in client.events(since: lastSeenSeq) {
///     if case .tap(let tap) = event { show(tap); lastSeenSeq = tap.seq }
/// }
/// ```
///
/// Each request opens its own short connection; ``events(since:)`` holds one open and
/// reconnects whenever it drops, resuming after the last event it handed out.
public struct NECClient: Sendable {
    /// How long to wait between reconnection attempts.
    public struct ReconnectPolicy: Sendable, Hashable {
        /// The first wait after a connection fails or drops.
        public var initialDelay: Duration
        /// The longest wait; each failure doubles the wait up to this.
        public var maximumDelay: Duration

        /// Creates a policy.
        /// - Parameters:
        ///   - initialDelay: the first wait; 0.1 s by default.
        ///   - maximumDelay: the cap on the doubling; 5 s by default.
        public init(initialDelay: Duration = .milliseconds(100), maximumDelay: Duration = .seconds(5)) {
            self.initialDelay = initialDelay
            self.maximumDelay = maximumDelay
        }
    }

    /// The socket's path.
    public let socketPath: String
    /// The waits between reconnections of ``events(since:)``.
    public let reconnectPolicy: ReconnectPolicy
    private let eventLoopGroup: any EventLoopGroup

    /// Creates a client; nothing connects until a request or ``events(since:)``.
    /// - Parameters:
    ///   - socketPath: the daemon's socket, `/run/necd/necd.sock` by default.
    ///   - reconnectPolicy: the waits between reconnections.
    ///   - eventLoopGroup: the event loops to use; NIO's shared group by default.
    public init(
        socketPath: String = "/run/necd/necd.sock",
        reconnectPolicy: ReconnectPolicy = ReconnectPolicy(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.socketPath = socketPath
        self.reconnectPolicy = reconnectPolicy
        self.eventLoopGroup = eventLoopGroup
    }

    // MARK: Events

    /// Follows the daemon's events, for as long as the stream is iterated.
    ///
    /// When the connection drops (daemon restart, network of one socket file going away),
    /// the stream waits (0.1 s, doubling to 5 s) and reconnects with `since` the last
    /// `seq` it handed out, so no stored event is lost or repeated. Without `since` it
    /// starts with events from now on; the first connection's `WATCH` answer then gives
    /// the resume point. `READER` events are live only and may be missed while
    /// disconnected. The stream ends with an error only when the daemon speaks an
    /// incompatible protocol; stop it by ending the iteration (or cancelling its task).
    /// - Parameter since: replay stored events with a greater `seq` first.
    public func events(since: Int64? = nil) -> AsyncThrowingStream<DaemonEvent, any Error> {
        events(since: since, connectionChanges: { _ in })
    }

    /// What ``events(since:connectionChanges:)`` tells about its connection.
    public enum ConnectionChange: Sendable, Hashable {
        /// The daemon answered `watch`: events flow (again).
        case watching
        /// A connection attempt failed or the connection dropped; the stream will retry.
        case lost
    }

    /// ``events(since:)``, also telling `connectionChanges` each time the stream starts
    /// watching and each time a connection fails or drops, so a program can say that it
    /// is waiting for the daemon. Called on the stream's own task, before the events of
    /// the new connection are handed out.
    public func events(
        since: Int64? = nil, connectionChanges: @escaping @Sendable (ConnectionChange) -> Void
    ) -> AsyncThrowingStream<DaemonEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: DaemonEvent.self)
        let task = Task { [self] in
            await follow(since: since, into: continuation, connectionChanges: connectionChanges)
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func follow(
        since: Int64?, into continuation: AsyncThrowingStream<DaemonEvent, any Error>.Continuation,
        connectionChanges: @Sendable (ConnectionChange) -> Void
    ) async {
        var resumeAfter = since
        var delay = reconnectPolicy.initialDelay
        while !Task.isCancelled {
            do {
                try await withConnection { lines, outbound in
                    try await outbound.write(ByteBuffer(string: Request.watch(enable: true, since: resumeAfter).jsonLine + "\n"))
                    while let line = try await lines.next() {
                        switch try? MessageCoding.daemonMessage(from: line) {
                        case .watch(let answer):
                            // Lower than asked only when the daemon's journal was reset.
                            if let start = answer.since, start < resumeAfter ?? .max { resumeAfter = start }
                            delay = reconnectPolicy.initialDelay
                            connectionChanges(.watching)
                        case .tap(let tap):
                            // Decoding refuses a TAP without a seq, so every one here has one.
                            guard let seq = tap.seq else { continue }
                            // The daemon never repeats an event; this guards a resume after an odd restart.
                            if let last = resumeAfter, seq <= last { continue }
                            resumeAfter = seq
                            continuation.yield(.tap(tap))
                        case .reader(let reader):
                            continuation.yield(.reader(reader))
                        case .payment(let payment):
                            // Decoding refuses a PAYMENT without a seq, as a TAP.
                            guard let seq = payment.seq else { continue }
                            if let last = resumeAfter, seq <= last { continue }
                            resumeAfter = seq
                            continuation.yield(.payment(payment))
                        case .voided(let voided):
                            // A VOIDED line without a seq cannot be resumed after: not an event to hand out.
                            guard let seq = voided.seq else { continue }
                            if let last = resumeAfter, seq <= last { continue }
                            resumeAfter = seq
                            continuation.yield(.voided(voided))
                        case .error:
                            // The daemon is shutting down, or could not replay: reconnect.
                            return
                        default:
                            continue
                        }
                    }
                }
            } catch let error as NECClientError where error.isFatal {
                continuation.finish(throwing: error)
                return
            } catch {
                // Refused, reset, or gone: try again after the wait.
            }
            if Task.isCancelled { break }
            connectionChanges(.lost)
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, reconnectPolicy.maximumDelay)
        }
        continuation.finish()
    }

    // MARK: Requests

    /// Every reader the daemon knows (`{"cmd":"readers"}`).
    public func readers() async throws -> ReadersMessage {
        guard case .readers(let answer) = try await request(.readers) else { throw NECClientError.unexpectedAnswer }
        return answer
    }

    /// The daemon's health (`{"cmd":"status"}`).
    public func status() async throws -> StatusMessage {
        guard case .status(let answer) = try await request(.status) else { throw NECClientError.unexpectedAnswer }
        return answer
    }

    /// The decision a card would get now; nothing is redeemed (`{"cmd":"lookup"}`).
    /// - Parameter card: an 18-digit ISRN, or a chip UID in hex.
    public func lookup(card: String) async throws -> LookupMessage {
        guard case .lookup(let answer) = try await request(.lookup(card: card)) else { throw NECClientError.unexpectedAnswer }
        return answer
    }

    /// Cancels the lunch redeemed by event `seq` (`{"cmd":"void"}`).
    /// - Parameter seq: the `TAP` event to void.
    public func void(seq: Int64) async throws -> VoidMessage {
        guard case .void(let answer) = try await request(.void(seq: seq)) else { throw NECClientError.unexpectedAnswer }
        return answer
    }

    /// Serves a pupil by hand, without a card (`{"cmd":"redeem"}`, protocol 1.1): the
    /// daemon decides as for a tap of the pupil's card and answers with the manual `TAP`
    /// event it stored (`"method":"manual"`), which every watcher also gets.
    ///
    /// A redeem has no transaction id, so it is sent again only when it certainly never
    /// reached the daemon (it could not connect): a lunch asked for twice is declined
    /// `already_redeemed` the second time, which would hide the first answer. When the
    /// connection drops after the request was sent, it throws
    /// ``NECClientError/answerLost(_:)``: follow the event stream to learn the outcome.
    /// - Parameters:
    ///   - pupil: the pupil reference the till picked.
    ///   - lane: the till's lane label.
    public func redeem(pupil: String, lane: String? = nil) async throws -> TapEvent {
        let request = Request.redeem(pupil: pupil, lane: lane)
        guard case .tap(let event) = try await deliver(request, resendingAfterLoss: false) else {
            throw NECClientError.unexpectedAnswer
        }
        return event
    }

    /// Charges a pupil's account (`{"cmd":"charge"}`, protocol 1.1) and returns the
    /// `PAYMENT` event the daemon stored: `decision` says whether the money was taken.
    ///
    /// Safe to retry by construction: the request, with its `txn`, is made once, and when
    /// the connection fails before the answer arrives (the daemon restarted, the socket
    /// dropped) exactly that request is sent again on a new connection, after 0.1 s,
    /// doubling. The daemon answers a repeated `txn` with the event it stored the first
    /// time and charges nothing more.
    /// - Parameters:
    ///   - pupil: the pupil to charge.
    ///   - amount: whole pence, 1 to 100000.
    ///   - lane: the till's lane label.
    ///   - txn: the till's transaction id (1 to 64 printable characters, unique per till);
    ///     a fresh one by default. Keep it to refund the charge.
    ///   - attempts: how many times the request may be sent, the first included.
    public func charge(
        pupil: String, amount: Int, lane: String? = nil, txn: String = NECClient.newTransactionID(), attempts: Int = 5
    ) async throws -> PaymentEvent {
        let request = Request.charge(pupil: pupil, amount: amount, txn: txn, lane: lane)
        guard case .payment(let event) = try await deliver(request, resendingAfterLoss: true, attempts: attempts) else {
            throw NECClientError.unexpectedAnswer
        }
        return event
    }

    /// Refunds the charge made as `txn` (`{"cmd":"refund"}`, protocol 1.1) and returns the
    /// `PAYMENT` event of kind `refund` the daemon stored.
    ///
    /// The daemon refuses a second refund of one `txn`, so sending the request again can
    /// never refund twice: it is sent again when the connection fails before the answer.
    /// If that second request is refused, the first may have been carried out after all,
    /// and it throws ``NECClientError/answerLost(_:)`` rather than the refusal: the
    /// refund's `PAYMENT` event, if there is one, is in the event stream.
    /// - Parameters:
    ///   - txn: the charge's transaction id.
    ///   - attempts: how many times the request may be sent, the first included.
    public func refund(txn: String, attempts: Int = 5) async throws -> PaymentEvent {
        guard case .payment(let event) = try await deliver(.refund(txn: txn), resendingAfterLoss: true, attempts: attempts) else {
            throw NECClientError.unexpectedAnswer
        }
        return event
    }

    /// A transaction id no other call makes: `necclient-` and a random UUID.
    public static func newTransactionID() -> String {
        "necclient-" + UUID().uuidString.lowercased()
    }

    /// Sends a request that changes something, and sends it again, unchanged, while its
    /// connection fails: always when it could not have reached the daemon, and after a
    /// lost answer only when `resendingAfterLoss`.
    private func deliver(_ request: Request, resendingAfterLoss: Bool, attempts: Int = 5) async throws -> DaemonMessage {
        var delay = reconnectPolicy.initialDelay
        var mayHaveBeenDone = false
        for attempt in 1...max(attempts, 1) {
            var sent = false
            do {
                return try await exchange(request, allowingUnstored: true) { sent = true }
            } catch NECClientError.refused(let message) {
                // Refused now, but an earlier request whose answer was lost may have been carried out.
                if mayHaveBeenDone { throw NECClientError.answerLost(request.command) }
                throw NECClientError.refused(message)
            } catch let error as NECClientError where error.isFatal {
                throw error
            } catch {
                if sent {
                    guard resendingAfterLoss else { throw NECClientError.answerLost(request.command) }
                    mayHaveBeenDone = true
                }
                if attempt == max(attempts, 1) {
                    throw mayHaveBeenDone ? NECClientError.answerLost(request.command) : error
                }
            }
            try await Task.sleep(for: delay)
            delay = min(delay * 2, reconnectPolicy.maximumDelay)
        }
        throw NECClientError.connectionClosed
    }

    /// Sends one request on a new connection and returns its answer.
    /// - Throws: ``NECClientError/refused(_:)`` when the daemon answers `ERROR`.
    public func request(_ request: Request) async throws -> DaemonMessage {
        try await exchange(request, allowingUnstored: false) {}
    }

    /// One request on a new connection; `onSent` once the request is written, when it may
    /// reach the daemon. Events (of a watch, which this connection never asks for) are skipped,
    /// except the one a `redeem`, `charge` or `refund` is answered with.
    private func exchange(
        _ request: Request, allowingUnstored: Bool, onSent: () -> Void
    ) async throws -> DaemonMessage {
        try await withConnection { lines, outbound in
            try await outbound.write(ByteBuffer(string: request.jsonLine + "\n"))
            onSent()
            while let line = try await lines.next() {
                let message = try MessageCoding.daemonMessage(from: line, allowingUnstored: allowingUnstored)
                switch (message, request) {
                case (.error(let error), _): throw NECClientError.refused(error.message)
                case (.tap, .redeem), (.payment, .charge), (.payment, .refund): return message
                case (.tap, _), (.payment, _), (.voided, _), (.reader, _), (.unknown, _): continue
                default: return message
                }
            }
            throw NECClientError.connectionClosed
        }
    }

    // MARK: Connection

    /// Connects. The connect itself blocks, on a thread of its own: while necd's listen
    /// queue is full (a burst of clients) a non-blocking connect, NIO's, fails at once
    /// with EAGAIN, where a blocking one waits its turn in the kernel. It gives up after
    /// five seconds.
    private func connect() async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let descriptor: CInt
        switch await Self.blockingConnect(to: socketPath, timeout: 5) {
        case .success(let connected):
            descriptor = connected
        case .failure(let failure):
            // The system's words ("No such file or directory", "Permission denied"), not a call's name.
            throw NECClientError.cannotConnect(path: socketPath, reason: String(cString: strerror(failure.code)))
        }
        do {
            return try await ClientBootstrap(group: eventLoopGroup).withConnectedSocket(descriptor) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        } catch {
            throw NECClientError.cannotConnect(path: socketPath, reason: "\(error)")
        }
    }

    /// A connected Unix socket, by a blocking `connect` with a send timeout (which bounds
    /// a Unix socket's connect), made on a new thread so no task's thread waits.
    private static func blockingConnect(to path: String, timeout seconds: Int) async -> Result<CInt, ConnectFailure> {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result<CInt, ConnectFailure>, Never>) in
            let thread = Thread {
                var address = sockaddr_un()
                address.sun_family = sa_family_t(AF_UNIX)
                let bytes = Array(path.utf8)
                guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                    continuation.resume(returning: .failure(ConnectFailure(code: ENAMETOOLONG)))
                    return
                }
                withUnsafeMutableBytes(of: &address.sun_path) { raw in
                    raw.copyBytes(from: bytes)
                    raw[bytes.count] = 0
                }
                let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                guard descriptor >= 0 else {
                    continuation.resume(returning: .failure(ConnectFailure(code: errno)))
                    return
                }
                var limit = timeval(tv_sec: seconds, tv_usec: 0)
                _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                let result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                    }
                }
                guard result == 0 else {
                    let code = errno
                    close(descriptor)
                    continuation.resume(returning: .failure(ConnectFailure(code: code)))
                    return
                }
                continuation.resume(returning: .success(descriptor))
            }
            thread.start()
        }
    }

    /// The errno of a failed connect.
    private struct ConnectFailure: Error {
        var code: Int32
    }

    /// Connects, checks the banner, and runs `body` with the rest of the lines.
    private func withConnection<Result: Sendable>(
        _ body: (inout IncomingLines, NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws -> Result
    ) async throws -> Result {
        let channel = try await connect()
        return try await channel.executeThenClose { inbound, outbound in
            var lines = IncomingLines(inbound.makeAsyncIterator())
            guard let first = try await lines.next(),
                case .version(let banner) = try MessageCoding.daemonMessage(from: first)
            else {
                throw NECClientError.noBanner
            }
            guard banner.protoMajor == ProtocolVersion.major else {
                throw NECClientError.incompatibleProtocol(major: banner.protoMajor)
            }
            return try await body(&lines, outbound)
        }
    }
}

/// An event from ``NECClient/events(since:)``.
///
/// Lines the client cannot read (bad JSON, a known class with a field of the wrong type,
/// an event without a `seq`) and classes this client does not know are skipped, so a
/// newer or misbehaving daemon never ends a watcher's stream.
public enum DaemonEvent: Sendable, Hashable {
    /// A `TAP` (till) or `IDENTIFY` (kiosk) event; its `messageClass` says which, and its
    /// `method` whether a card was read or the pupil was served by hand (protocol 1.1).
    case tap(TapEvent)
    /// A `READER` event: a reader's availability changed (it came, went, or pcscd lost it).
    case reader(ReaderChangeEvent)
    /// A `PAYMENT` event (protocol 1.1): a charge or a refund, authorised or declined.
    case payment(PaymentEvent)
    /// A `VOIDED` event (protocol 1.1): a till voided the lunch of an earlier event.
    case voided(VoidedEvent)

    /// The event's journal sequence number; `nil` for `READER` events.
    public var seq: Int64? {
        switch self {
        case .tap(let tap): tap.seq
        case .reader: nil
        case .payment(let payment): payment.seq
        case .voided(let voided): voided.seq
        }
    }
}

/// Why a request or an event stream failed.
public enum NECClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The socket could not be reached (no daemon, no permission).
    case cannotConnect(path: String, reason: String)
    /// The daemon did not start with a `VERSION` banner.
    case noBanner
    /// The daemon speaks a different major protocol version.
    case incompatibleProtocol(major: Int)
    /// The daemon answered `ERROR` with this message.
    case refused(String)
    /// The daemon closed the connection before answering.
    case connectionClosed
    /// The daemon sent a line over the protocol's limit.
    case lineTooLong
    /// The answer was not the class the request expects.
    case unexpectedAnswer
    /// The connection failed after this request (its `cmd`) was sent and it could not
    /// safely be sent again: the daemon may have carried it out. Its event, if any, is in
    /// the event stream.
    case answerLost(String)

    /// Errors that retrying cannot fix.
    var isFatal: Bool {
        if case .incompatibleProtocol = self { return true }
        return false
    }

    /// A message for a person.
    public var description: String {
        switch self {
        case .cannotConnect(let path, let reason): "cannot connect to \(path): \(reason)"
        case .noBanner: "the socket did not answer with a necd VERSION banner"
        case .incompatibleProtocol(let major): "necd speaks protocol \(major), this client speaks \(ProtocolVersion.major)"
        case .refused(let message): "necd refused: \(message)"
        case .connectionClosed: "necd closed the connection before answering"
        case .lineTooLong: "necd sent a line over \(ProtocolLimits.maxLineBytes) bytes"
        case .unexpectedAnswer: "necd answered with an unexpected message"
        case .answerLost(let command):
            "the connection to necd failed after the \(command) request was sent: it may have been carried out; see the event stream"
        }
    }
}

/// Lines from a connection, however the reads split them.
struct IncomingLines {
    private var reads: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var framer = LineFramer()
    private var ready: [[UInt8]] = []
    private var nextReady = 0

    init(_ reads: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) {
        self.reads = reads
    }

    /// The next complete line, or `nil` at end of stream (an unfinished last line is dropped).
    mutating func next() async throws -> [UInt8]? {
        while nextReady == ready.count {
            guard let chunk = try await reads.next() else { return nil }
            do {
                ready = try framer.append(chunk.readableBytesView)
            } catch {
                throw NECClientError.lineTooLong
            }
            nextReady = 0
        }
        defer { nextReady += 1 }
        return ready[nextReady]
    }
}

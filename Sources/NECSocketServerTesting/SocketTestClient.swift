public import NECProtocol
public import NIOCore
import NIOPosix

/// A bare protocol client for tests: sends raw lines, reads raw lines, no retries or
/// helpful decoding, so tests see exactly what the server sends.
public final class SocketTestClient: Sendable {
    /// The connection did not produce a line in time.
    public struct Timeout: Error, Hashable, Sendable {}

    /// The underlying channel.
    public let channel: any Channel
    private let lines: AsyncStream<ReceivedLine>

    private init(channel: any Channel, lines: AsyncStream<ReceivedLine>) {
        self.channel = channel
        self.lines = lines
    }

    /// Connects, retrying for up to `patience` while the server starts.
    /// - Parameters:
    ///   - path: the socket path.
    ///   - reading: false to never read from the socket (a stuck client).
    ///   - patience: how long to retry connection refusals.
    public static func connect(to path: String, reading: Bool = true, patience: Duration = .seconds(5)) async throws -> SocketTestClient {
        let deadline = ContinuousClock.now + patience
        while true {
            do {
                return try await connectOnce(to: path, reading: reading)
            } catch {
                if ContinuousClock.now > deadline { throw error }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    private static func connectOnce(to path: String, reading: Bool) async throws -> SocketTestClient {
        let (lines, continuation) = AsyncStream.makeStream(of: ReceivedLine.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: reading)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(LineCollector(continuation: continuation))
                }
            }
            .connect(unixDomainSocketPath: path).get()
        return SocketTestClient(channel: channel, lines: lines)
    }

    /// Sends bytes as they are (add the `\n` yourself).
    public func send(raw: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: raw))
    }

    /// Sends one line, adding the `\n`.
    public func send(_ line: String) async throws {
        try await send(raw: Array((line + "\n").utf8))
    }

    /// The next line received, or `nil` once the server has closed the connection.
    /// Call it from one task at a time.
    public func nextLine() async -> String? {
        await nextReceivedLine()?.text
    }

    /// The next line with the moment its last byte was read from the socket, so a
    /// latency measurement does not include the test's own decoding.
    public func nextReceivedLine() async -> ReceivedLine? {
        var iterator = lines.makeAsyncIterator()
        return await iterator.next()
    }

    /// The next line, decoded.
    public func nextMessage() async throws -> DaemonMessage? {
        guard let line = await nextLine() else { return nil }
        return try MessageCoding.daemonMessage(from: Array(line.utf8))
    }

    /// Closes the connection.
    public func close() async {
        try? await channel.close()
    }
}

/// A line as a ``SocketTestClient`` received it.
public struct ReceivedLine: Sendable {
    /// The line, without its `\n`.
    public var text: String
    /// When the read that completed it returned.
    public var receivedAt: ContinuousClock.Instant
}

/// Collects whole lines into a stream, independent of how reads split them.
private final class LineCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let continuation: AsyncStream<ReceivedLine>.Continuation
    private var framer = LineFramer(maxLineBytes: .max)

    init(continuation: AsyncStream<ReceivedLine>.Continuation) {
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        let lines = (try? framer.append(buffer.readableBytesView)) ?? []
        let now = ContinuousClock.now
        for line in lines { continuation.yield(ReceivedLine(text: String(decoding: line, as: UTF8.self), receivedAt: now)) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }
}

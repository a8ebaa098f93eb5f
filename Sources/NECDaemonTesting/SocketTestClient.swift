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
    private let lines: AsyncStream<String>

    private init(channel: any Channel, lines: AsyncStream<String>) {
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
        let (lines, continuation) = AsyncStream.makeStream(of: String.self)
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

    /// The lines received, in order; ends when the server closes the connection.
    public var receivedLines: AsyncStream<String> { lines }

    /// The next line received, or `nil` once the server has closed the connection.
    /// Call it from one task at a time.
    public func nextLine() async -> String? {
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

/// Collects whole lines into a stream, independent of how reads split them.
private final class LineCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let continuation: AsyncStream<String>.Continuation
    private var framer = LineFramer(maxLineBytes: .max)

    init(continuation: AsyncStream<String>.Continuation) {
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        let lines = (try? framer.append(buffer.readableBytesView)) ?? []
        for line in lines { continuation.yield(String(decoding: line, as: UTF8.self)) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }
}

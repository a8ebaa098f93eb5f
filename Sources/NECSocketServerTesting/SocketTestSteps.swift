import Glibc
import NECProtocol
public import NECSocketServer
import NECTestSupport

/// A line that is not the one a test step expected.
public struct UnexpectedLine: Error, CustomStringConvertible {
    /// What the step waited for.
    public let expected: String
    /// What arrived instead; nil when the connection closed.
    public let received: String?

    public var description: String { "expected \(expected), received \(received ?? "the end of the connection")" }
}

/// The `VERSION` banner every connection begins with.
public let versionBanner = #"{"class":"VERSION","release":"0.1.0","proto_major":1,"proto_minor":1}"#

/// Connects, checks the banner, and returns the client.
/// - Parameters:
///   - path: the socket path.
///   - reading: false for a client that never reads (and so never sees the banner).
/// - Throws: ``UnexpectedLine`` when the first line is not the banner.
public func connectPastBanner(_ path: String, reading: Bool = true) async throws -> SocketTestClient {
    let client = try await SocketTestClient.connect(to: path, reading: reading)
    if reading {
        let banner = await client.nextLine()
        guard banner == versionBanner else { throw UnexpectedLine(expected: versionBanner, received: banner) }
    }
    return client
}

/// Reads lines until `count` events arrived, skipping answers; returns their seqs in arrival order.
/// - Parameter read: told how many events have been read so far, after each one.
public func collectSeqs(
    _ client: SocketTestClient, count: Int, read: @Sendable (Int) -> Void = { _ in }
) async throws -> [Int64] {
    var seqs: [Int64] = []
    while seqs.count < count, let message = try await client.nextMessage() {
        if case .tap(let tap) = message, let seq = tap.seq {
            seqs.append(seq)
            read(seqs.count)
        }
    }
    return seqs
}

/// Whether `line` is a `STATUS` answer.
public func isStatus(_ line: String?) -> Bool {
    guard let line, case .status? = try? MessageCoding.daemonMessage(from: Array(line.utf8)) else { return false }
    return true
}

/// The class of the next message (`STATUS`, `ERROR`, ...), or nil once the connection has closed.
public func nextClass(_ client: SocketTestClient) async throws -> String? {
    guard let line = await client.nextLine() else { return nil }
    return try MessageCoding.daemonMessage(from: Array(line.utf8)).className
}

extension DaemonMessage {
    /// The message's `class`, as the wire names it.
    fileprivate var className: String {
        switch self {
        case .version: "VERSION"
        case .watch: "WATCH"
        case .readers: "READERS"
        case .status: "STATUS"
        case .lookup: "LOOKUP"
        case .void: "VOID"
        case .error: "ERROR"
        case .tap(let tap): tap.messageClass.rawValue
        case .reader: "READER"
        case .payment: "PAYMENT"
        case .voided: "VOIDED"
        case .unknown(let messageClass): messageClass.rawValue
        }
    }
}

/// Sends `payload` in one write on a plain POSIX socket, shuts the sending side (what
/// `echo ... | socat - UNIX-CONNECT:...` does), and reads every line until the server closes.
public func sendThenEOF(_ path: String, _ payload: String) async throws -> [String] {
    try await onOwnThread {
        let socket = try RawSocket(path: path)
        try socket.send(raw: Array(payload.utf8))
        try socket.shutdownWrite()
        return try socket.readToEnd()
    }
}

/// A plain POSIX client past the banner with a live `watch`: it has read the `WATCH`
/// answer, and the server counts `watchers` live ones (this one included).
/// - Parameters:
///   - path: the socket path.
///   - server: the server, asked how many watchers are live.
///   - watchers: how many live watchers to wait for.
///   - answer: the exact `WATCH` answer expected; nil to take any.
/// - Throws: ``UnexpectedLine`` for another banner or answer; ``ConditionTimedOut`` when the watch does not go live.
public func rawWatcher(
    _ path: String, on server: SocketServer, watchers: Int = 1, answer: String? = nil
) async throws -> RawSocket {
    let socket = try await onOwnThread { () -> RawSocket in
        let socket = try RawSocket(path: path)
        let banner = try socket.readLine()
        guard banner == versionBanner else { throw UnexpectedLine(expected: versionBanner, received: banner) }
        try socket.send(#"{"cmd":"watch","enable":true}"#)
        let received = try socket.readLine()
        if let answer, received != answer { throw UnexpectedLine(expected: answer, received: received) }
        return socket
    }
    try await waitUntil("the watcher is live") { server.liveWatcherCount == watchers }
    return socket
}

/// Binds (and, when `listening`, listens on) a Unix socket at `path` the way another
/// process would, such as systemd before it hands the socket over.
/// - Returns: the descriptor; the caller closes it.
/// - Throws: ``RawSocket/Failure`` naming the call that failed.
public func boundUnixSocket(at path: String, listening: Bool) throws -> CInt {
    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw RawSocket.Failure("socket: errno \(errno)") }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
    }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard bound == 0, !listening || listen(descriptor, 16) == 0 else {
        let code = errno
        close(descriptor)
        throw RawSocket.Failure("bind or listen \(path): errno \(code)")
    }
    return descriptor
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A blocking Unix-socket client for tests of the built executables, made of plain POSIX
/// calls so what the daemon writes is exactly what the test reads: send a line, read lines
/// with a timeout.
public final class LineSocket: TextMessageSource {
    /// A system call failed.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    private var descriptor: Int32
    private var buffer: [UInt8] = []
    /// True once the peer closed the connection.
    public private(set) var closedByPeer = false

    /// Connects to the socket at `path`.
    public init(path: String) throws {
        descriptor = try Self.connected(to: path)
    }

    deinit { close() }

    /// A stream socket connected to `path`.
    public static func connected(to path: String) throws -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let name = Array(path.utf8)
        guard name.count < capacity else { throw Failure(description: "path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: name + [0]) }
        let made = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard made >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(made, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if result != 0 {
            let code = errno
            Glibc.close(made)
            throw Failure(description: "connect \(path): errno \(code)")
        }
        return made
    }

    /// Closes the connection (also done when the socket is let go of).
    public func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    /// Sends `text` and a newline.
    public func send(_ text: String) throws {
        let bytes = Array((text + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw Failure(description: "send: errno \(errno)") }
            offset += written
        }
    }

    /// The next line without its newline, or nil when none arrives within `timeout` or the peer closed.
    public func readLine(timeout: Duration = .seconds(5)) -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                defer { buffer.removeSubrange(...newline) }
                return String(decoding: buffer[..<newline], as: UTF8.self)
            }
            guard !closedByPeer, ContinuousClock.now < deadline else { return nil }
            switch Self.receive(from: descriptor, until: deadline) {
            case .bytes(let chunk): buffer += chunk
            case .closed: closedByPeer = true
            case .nothing: continue
            }
        }
    }

    public func nextText(timeout: Duration) -> String? { readLine(timeout: timeout) }

    /// What one wait for a connection's bytes gave.
    enum Received {
        case bytes([UInt8])
        /// The peer closed (or reset) the connection.
        case closed
        /// Nothing yet; the deadline may not have passed.
        case nothing
    }

    /// Waits, no longer than until `deadline` (and at most a minute), for bytes on `descriptor`.
    static func receive(from descriptor: Int32, until deadline: ContinuousClock.Instant) -> Received {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { return .nothing }
        var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
        guard Glibc.poll(&waiting, 1, Int32(clamping: max(1, min(milliseconds, 60_000)))) > 0 else { return .nothing }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = recv(descriptor, &chunk, chunk.count, 0)
        return count > 0 ? .bytes(Array(chunk[..<count])) : .closed
    }
}

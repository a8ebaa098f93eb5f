import Foundation
import Glibc

/// A blocking Unix-socket client made of plain POSIX calls, for tests that need exactly
/// what a client in another language does: `send`, `shutdown(SHUT_WR)`, `close`.
///
/// Every call blocks its thread: run it through ``onOwnThread(_:)`` from async tests, so
/// the test never holds a thread of the cooperative pool the server under test needs.
public final class RawSocket: @unchecked Sendable {
    /// A system call failed, or the peer did not answer in time.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The descriptor; -1 once closed.
    public private(set) var descriptor: CInt
    private var buffer: [UInt8] = []
    /// True once a read returned end of input.
    public private(set) var sawEndOfInput = false

    /// Connects to the socket at `path`.
    /// - Throws: ``Failure`` with the errno when the connection is refused.
    public init(path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(descriptor)
            throw Failure("path too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw Failure("connect \(path): errno \(code)")
        }
    }

    /// Takes over a connected descriptor (one `accept` gave), closing it when done.
    /// - Parameter descriptor: a connected stream socket.
    public init(adopting descriptor: CInt) {
        self.descriptor = descriptor
    }

    deinit { close() }

    /// Writes every byte.
    public func send(raw bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure("send: errno \(errno)") }
            sent += n
        }
    }

    /// Writes `text` and a newline.
    public func send(_ text: String) throws { try send(raw: Array((text + "\n").utf8)) }

    /// `shutdown(SHUT_WR)`: the peer reads end of input; this side can still read.
    public func shutdownWrite() throws {
        guard shutdown(descriptor, Int32(SHUT_WR)) == 0 else { throw Failure("shutdown: errno \(errno)") }
    }

    /// Closes the descriptor (both directions).
    public func close() {
        if descriptor >= 0 {
            Glibc.close(descriptor)
            descriptor = -1
        }
    }

    /// The next line without its newline; nil at end of input.
    ///
    /// The default bound only stops a test that would otherwise hang: it is far above
    /// any answer's time, since the whole suite runs its socket tests in parallel on two
    /// cores and a line can wait seconds for a thread there.
    /// - Throws: ``Failure`` when nothing completes a line within `timeout`.
    public func readLine(timeout: Duration = .seconds(60)) throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            if sawEndOfInput { return nil }
            try fill(until: deadline)
        }
    }

    /// Every line until the peer closes; what is left without a newline is returned as a last line.
    /// - Throws: ``Failure`` when the peer does not close within `timeout`.
    public func readToEnd(timeout: Duration = .seconds(60)) throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        while !sawEndOfInput { try fill(until: deadline) }
        var lines = buffer.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if lines.last == "" { lines.removeLast() }
        buffer = []
        return lines
    }

    private func fill(until deadline: ContinuousClock.Instant) throws {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { throw Failure("no data from the peer in time (have \(buffer.count) bytes)") }
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
        let ready = poll(&poller, 1, CInt(max(1, min(milliseconds, 60_000))))
        if ready < 0 && errno != EINTR { throw Failure("poll: errno \(errno)") }
        if ready <= 0 { return }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = recv(descriptor, &chunk, chunk.count, 0)
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return }
            if errno == ECONNRESET {
                sawEndOfInput = true
                return
            }
            throw Failure("recv: errno \(errno)")
        }
        if n == 0 {
            sawEndOfInput = true
            return
        }
        buffer.append(contentsOf: chunk[..<n])
    }
}

/// Runs blocking work on a thread of its own and returns its result, leaving the
/// cooperative pool free for the code under test.
public func onOwnThread<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
        let thread = Thread {
            do {
                continuation.resume(returning: try body())
            } catch {
                continuation.resume(throwing: error)
            }
        }
        thread.start()
    }
}

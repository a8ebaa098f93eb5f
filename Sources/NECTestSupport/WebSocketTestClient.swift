import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP and WebSocket client for tests of necd's HTTP face, made of plain POSIX
/// calls and framed by hand (RFC 6455), so the test sees exactly what necd sends: the
/// status line of a refused upgrade, every text message, the close. It can also stop
/// reading altogether, as a stalled browser tab would. Use it from one thread at a time.
public final class WebSocketTestClient: TextMessageSource, @unchecked Sendable {
    /// An HTTP answer: status, headers (names lower-cased) and body.
    public struct HTTPAnswer: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: String
    }

    /// The server answered the upgrade with something other than 101.
    public struct Refused: Error, CustomStringConvertible {
        public let answer: HTTPAnswer
        public var description: String { "upgrade refused: HTTP \(answer.status) \(answer.body)" }
    }

    private var descriptor: Int32
    private var buffer: [UInt8] = []
    /// True once the server closed the connection or sent a close frame.
    public private(set) var closed = false

    /// Connects to 127.0.0.1:`port` and upgrades `path`.
    /// - Parameters:
    ///   - port: necd's HTTP port.
    ///   - path: the request target, e.g. `/ws?token=...`.
    ///   - origin: the `Origin` header to send; nil sends none.
    /// - Throws: ``Refused`` when the server does not switch protocols.
    public init(port: Int, path: String, origin: String? = nil) throws {
        descriptor = try Self.connected(port: port)
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        if let origin { request += "Origin: \(origin)\r\n" }
        try write(Array((request + "\r\n").utf8))
        let answer = try readHTTPAnswer()
        guard answer.status == 101 else {
            throw Refused(answer: try readHTTPAnswerBody(answer))
        }
    }

    deinit { close() }

    /// One plain HTTP request on a connection of its own (`Connection: close`).
    /// - Parameters:
    ///   - port: necd's HTTP port.
    ///   - path: the request target.
    ///   - headers: extra request headers.
    public static func get(port: Int, path: String, headers: [String: String] = [:]) throws -> HTTPAnswer {
        let client = try WebSocketTestClient(connectingTo: port)
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        try client.write(Array((request + "\r\n").utf8))
        return try client.readHTTPAnswerBody(client.readHTTPAnswer())
    }

    private init(connectingTo port: Int) throws {
        descriptor = try Self.connected(port: port)
    }

    /// Closes the connection without a close frame (also done when the client is let go of).
    public func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    /// Sends one text message.
    public func send(_ text: String) throws {
        try write(Self.frame(opcode: 0x1, payload: Array(text.utf8)))
    }

    /// The next text message, or nil when none arrives within `timeout` or the server closed.
    public func next(timeout: Duration = .seconds(5)) -> String? { nextText(timeout: timeout) }

    public func nextText(timeout: Duration) -> String? {
        let deadline = ContinuousClock.now + timeout
        while !closed {
            if let (opcode, payload) = takeFrame() {
                switch opcode {
                case 0x1: return String(decoding: payload, as: UTF8.self)
                case 0x8: closed = true
                case 0x9: try? write(Self.frame(opcode: 0xA, payload: payload))
                default: continue
                }
                continue
            }
            guard ContinuousClock.now < deadline, fill(until: deadline) else { return nil }
        }
        return nil
    }

    /// Waits until the server closes the connection (reading and discarding what comes).
    /// - Returns: whether it closed within `timeout`.
    public func waitForClose(timeout: Duration = .seconds(5)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !closed, ContinuousClock.now < deadline {
            if let frame = takeFrame() {
                if frame.opcode == 0x8 { closed = true }
            } else {
                _ = fill(until: deadline)
            }
        }
        return closed
    }

    // MARK: Framing

    /// A client frame: FIN, `opcode`, masked as RFC 6455 requires of clients.
    static func frame(opcode: UInt8, payload: [UInt8]) -> [UInt8] {
        var frame: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(0x80 | 127)
            frame += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
        }
        let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return frame
    }

    /// Takes one whole server frame (unmasked) from the buffer, if it holds one.
    private func takeFrame() -> (opcode: UInt8, payload: [UInt8])? {
        guard buffer.count >= 2 else { return nil }
        var length = Int(buffer[1] & 0x7F)
        var start = 2
        if length == 126 {
            guard buffer.count >= 4 else { return nil }
            length = Int(buffer[2]) << 8 | Int(buffer[3])
            start = 4
        } else if length == 127 {
            guard buffer.count >= 10 else { return nil }
            length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
            start = 10
        }
        guard buffer.count >= start + length else { return nil }
        let opcode = buffer[0] & 0x0F
        let payload = Array(buffer[start..<start + length])
        buffer.removeSubrange(..<(start + length))
        return (opcode, payload)
    }

    // MARK: The connection

    /// A TCP port free on loopback now (the kernel's pick), for a necd to listen on.
    public static func freePort() throws -> Int {
        let made = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard made >= 0 else { throw LineSocket.Failure(description: "socket: errno \(errno)") }
        defer { Glibc.close(made) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(made, $0, length) == 0 && getsockname(made, $0, &length) == 0
            }
        }
        guard bound else { throw LineSocket.Failure(description: "bind 127.0.0.1:0: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func connected(port: Int) throws -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let made = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard made >= 0 else { throw LineSocket.Failure(description: "socket: errno \(errno)") }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(made, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 {
            let code = errno
            Glibc.close(made)
            throw LineSocket.Failure(description: "connect 127.0.0.1:\(port): errno \(code)")
        }
        return made
    }

    private func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw LineSocket.Failure(description: "send: errno \(errno)") }
            offset += written
        }
    }

    /// Reads more bytes; false once the connection closed or the deadline passed.
    private func fill(until deadline: ContinuousClock.Instant) -> Bool {
        while ContinuousClock.now < deadline {
            switch LineSocket.receive(from: descriptor, until: deadline) {
            case .bytes(let chunk):
                buffer += chunk
                return true
            case .closed:
                closed = true
                return false
            case .nothing:
                continue
            }
        }
        return false
    }

    /// The status line and headers; the body stays in the buffer.
    private func readHTTPAnswer() throws -> HTTPAnswer {
        let deadline = ContinuousClock.now + .seconds(10)
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while true {
            if let range = buffer.firstRange(of: end) {
                let head = String(decoding: buffer[..<range.lowerBound], as: UTF8.self)
                buffer.removeSubrange(..<range.upperBound)
                let lines = head.components(separatedBy: "\r\n")
                let status = Int(lines[0].split(separator: " ").dropFirst().first ?? "") ?? 0
                var headers: [String: String] = [:]
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                return HTTPAnswer(status: status, headers: headers, body: "")
            }
            guard fill(until: deadline) else {
                throw LineSocket.Failure(description: "no HTTP answer; got \(String(decoding: buffer, as: UTF8.self))")
            }
        }
    }

    /// Reads the body `Content-Length` announces (chunked bodies are not expected).
    private func readHTTPAnswerBody(_ answer: HTTPAnswer) throws -> HTTPAnswer {
        let length = Int(answer.headers["content-length"] ?? "0") ?? 0
        let deadline = ContinuousClock.now + .seconds(10)
        while buffer.count < length {
            guard fill(until: deadline) else { break }
        }
        var answer = answer
        answer.body = String(decoding: buffer.prefix(length), as: UTF8.self)
        buffer.removeFirst(min(length, buffer.count))
        return answer
    }
}

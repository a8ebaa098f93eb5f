#if canImport(Glibc)
import Glibc
#endif

/// The `[http]` table: necd's optional HTTP listener for browser tills (`/ws`), the status
/// page (`/`) and Prometheus (`/metrics`). No table: no listener at all.
public struct HTTPSettings: Sendable, Equatable {
    /// The address to listen on: an IP address (`127.0.0.1`, `::1`) or `localhost`.
    public var host: String
    /// The TCP port.
    public var port: Int
    /// The exact origins (`scheme://host[:port]`) a browser page may connect to `/ws` from.
    public var allowedOrigins: [String]
    /// The file holding the shared secret every request must present; one line.
    public var tokenFile: String
    /// Whether `host` may be other than a loopback address.
    public var allowRemote: Bool

    /// - Parameters: see the properties.
    public init(host: String, port: Int, allowedOrigins: [String] = [], tokenFile: String, allowRemote: Bool = false) {
        self.host = host
        self.port = port
        self.allowedOrigins = allowedOrigins
        self.tokenFile = tokenFile
        self.allowRemote = allowRemote
    }

    /// `listen` as written: `host:port`, with brackets around an IPv6 address.
    public var listen: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether the listener is reachable from this machine only.
    public var isLoopbackOnly: Bool { Self.isLoopback(host) }

    /// Splits `listen` into host and port.
    /// - Returns: nil, with the reason, when it is not `host:port` with a port from 1 to 65535.
    static func parseListen(_ text: String) -> (host: String, port: Int)? {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, portText.allSatisfy(\.isASCII), let port = Int(portText), (1...65_535).contains(port),
            isAddress(String(host))
        else { return nil }
        return (String(host), port)
    }

    /// Whether `host` is an IPv4 or IPv6 address, or `localhost`.
    static func isAddress(_ host: String) -> Bool {
        host == "localhost" || parse(host, family: AF_INET) != nil || parse(host, family: AF_INET6) != nil
    }

    /// Whether `host` names this machine only: `localhost`, 127.0.0.0/8 or `::1`.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" { return true }
        if let v4 = parse(host, family: AF_INET) { return v4.first == 127 }
        if let v6 = parse(host, family: AF_INET6) { return v6 == [UInt8](repeating: 0, count: 15) + [1] }
        return false
    }

    /// Whether `origin` is what a browser sends in `Origin`: `http` or `https`, `://`, a
    /// host, an optional port, and nothing after (no path, no trailing `/`).
    static func isOrigin(_ origin: String) -> Bool {
        let rest: Substring
        if origin.hasPrefix("http://") {
            rest = origin.dropFirst(7)
        } else if origin.hasPrefix("https://") {
            rest = origin.dropFirst(8)
        } else {
            return false
        }
        let allowed = rest.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "-.:[]".unicodeScalars.contains($0))
        }
        return !rest.isEmpty && allowed && rest == rest.lowercased()
    }

    private static func parse(_ host: String, family: Int32) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard inet_pton(family, host, &bytes) == 1 else { return nil }
        return family == AF_INET ? Array(bytes[0..<4]) : bytes
    }
}

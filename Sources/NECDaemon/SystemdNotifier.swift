// sd_notify(3) without libsystemd: one datagram per message to $NOTIFY_SOCKET.
//
// The protocol is small and stable (newline-separated KEY=VALUE in one AF_UNIX datagram),
// and linking libsystemd would tie the binary to systemd being installed at build time.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a notification could not be delivered. Callers usually log it and carry on: a
/// missed READY=1 is visible in `systemctl status`, a crash of the daemon is worse.
public enum SystemdNotifyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `$NOTIFY_SOCKET` is not an absolute path or an abstract `@name`, or is too long.
    case unsupportedAddress(String)
    /// A system call failed; `call` names it, `errno` is its error number.
    case systemCall(call: String, errno: Int32)

    /// One line for the log.
    public var description: String {
        switch self {
        case .unsupportedAddress(let address):
            "unsupported NOTIFY_SOCKET address \"\(address)\""
        case .systemCall(let call, let code):
            "\(call) failed: \(String(cString: strerror(code)))"
        }
    }
}

/// Tells the service manager about the daemon's state (readiness, status text, watchdog
/// keep-alives, reload and shutdown) through the `sd_notify` protocol.
///
/// Without `$NOTIFY_SOCKET` (not started by systemd, or `Type=` is not `notify`) every call
/// does nothing, so the daemon calls it unconditionally.
public struct SystemdNotifier: Sendable {
    /// The notification socket, as given in `$NOTIFY_SOCKET`; nil when there is none.
    public let socketAddress: String?
    /// How often systemd expects `WATCHDOG=1`, when it asked for keep-alives for this process.
    public let watchdogTimeout: Duration?

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`.
    ///
    /// The variables are left in the environment: the daemon starts no children, and
    /// leaving them keeps later notifiers (for instance after a reload) working.
    public init(environment: [String: String]) {
        let address = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketAddress = address
        watchdogTimeout = Self.watchdogTimeout(environment: environment, processID: getpid())
    }

    /// Reads the process's own environment.
    public init() {
        self.init(environment: currentEnvironment(["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]))
    }

    /// Whether there is a service manager listening.
    public var isEnabled: Bool { socketAddress != nil }

    /// The interval at which to send ``watchdog()``: half the timeout, as sd_watchdog_enabled(3)
    /// recommends, so one late tick does not kill the daemon.
    public var watchdogInterval: Duration? { watchdogTimeout.map { $0 / 2 } }

    /// The watchdog timeout systemd set for `processID`, or nil when there is none, it is
    /// malformed, or it is meant for another process (`WATCHDOG_PID`).
    public static func watchdogTimeout(environment: [String: String], processID: Int32) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let microseconds = UInt64(text), microseconds > 0,
            microseconds < UInt64(Int64.max)
        else { return nil }
        if let owner = environment["WATCHDOG_PID"], !owner.isEmpty {
            guard let pid = Int32(owner), pid == processID else { return nil }
        }
        return .microseconds(Int64(microseconds))
    }

    /// `READY=1`, with an optional status line: startup is complete.
    public func ready(status: String? = nil) throws(SystemdNotifyError) {
        try send(["READY=1"] + Self.statusField(status))
    }

    /// `STATUS=...`: a one-line summary shown by `systemctl status`.
    public func status(_ text: String) throws(SystemdNotifyError) {
        try send(Self.statusField(text))
    }

    /// `WATCHDOG=1`: the keep-alive for `WatchdogSec=`.
    public func watchdog() throws(SystemdNotifyError) {
        try send(["WATCHDOG=1"])
    }

    /// `STOPPING=1`: shutdown has begun.
    public func stopping(status: String? = nil) throws(SystemdNotifyError) {
        try send(["STOPPING=1"] + Self.statusField(status))
    }

    /// `RELOADING=1` with `MONOTONIC_USEC`: a reload has begun. Send ``ready(status:)`` when
    /// it is done; systemd (and `Type=notify-reload`) uses the timestamp to tell this reload
    /// from an earlier one.
    public func reloading(status: String? = nil) throws(SystemdNotifyError) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
        try send(["RELOADING=1", "MONOTONIC_USEC=\(microseconds)"] + Self.statusField(status))
    }

    /// A `STATUS=` field, with line breaks flattened because a newline ends a field.
    private static func statusField(_ text: String?) -> [String] {
        guard let text else { return [] }
        let flat = text.map { $0 == "\n" || $0 == "\r" ? " " : String($0) }.joined()
        return ["STATUS=\(flat)"]
    }

    /// Sends fields as one datagram; does nothing when there is no service manager.
    public func send(_ fields: [String]) throws(SystemdNotifyError) {
        guard let socketAddress else { return }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketAddress.utf8)
        let abstract = pathBytes.first == UInt8(ascii: "@")
        guard abstract || pathBytes.first == UInt8(ascii: "/") else {
            throw .unsupportedAddress(socketAddress)
        }
        // An abstract address is the name with a leading NUL instead of '@', and no trailing NUL.
        if abstract { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity, pathBytes.count > 1 else {
            throw .unsupportedAddress(socketAddress)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        let length = socklen_t(pathOffset + pathBytes.count + (abstract ? 0 : 1))

        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .systemCall(call: "socket", errno: errno) }
        defer { close(fd) }
        let message = Array((fields.joined(separator: "\n") + "\n").utf8)
        var sent: Int
        repeat {
            sent = message.withUnsafeBytes { bytes in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), $0, length)
                    }
                }
            }
        } while sent < 0 && errno == EINTR
        guard sent >= 0 else { throw .systemCall(call: "sendto", errno: errno) }
    }
}

/// The named variables of the process environment, read with getenv(3) so that a change
/// made with setenv/unsetenv is seen (Foundation's ProcessInfo caches its copy).
func currentEnvironment(_ names: [String]) -> [String: String] {
    var values: [String: String] = [:]
    for name in names {
        if let value = getenv(name) { values[name] = String(cString: value) }
    }
    return values
}

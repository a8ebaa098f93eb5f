// sd_listen_fds(3) without libsystemd: take the listening sockets systemd passes from fd 3.
//
// With socket activation systemd owns /run/necd/necd.sock, so clients can connect while necd
// restarts, and necd needs no permission to create it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A listening socket handed over by the service manager.
public struct ActivatedSocket: Sendable, Hashable {
    /// The descriptor, already listening and marked close-on-exec.
    public let fileDescriptor: Int32
    /// Its name from `FileDescriptorName=` (`LISTEN_FDNAMES`), or nil when none was given.
    public let name: String?
}

/// Why passed sockets could not be taken. Each is a configuration fault in the unit files,
/// worth refusing to start over: serving on a socket of the wrong kind would fail later and
/// more confusingly.
public enum SocketActivationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `LISTEN_FDS` or `LISTEN_PID` is not a number.
    case malformedEnvironment(variable: String, value: String)
    /// A descriptor is not an AF_UNIX stream socket in the listening state.
    case notUnixStreamListener(fileDescriptor: Int32, reason: String)
    /// A system call on a passed descriptor failed.
    case systemCall(call: String, fileDescriptor: Int32, errno: Int32)

    /// One line for the log.
    public var description: String {
        switch self {
        case .malformedEnvironment(let variable, let value):
            "\(variable)=\"\(value)\" is not a number"
        case .notUnixStreamListener(let fd, let reason):
            "passed descriptor \(fd) is not a listening Unix stream socket: \(reason)"
        case .systemCall(let call, let fd, let code):
            "\(call) on passed descriptor \(fd) failed: \(String(cString: strerror(code)))"
        }
    }
}

/// The sockets systemd passes to a socket-activated service (`LISTEN_PID`, `LISTEN_FDS`,
/// `LISTEN_FDNAMES`, descriptors from 3).
public enum SocketActivation {
    /// The first passed descriptor, SD_LISTEN_FDS_START.
    public static let firstDescriptor: Int32 = 3
    /// The variables of the protocol; they are removed once read so that nothing started
    /// later mistakes the sockets for its own.
    static let variables = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]

    /// Takes the sockets passed to this process, checks each is a listening AF_UNIX stream
    /// socket, marks them close-on-exec, and removes the variables from the environment.
    ///
    /// - Returns: The sockets in order, or an empty array when none were passed to this
    ///   process (no `LISTEN_FDS`, or `LISTEN_PID` names another process).
    public static func takeListeningSockets() throws(SocketActivationError) -> [ActivatedSocket] {
        let environment = currentEnvironment(variables)
        for name in variables { unsetenv(name) }
        return try listeningSockets(environment: environment, processID: getpid())
    }

    /// The sockets described by `environment` for `processID`, checked; the environment
    /// itself is not touched. `first` is the first descriptor, 3 except in tests.
    static func listeningSockets(
        environment: [String: String], processID: pid_t, first: Int32 = firstDescriptor
    ) throws(SocketActivationError) -> [ActivatedSocket] {
        guard let countText = environment["LISTEN_FDS"] else { return [] }
        guard let pidText = environment["LISTEN_PID"] else { return [] }
        guard let pid = pid_t(pidText) else {
            throw .malformedEnvironment(variable: "LISTEN_PID", value: pidText)
        }
        guard pid == processID else { return [] }
        guard let count = Int32(countText), count >= 0, count <= 1024 else {
            throw .malformedEnvironment(variable: "LISTEN_FDS", value: countText)
        }
        // Names are optional; a missing or short list leaves the rest unnamed. systemd names
        // a socket after its unit ("necd.socket") unless FileDescriptorName= says otherwise.
        let names = environment["LISTEN_FDNAMES"].map {
            $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        } ?? []
        var sockets: [ActivatedSocket] = []
        for index in 0..<count {
            let fd = first + index
            try markCloseOnExec(fd)
            try checkUnixStreamListener(fd)
            let name: String? = Int(index) < names.count ? names[Int(index)] : nil
            sockets.append(ActivatedSocket(fileDescriptor: fd, name: name.flatMap { $0.isEmpty ? nil : $0 }))
        }
        return sockets
    }

    private static func markCloseOnExec(_ fd: Int32) throws(SocketActivationError) {
        let flags = fcntl(fd, F_GETFD)
        guard flags >= 0 else { throw .systemCall(call: "fcntl(F_GETFD)", fileDescriptor: fd, errno: errno) }
        guard fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0 else {
            throw .systemCall(call: "fcntl(F_SETFD)", fileDescriptor: fd, errno: errno)
        }
    }

    private static func checkUnixStreamListener(_ fd: Int32) throws(SocketActivationError) {
        func option(_ name: Int32) throws(SocketActivationError) -> Int32 {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, name, &value, &length) == 0 else {
                let code = errno
                if code == ENOTSOCK { throw .notUnixStreamListener(fileDescriptor: fd, reason: "not a socket") }
                throw .systemCall(call: "getsockopt", fileDescriptor: fd, errno: code)
            }
            return value
        }
        let domain = try option(SO_DOMAIN)
        guard domain == AF_UNIX else {
            throw .notUnixStreamListener(fileDescriptor: fd, reason: "address family \(domain), not AF_UNIX")
        }
        let type = try option(SO_TYPE)
        guard type == Int32(SOCK_STREAM.rawValue) else {
            throw .notUnixStreamListener(fileDescriptor: fd, reason: "socket type \(type), not SOCK_STREAM")
        }
        guard try option(SO_ACCEPTCONN) == 1 else {
            throw .notUnixStreamListener(fileDescriptor: fd, reason: "not listening (use ListenStream=, Accept=no)")
        }
    }
}

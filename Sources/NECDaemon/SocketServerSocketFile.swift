#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the socket file could not be given its mode or group.
public enum SocketFileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `socket_group` names a group the system does not know.
    case unknownGroup(String)
    /// `chmod` on the socket file failed with this errno.
    case chmodFailed(path: String, errno: Int32)
    /// `chown` on the socket file failed with this errno.
    case chownFailed(path: String, group: UInt32, errno: Int32)
    /// Another process accepts connections on the socket at this path: it is left alone.
    case inUse(path: String)
    /// Something other than a socket is at the path: it is left alone.
    case notASocket(path: String)
    /// Creating, binding or listening on the socket failed with this errno.
    case listenFailed(path: String, errno: Int32)

    /// A message for the log.
    public var description: String {
        switch self {
        case .unknownGroup(let name): "socket_group \"\(name)\" is not a group on this system"
        case .chmodFailed(let path, let code): "cannot set the mode of \(path): \(String(cString: strerror(code)))"
        case .chownFailed(let path, let group, let code):
            "cannot give \(path) to group \(group): \(String(cString: strerror(code)))"
        case .inUse(let path): "another process is listening on \(path) (is necd already running?)"
        case .notASocket(let path): "\(path) exists and is not a socket; remove it or choose another socket path"
        case .listenFailed(let path, let code): "cannot listen on \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// Creates the listening socket and sets the socket file's permissions, so only its
/// owner and group may connect.
enum SocketFile {
    /// Binds and listens on a new socket at `path`, replacing a stale socket file (one
    /// nobody listens on, left by a crash) but never a live one or anything else.
    /// - Returns: the listening descriptor (non-blocking, close-on-exec).
    static func listen(path: String, backlog: Int32) throws(SocketFileError) -> CInt {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw .listenFailed(path: path, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        var existing = stat()
        if lstat(path, &existing) == 0 {
            guard existing.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path: path) }
            if isListening(&address) { throw .inUse(path: path) }
            unlink(path)
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw .listenFailed(path: path, errno: errno) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, Glibc.listen(descriptor, backlog) == 0 else {
            let code = errno
            close(descriptor)
            throw .listenFailed(path: path, errno: code)
        }
        return descriptor
    }

    /// Whether a process accepts connections at `address` now.
    private static func isListening(_ address: inout sockaddr_un) -> Bool {
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return false }
        defer { close(probe) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        // ECONNREFUSED: a socket file with nobody behind it. EAGAIN: alive, its backlog full.
        return connected == 0 || errno == EAGAIN
    }

    /// Resolves a configured group to its id.
    static func groupID(_ group: SocketServerConfiguration.Group) throws(SocketFileError) -> UInt32 {
        switch group {
        case .id(let gid):
            return gid
        case .name(let name):
            var entry = group_t()
            var result: UnsafeMutablePointer<group_t>?
            var scratch = [CChar](repeating: 0, count: 16_384)
            let status = getgrnam_r(name, &entry, &scratch, scratch.count, &result)
            guard status == 0, let found = result else { throw .unknownGroup(name) }
            return found.pointee.gr_gid
        }
    }

    /// Gives the socket file its mode and, when configured, its group.
    static func apply(path: String, mode: UInt32, group: SocketServerConfiguration.Group?) throws(SocketFileError) {
        if let group {
            let gid = try groupID(group)
            // Only root may give a file to a group it is not in; others try and report why not.
            if chown(path, uid_t.max, gid) != 0 {
                throw .chownFailed(path: path, group: gid, errno: errno)
            }
        }
        if chmod(path, mode_t(mode)) != 0 {
            throw .chmodFailed(path: path, errno: errno)
        }
    }
}

#if canImport(Glibc)
private typealias group_t = group
#else
private typealias group_t = Darwin.group
#endif

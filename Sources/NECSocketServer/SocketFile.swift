#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the socket file could not be made ready, or given its mode or group.
public enum SocketFileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `socket_group` names a group the system does not know.
    case unknownGroup(String)
    /// `chmod` on the socket file failed with this errno.
    case chmodFailed(path: String, errno: Int32)
    /// `chown` on the socket file failed with this errno.
    case chownFailed(path: String, group: UInt32, errno: Int32)
    /// Another process accepts connections on the socket at this path.
    case inUse(path: String)
    /// Something that is not a socket is at this path.
    case notASocket(path: String)
    /// Whether the socket at this path is alive could not be found out (connect failed with this errno).
    case cannotProbe(path: String, errno: Int32)
    /// The stale socket file at this path could not be removed.
    case cannotRemoveStale(path: String, errno: Int32)
    /// Creating, binding or listening on the socket at this path failed with this errno.
    case bindFailed(path: String, errno: Int32)

    /// A message for the log.
    public var description: String {
        switch self {
        case .unknownGroup(let name): "socket_group \"\(name)\" is not a group on this system"
        case .chmodFailed(let path, let code): "cannot set the mode of \(path): \(String(cString: strerror(code)))"
        case .chownFailed(let path, let group, let code):
            "cannot give \(path) to group \(group): \(String(cString: strerror(code)))"
        case .inUse(let path):
            "\(path) is in use: another process is listening on it; stop it, or choose another socket path"
        case .notASocket(let path):
            "\(path) exists and is not a socket; remove it, or choose another socket path"
        case .cannotProbe(let path, let code):
            "cannot tell whether another process listens on \(path) (\(String(cString: strerror(code)))); leaving it alone"
        case .cannotRemoveStale(let path, let code):
            "cannot remove the stale socket \(path): \(String(cString: strerror(code)))"
        case .bindFailed(let path, let code):
            "cannot listen on \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// The socket file's life: made ready for binding without taking over a live socket,
/// given its permissions so only its owner and group may connect, and removed at the
/// end only if it is still the one this process bound.
public enum SocketFile {
    /// A file's device and inode: which file a path names right now.
    struct Identity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64

        /// The file at `path` (not following a link), or nil when there is none.
        init?(path: String) {
            var info = stat()
            guard lstat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    /// Leaves `path` free for `bind`: nothing there is fine; a socket nobody listens on
    /// (connect is refused: its server is gone) is removed; a socket somebody answers on,
    /// or anything that is not a socket, is left alone and refused.
    public static func prepareToBind(path: String) throws(SocketFileError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else { throw .notASocket(path: path) }
        switch probe(path) {
        case 0:
            throw .inUse(path: path)
        case ECONNREFUSED:
            // Stale: a server bound it and went away without removing it (killed, say).
            if unlink(path) != 0 && errno != ENOENT { throw .cannotRemoveStale(path: path, errno: errno) }
        case ENOENT:
            return
        case EAGAIN:
            // Its listen backlog is full: very much alive.
            throw .inUse(path: path)
        case let code:
            throw .cannotProbe(path: path, errno: code)
        }
    }

    /// Creates a listening Unix stream socket at `path` (which ``prepareToBind(path:)`` has
    /// left free) and returns its descriptor.
    ///
    /// The server binds it itself rather than letting NIO do so, because NIO removes the
    /// path when a socket it bound closes, whoever's file is there by then.
    static func bindListening(path: String, backlog: Int32) throws(SocketFileError) -> CInt {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .bindFailed(path: path, errno: errno) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let bound = withAddress(of: path) { bind(fd, $0, $1) }
        guard bound == 0 else {
            let code = bound == nil ? ENAMETOOLONG : errno
            close(fd)
            throw .bindFailed(path: path, errno: code)
        }
        guard listen(fd, backlog) == 0 else {
            let code = errno
            close(fd)
            unlink(path)
            throw .bindFailed(path: path, errno: code)
        }
        return fd
    }

    /// Removes the socket file at `path` if it is still `bound`, the file this process
    /// bound; a file someone else has put there since is theirs.
    static func remove(_ path: String, ifStill bound: Identity) {
        guard Identity(path: path) == bound else { return }
        unlink(path)
    }

    /// Connects to the socket at `path` without waiting; 0 when something accepted, else the errno.
    private static func probe(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        // Non-blocking: a live server whose backlog is full answers EAGAIN instead of a wait.
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        guard let result = withAddress(of: path, { connect(fd, $0, $1) }) else { return ENAMETOOLONG }
        return result == 0 ? 0 : errno
    }

    /// Calls `body` with `path` as a Unix socket address; nil when the path does not fit one.
    private static func withAddress(
        of path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32
    ) -> Int32? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
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

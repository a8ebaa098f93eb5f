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

    /// A message for the log.
    public var description: String {
        switch self {
        case .unknownGroup(let name): "socket_group \"\(name)\" is not a group on this system"
        case .chmodFailed(let path, let code): "cannot set the mode of \(path): \(String(cString: strerror(code)))"
        case .chownFailed(let path, let group, let code):
            "cannot give \(path) to group \(group): \(String(cString: strerror(code)))"
        }
    }
}

/// Sets the socket file's permissions, so only its owner and group may connect.
enum SocketFile {
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

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why necd's socket cannot be used, in words a technician can act on.
///
/// The client library reports a failed connection with the socket library's own text
/// (a call name and an errno), which means nothing to a person. After a failure necctl asks
/// the socket itself, with one plain `connect(2)`, and words what it finds.
struct SocketProblem: Equatable {
    enum Kind: Equatable {
        /// No socket file: necd (or necd.socket) is not running, or the path is wrong.
        case missing
        /// A socket file nobody listens on: necd stopped without removing it.
        case refused
        /// This user may not connect.
        case permissionDenied
        /// The path is there but is no socket.
        case notASocket
        /// Anything else.
        case other
    }

    var kind: Kind
    /// What is wrong, one line: `no socket at /run/necd/necd.sock`.
    var summary: String
    /// What to do about it, one line.
    var fix: String

    /// True when necd is simply not there (as opposed to not letting this user in).
    var necdIsDown: Bool { kind == .missing || kind == .refused }

    /// What stops this user connecting to `path`, or nil when a connection succeeds now.
    /// - Parameter group: the group the configuration says tills are in (`socket_group`).
    static func diagnose(_ path: String, group: String) -> SocketProblem? {
        let code = connectErrno(path)
        if code == 0 { return nil }
        let running = "is necd running? (systemctl status necd.socket necd; necctl doctor)"
        switch code {
        case ENOENT:
            return SocketProblem(kind: .missing, summary: "no socket at \(path)", fix: running)
        case ECONNREFUSED:
            return SocketProblem(kind: .refused, summary: "nothing is listening on \(path)", fix: running)
        case ENOTSOCK:
            return SocketProblem(kind: .notASocket, summary: "\(path) is not a socket", fix: "check --socket or socket in necd.toml")
        case EACCES, EPERM:
            return permissionProblem(path, configuredGroup: group)
        case ENAMETOOLONG:
            return SocketProblem(
                kind: .other, summary: "the socket path \(path) is too long for a Unix socket (at most 107 bytes)",
                fix: "use a shorter socket path in necd.toml")
        default:
            return SocketProblem(kind: .other, summary: "cannot connect to \(path): \(String(cString: strerror(code)))", fix: running)
        }
    }

    /// EACCES: name the socket's group and say how this user gets into it.
    private static func permissionProblem(_ path: String, configuredGroup: String) -> SocketProblem {
        let user = StoreAccess.currentUser()
        var info = stat()
        let visible = stat(path, &info) == 0
        // The socket itself when this user can see it, else the folder that hides it.
        var folderInfo = stat()
        let folder = (path as NSString).deletingLastPathComponent
        let groupID: gid_t? = visible ? info.st_gid : (stat(folder.isEmpty ? "." : folder, &folderInfo) == 0 ? folderInfo.st_gid : nil)
        let group = groupID.flatMap { id in getgrgid(id).map { String(cString: $0.pointee.gr_name) } } ?? configuredGroup
        let inGroupNow = groupID.map(processHasGroup) ?? false
        if inGroupNow {
            // In the group, yet refused: the mode leaves the group out.
            let mode = visible ? String(info.st_mode & 0o777, radix: 8) : "?"
            return SocketProblem(
                kind: .permissionDenied,
                summary: "permission denied on \(path) (mode \(mode)): its group \(group) may not connect, and \(user) is in it",
                fix: "SocketMode=0660 in necd.socket (or let necd create it), then systemctl restart necd.socket")
        }
        let listed = groupMembers(group).contains(user)
        if listed {
            return SocketProblem(
                kind: .permissionDenied,
                summary: "permission denied on \(path): \(user) was added to group \(group), but this login started before that",
                fix: "log out and in again (or run: newgrp \(group)), or run as root")
        }
        return SocketProblem(
            kind: .permissionDenied,
            summary: "permission denied on \(path): user \(user) is not in the socket's group \(group)",
            fix: "sudo usermod -aG \(group) \(user), then log out and in again (or run as root)")
    }

    /// errno of a plain connect to `path`; 0 when it connects (the connection is closed at once).
    private static func connectErrno(_ path: String) -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return errno }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return ENAMETOOLONG }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0 ? 0 : errno
    }

    /// True when this process (not just the user's entry in /etc/group) holds `group`.
    private static func processHasGroup(_ group: gid_t) -> Bool {
        if getegid() == group { return true }
        let count = getgroups(0, nil)
        guard count > 0 else { return false }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let filled = getgroups(count, &groups)
        return filled > 0 && groups.prefix(Int(filled)).contains(group)
    }

    /// The user names /etc/group lists for `group`.
    private static func groupMembers(_ group: String) -> [String] {
        guard let entry = getgrnam(group), var member = entry.pointee.gr_mem else { return [] }
        var names: [String] = []
        while let name = member.pointee {
            names.append(String(cString: name))
            member += 1
        }
        return names
    }
}

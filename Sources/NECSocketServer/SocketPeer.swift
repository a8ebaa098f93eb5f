#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// Who is at the other end of a connection, as the kernel vouches for it (`SO_PEERCRED`).
public struct SocketPeer: Sendable, Hashable, CustomStringConvertible {
    /// The peer's process id when it connected.
    public var pid: Int32
    /// The peer's effective user id.
    public var uid: UInt32
    /// The peer's effective group id.
    public var gid: UInt32

    /// Creates a peer record.
    /// - Parameters:
    ///   - pid: the process id.
    ///   - uid: the user id.
    ///   - gid: the group id.
    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// `pid=… uid=… gid=…`, for logs.
    public var description: String { "pid=\(pid) uid=\(uid) gid=\(gid)" }

    /// Reads the peer credentials of a connected Unix socket channel.
    /// - Returns: `nil` where the platform or channel does not provide them.
    static func of(_ channel: any Channel) async -> SocketPeer? {
        #if os(Linux)
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        do {
            let credentials: LinuxPeerCredentials = try await provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)
            ).get()
            return SocketPeer(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
        } catch {
            return nil
        }
        #else
        return nil
        #endif
    }
}

#if os(Linux)
/// The layout of Linux's `struct ucred` (pid_t, uid_t, gid_t), which Glibc's module does not export.
private struct LinuxPeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
#endif

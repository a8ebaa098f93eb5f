public import NECProtocol
public import NIOCore

/// The socket server's settings: where it listens and the bounds it keeps. What it runs
/// on, where it logs and whom it tells are given to ``SocketServer/init(configuration:backend:eventLoopGroup:logger:onListening:)``.
public struct SocketServerConfiguration: Sendable {
    /// Where the listening socket comes from.
    public enum Endpoint: Sendable, Hashable {
        /// Bind a new socket at this path, replacing a stale socket file left there.
        case path(String)
        /// Use a socket systemd already bound and handed over (`LISTEN_FDS`).
        /// The daemon neither changes its mode nor removes its file.
        case inheritedDescriptor(CInt)
    }

    /// The group that may connect, by name or number.
    public enum Group: Sendable, Hashable {
        /// A group name, looked up in the group database at startup.
        case name(String)
        /// A numeric group id.
        case id(UInt32)
    }

    /// Where to listen.
    public var endpoint: Endpoint
    /// The socket file's group; `nil` leaves the group the process gives it.
    public var group: Group?
    /// The socket file's permission bits.
    public var mode: UInt32
    /// The release named in the `VERSION` banner.
    public var release: String
    /// A client with more lines than this queued and unsent is dropped.
    public var backlogLines: Int
    /// A client with more bytes than this queued and unsent is dropped.
    public var backlogBytes: Int
    /// How many stored events one replay step asks the backend for.
    public var replayPageSize: Int
    /// The most clients connected at once (`max_clients`); one more is sent an `ERROR`
    /// line and closed. Keep it below the daemon's file descriptor limit.
    public var maxClients: Int
    /// The most requests one connection may have read and not yet answered; while it
    /// has that many, the server stops reading it (pipelined requests wait in the
    /// client's own socket buffer).
    public var maxRequestsInFlight: Int
    /// The listen backlog; `nil` for the system's maximum (`net.core.somaxconn`).
    public var listenBacklog: Int32?
    /// How long clients get to receive the goodbye line on shutdown before they are cut off.
    public var shutdownGrace: TimeAmount

    /// Creates a configuration.
    /// - Parameters:
    ///   - endpoint: where to listen.
    ///   - group: the socket file's group (`socket_group`).
    ///   - mode: the socket file's permission bits; 0660 by default.
    ///   - release: the release named in the banner.
    ///   - backlogLines: lines queued for one client before it is dropped.
    ///   - backlogBytes: bytes queued for one client before it is dropped.
    ///   - replayPageSize: events per backend call when replaying.
    ///   - maxClients: clients connected at once before more are refused.
    ///   - maxRequestsInFlight: requests read and not yet answered, per connection.
    ///   - listenBacklog: the listen backlog; nil for the system's maximum.
    ///   - shutdownGrace: time clients get to read the goodbye line.
    public init(
        endpoint: Endpoint,
        group: Group? = nil,
        mode: UInt32 = 0o660,
        release: String = ProtocolVersion.release,
        backlogLines: Int = 1_000,
        backlogBytes: Int = 1 << 20,
        replayPageSize: Int = 500,
        maxClients: Int = SocketServerConfiguration.defaultMaxClients,
        maxRequestsInFlight: Int = 16,
        listenBacklog: Int32? = nil,
        shutdownGrace: TimeAmount = .seconds(2)
    ) {
        self.endpoint = endpoint
        self.group = group
        self.mode = mode
        self.release = release
        self.backlogLines = backlogLines
        self.backlogBytes = backlogBytes
        self.replayPageSize = replayPageSize
        self.maxClients = maxClients
        self.maxRequestsInFlight = maxRequestsInFlight
        self.listenBacklog = listenBacklog
        self.shutdownGrace = shutdownGrace
    }

    /// `max_clients` when the configuration does not set it.
    public static let defaultMaxClients = 256
}

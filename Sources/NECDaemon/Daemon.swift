public import Logging
import Entitlements
import Foundation
import Glibc
import NECCardReading
import NECConfiguration
import NECHTTPServer
import NECMetrics
import NECProtocol
import NECSocketServer
import NIOCore
import PCSC
import ServiceLifecycle
import Synchronization
import UnixSignals

/// necd: loads the configuration, opens the store, and runs the socket server, the tap
/// pipeline and housekeeping (journal pruning, systemd watchdog, SIGHUP reload) as one
/// service group that SIGTERM and SIGINT shut down gracefully.
public enum Daemon {
    /// Why necd could not start.
    public struct StartupError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs necd until SIGTERM or SIGINT.
    /// - Parameters:
    ///   - configurationPath: `--config`, or nil for /etc/necd/necd.toml (defaults when absent).
    ///   - logger: where to log.
    /// - Throws: `StartupError` or `ConfigurationError` when necd cannot start.
    public static func run(configurationPath: String?, logger: Logger) async throws {
        // Nothing necd creates is for others to read unless it says so (the socket's mode
        // is set explicitly): the database, its -wal and -shm, and the lock files hold or
        // sit beside pupil references. Under systemd, UMask=0077 says the same.
        umask(0o077)
        let configuration = try NECConfiguration.load(path: configurationPath)
        if let source = configuration.source {
            logger.info("configuration from \(source)")
        } else {
            logger.notice("no configuration file at \(NECConfiguration.defaultPath): using the defaults")
        }
        try makeDirectory(containing: configuration.database, for: "the database", mode: 0o700)
        // One necd per database, for necd's whole life; taken before the store is opened.
        let databaseLock = try lock(
            configuration.database + ".lock", holder: "is using the database \(configuration.database)")
        defer { databaseLock.release() }
        let store: EntitlementStore
        do {
            store = try EntitlementStore(path: configuration.database)
        } catch {
            throw StartupError(description: "cannot open the database \(configuration.database): \(error)")
        }
        let state = DaemonState(configuration: configuration, store: store)
        let registry = ReaderRegistry()
        let notifier = SystemdNotifier()

        let activated = try SocketActivation.takeListeningSockets()
        let endpoint: SocketServerConfiguration.Endpoint
        var socketLock: InstanceLock?
        if let socket = activated.first {
            logger.info("using the listening socket systemd passed (fd \(socket.fileDescriptor))")
            endpoint = .inheritedDescriptor(socket.fileDescriptor)
        } else {
            try makeDirectory(containing: configuration.socket, for: "the socket", mode: 0o755)
            // One necd per socket path too: two daemons with different databases must not
            // take turns replacing each other's socket.
            socketLock = try lock(configuration.socket + ".lock", holder: "is serving the socket \(configuration.socket)")
            // Refuse now, before anything starts, if some other server answers on the path.
            do {
                try SocketFile.prepareToBind(path: configuration.socket)
            } catch {
                throw StartupError(description: error.description)
            }
            endpoint = .path(configuration.socket)
        }
        defer { socketLock?.release() }
        var group: SocketServerConfiguration.Group? = nil
        if getgrnam(configuration.socketGroup) != nil {
            group = .name(configuration.socketGroup)
        } else if case .path = endpoint {
            logger.warning("socket_group \(configuration.socketGroup) does not exist; the socket keeps the daemon's group")
        }
        let relay = EventRelay()
        let list = try? store.listStatus()
        let untrusted = list.map { !state.snapshot.policy.trusts(signer: $0.signer) } ?? false
        let readyStatus =
            untrusted ? "the list in force is not signed by a trusted key; every card is declined"
            : list.map { "list of \($0.rows) rows; waiting for cards" } ?? "no list imported; every card is unknown"
        if let list, untrusted {
            logger.error(
                "require_signed_lists is on and the list in force is \(list.signer == nil ? "unsigned" : "signed by a key not in trusted_list_keys"): every card is declined list_untrusted until a signed list is imported")
        }
        let server = SocketServer(
            configuration: SocketServerConfiguration(
                endpoint: endpoint, group: group, release: ProtocolVersion.release,
                maxClients: configuration.maxClients,
                shutdownGrace: .milliseconds(500)
            ),
            backend: DaemonBackendStore(state: state, registry: registry, relay: relay),
            logger: logger,
            onListening: {
                logger.info("listening on \(configuration.socket)")
                do { try notifier.ready(status: readyStatus) } catch { logger.warning("sd_notify: \(error)") }
            }
        )
        relay.attach(server)
        // Each card is read on the monitor's thread while it is present.
        // check_card_blocked (as in force at each tap, reloads included) adds the Directory.
        let readers = ReaderMonitor<TapReading?> { card in
            TapReading.read(card, directory: state.snapshot.configuration.checkCardBlocked ? .require : .skip)
        }
        let metrics = DaemonMetrics()
        let pipeline = TapPipeline(
            state: state, registry: registry, server: server, events: readers, logger: logger, metrics: metrics)
        let http = try configuration.http.map { settings in
            try HTTPFace.server(settings, sessions: server, state: state, registry: registry, metrics: metrics, logger: logger)
        }
        let housekeeping = Housekeeping(
            configurationPath: configurationPath, state: state, notifier: notifier, http: http, logger: logger)
        // Services stop in the reverse order: the HTTP listener last, after the socket
        // server has said goodbye to its WebSocket clients too.
        var members: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: server), .init(service: pipeline), .init(service: housekeeping),
        ]
        if let http { members.insert(.init(service: http), at: 0) }
        let services = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: members,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await services.run()
        logger.info("necd stopped")
    }

    /// Creates the directory that will hold `path`, when it is missing, and only that
    /// one (as systemd's StateDirectory= and RuntimeDirectory= do): a missing directory
    /// above it means a mistyped path, and making a tree of directories would hide it.
    /// - Parameters:
    ///   - path: the socket or database file.
    ///   - purpose: what the file is, for the message.
    ///   - mode: the new directory's permissions, whatever the umask.
    static func makeDirectory(containing path: String, for purpose: String, mode: mode_t) throws {
        let directory = (path as NSString).deletingLastPathComponent
        guard !directory.isEmpty else { return }
        var info = stat()
        if stat(directory, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw StartupError(description: "cannot use \(directory) for \(purpose): it is not a directory")
            }
            return
        }
        let above = (directory as NSString).deletingLastPathComponent
        if !above.isEmpty, stat(above, &info) != 0 || (info.st_mode & S_IFMT) != S_IFDIR {
            throw StartupError(
                description: "cannot create \(directory) for \(purpose): \(above) does not exist"
                    + " (necd creates only the last directory of the path)")
        }
        guard mkdir(directory, mode) == 0 else {
            // Made meanwhile by someone else: theirs, mode and all.
            if errno == EEXIST { return }
            throw StartupError(description: "cannot create \(directory) for \(purpose): \(String(cString: strerror(errno)))")
        }
        // mkdir's mode passes through the umask; say exactly what is meant.
        chmod(directory, mode)
    }

    /// Takes an ``InstanceLock``, or explains who holds it.
    /// - Parameters:
    ///   - path: the lock file.
    ///   - holder: what the other necd is doing, for the message ("is using the database ...").
    static func lock(_ path: String, holder: String) throws -> InstanceLock {
        do {
            return try InstanceLock.acquire(path: path)
        } catch {
            switch error {
            case .held(let pid):
                let other = pid.map { "another necd (pid \($0))" } ?? "another necd"
                throw StartupError(description: "\(other) \(holder) (it holds \(path)); stop it first")
            case .failed:
                throw StartupError(description: "cannot lock \(error)")
            }
        }
    }
}

/// Hands events journalled by requests (VOIDED, PAYMENT, manual TAP) to the socket
/// server, which is made after the backend that journals them, in the journal's order.
final class EventRelay: Sendable {
    private let server = Mutex<SocketServer?>(nil)

    /// From now on, events go to `server`.
    func attach(_ server: SocketServer) {
        self.server.withLock { $0 = server }
    }

    /// Runs `write`, which journals at most one event and hands it to the closure it is
    /// given, and publishes that event in `seq` order with the taps written alongside.
    ///
    /// A place in the order is taken before `write` starts and given back however it
    /// ends (nothing written, a refusal thrown), so a request's event never overtakes
    /// an earlier tap's and a tap's never overtakes it. Events before ``attach(_:)``
    /// are dropped: nobody can watch yet.
    func writing<T>(_ write: (_ stored: @escaping @Sendable (EventLine) -> Void) async throws -> T) async rethrows -> T {
        guard let server = server.withLock({ $0 }) else { return try await write { _ in } }
        let ticket = server.reserve()
        let handed = Mutex(false)
        defer {
            if !handed.withLock({ $0 }) { server.publish(nil, for: ticket) }
        }
        return try await write { line in
            let first = handed.withLock { done in
                defer { done = true }
                return !done
            }
            if first { server.publish(line, for: ticket) }
        }
    }
}

/// The daemon's chores: SIGHUP reloads the configuration, the journal is pruned hourly,
/// and systemd's watchdog is fed. Ends on graceful shutdown, telling systemd STOPPING=1.
struct Housekeeping: Service {
    let configurationPath: String?
    let state: DaemonState
    let notifier: SystemdNotifier
    /// The HTTP listener, when `[http]` configures one: its token and origins are reloaded too.
    var http: HTTPServer? = nil
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await reloadOnHangup() }
                    group.addTask { await pruneHourly() }
                    if let interval = notifier.watchdogInterval {
                        group.addTask { await feedWatchdog(every: interval) }
                    }
                    try await group.waitForAll()
                }
            }
        } onGracefulShutdown: {
            logger.info("shutting down")
            try? notifier.stopping(status: "shutting down")
        }
    }

    private func reloadOnHangup() async {
        for await _ in await UnixSignalsSequence(trapping: .sighup) {
            reload()
        }
    }

    /// Applies a changed configuration; a bad file is logged and the old settings stay.
    /// Swaps the settings only: the store stays open as it is (the decision policy is
    /// handed to each call): a reload opens no database connection.
    func reload() {
        try? notifier.reloading(status: "reloading the configuration")
        defer { try? notifier.ready(status: "configuration reloaded") }
        let new: NECConfiguration
        do {
            new = try NECConfiguration.load(path: configurationPath)
        } catch {
            logger.error("reload: \(error); keeping the settings in force")
            return
        }
        let current = state.snapshot
        if new.database != current.configuration.database || new.socket != current.configuration.socket
            || new.socketGroup != current.configuration.socketGroup
            || new.maxClients != current.configuration.maxClients
        {
            logger.warning("reload: database, socket, socket_group and max_clients take effect at the next restart")
        }
        var applied = new
        if let http {
            guard let settings = new.http else {
                logger.error("reload: [http] was removed; it takes effect at the next restart, keeping the settings in force")
                return
            }
            let access: HTTPAccess
            do {
                access = try HTTPFace.access(settings)
            } catch {
                logger.error("reload: \(error); keeping the settings in force")
                return
            }
            if let running = current.configuration.http, running.host != settings.host || running.port != settings.port {
                logger.warning("reload: http.listen takes effect at the next restart")
            }
            http.update(access: access)
        } else if new.http != nil {
            logger.warning("reload: [http] takes effect at the next restart")
            applied.http = nil
        }
        // The socket server was made with these at start; the configuration in force says
        // what is really in use.
        applied.database = current.configuration.database
        applied.socket = current.configuration.socket
        applied.socketGroup = current.configuration.socketGroup
        applied.maxClients = current.configuration.maxClients
        state.replace(configuration: applied)
        logger.info("configuration reloaded")
    }

    private func pruneHourly() async {
        while !Task.isCancelled {
            do {
                let current = state.snapshot
                let pruned = try current.store.prune(at: Date(), policy: current.policy)
                if pruned > 0 { logger.info("pruned \(pruned) events older than event_retention") }
            } catch {
                logger.error("pruning the journal failed: \(error)")
            }
            // A timer, not polling: pruning is a chore that needs doing about hourly.
            try? await Task.sleep(for: .seconds(3600))
        }
    }

    private func feedWatchdog(every interval: Duration) async {
        while !Task.isCancelled {
            try? notifier.watchdog()
            // systemd's watchdog wants a ping every WATCHDOG_USEC / 2; that is a timer by nature.
            try? await Task.sleep(for: interval)
        }
    }
}

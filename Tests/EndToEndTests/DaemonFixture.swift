import Foundation
import Glibc
import NECCard
import NECTestSupport
import Testing
import VirtualCard

/// A running necd on the rig's third and fourth virtual readers (a till and a kiosk),
/// with its own configuration, database, socket and entitlement list in a temp folder.
final class DaemonFixture {
    let directory: String
    let socketPath: String
    let databasePath: String
    let configPath: String
    let tillPort: UInt16
    let kioskPort: UInt16
    let tillReader: String
    let kioskReader: String
    private let socketGroup: String
    private(set) var daemon: ChildProcess?
    /// The card last tapped on each port, and when pcscd was seen without it: see ``tap(_:port:)``.
    private var lastTaps: [UInt16: (card: VirtualCardModel, leftAt: ContinuousClock.Instant)] = [:]

    /// Synthetic pupils and cards (OID 9999): see `listCSV`.
    static let lunchCard = syntheticISRN(101)
    static let paidCard = syntheticISRN(102)
    static let hotlistedCard = syntheticISRN(103)
    static let futureCard = syntheticISRN(104)
    static let expiredCard = syntheticISRN(105)
    static let bothCard = syntheticISRN(106)
    static let restartCard = syntheticISRN(107)
    static let secondLunchCard = syntheticISRN(108)
    static let unknownCard = syntheticISRN(199)
    static let uidRowUID: [UInt8] = [0x04, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0x01]
    /// A card whose ISRN row is active and whose UID row is hotlisted (a lost card).
    static let halfHotlistedCard = syntheticISRN(109)
    static let halfHotlistedUID: [UInt8] = [0x04, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0x02]

    static var listCSV: String {
        """
        card,pupil,entitlement,status,valid_from,valid_until,daily_limit,allergens,message
        \(lunchCard.digits),TEST-0001,fsm,active,,,,,
        \(paidCard.digits),TEST-0002,paid,active,,,250,milk;eggs,see the test note
        \(hotlistedCard.digits),TEST-0003,fsm,hotlisted,,,,,
        \(futureCard.digits),TEST-0004,fsm,active,2099-01-01,2099-12-31,,,
        \(expiredCard.digits),TEST-0005,fsm,active,,,,,
        \(bothCard.digits),TEST-0006,fsm+paid,active,,,300,,
        \(restartCard.digits),TEST-0007,fsm,active,,,,,
        \(secondLunchCard.digits),TEST-0008,fsm,active,,,,,
        \(Hex.string(uidRowUID)),TEST-0009,fsm,active,,,,,
        \(halfHotlistedCard.digits),TEST-0011,fsm,active,,,,,
        \(Hex.string(halfHotlistedUID)),TEST-0011,fsm,hotlisted,,,,,

        """
    }

    /// - Parameters:
    ///   - extraConfiguration: top-level TOML keys added to the configuration.
    ///   - socketGroup: `socket_group`, nil for one that does not exist here.
    init(extraConfiguration: String = "", socketGroup: String? = nil) throws {
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("necd-e2e-XXXXXX").path
        var buffer = Array(template.utf8CString)
        guard let made = mkdtemp(&buffer) else { throw LineSocket.Failure(description: "mkdtemp") }
        directory = String(cString: made)
        chmod(directory, 0o755)
        socketPath = directory + "/necd.sock"
        databasePath = directory + "/necd.sqlite"
        configPath = directory + "/necd.toml"
        let ports = VirtualReaders.ports
        let names = (VirtualReaders.environment["NECD_VPCD_READERS"] ?? "").split(separator: "\n").map(String.init)
        guard ports.count >= 4, names.count >= 4 else {
            throw LineSocket.Failure(description: "the rig must give four readers (--pairs 2)")
        }
        tillPort = ports[2]
        kioskPort = ports[3]
        tillReader = names[2]
        kioskReader = names[3]
        self.socketGroup = socketGroup ?? "necd-no-such-group"
        try configure(extraConfiguration)
        let listPath = directory + "/list.csv"
        try Self.listCSV.write(toFile: listPath, atomically: true, encoding: .utf8)
        try Shell.run(BuiltProducts.executable("necctl"), "list", "import", listPath, "--database", databasePath)
    }

    /// (Re)writes the configuration: the fixture's socket, database and readers, with
    /// `extra` (top-level TOML keys) before the `[[reader]]` tables.
    /// - Parameters:
    ///   - extra: top-level TOML keys.
    ///   - database: another `database` than the fixture's (which holds its list).
    ///   - socket: another `socket` than the fixture's.
    ///   - debounce: `debounce`, in seconds.
    func configure(_ extra: String, database: String? = nil, socket: String? = nil, debounce: Double = 0.5) throws {
        let config = """
            socket = "\(socket ?? socketPath)"
            socket_group = "\(socketGroup)"
            database = "\(database ?? databasePath)"
            debounce = \(debounce)
            \(extra)

            [[reader]]
            match = "\(kioskReader)"
            role = "kiosk"
            lane = "kiosk-1"

            [[reader]]
            match = "\(tillReader)"
            role = "till"
            lane = "till-1"

            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Stops necd with SIGTERM and waits for it; returns its exit status.
    @discardableResult
    func stopDaemon() async -> Int32? {
        guard let daemon else { return nil }
        kill(daemon.pid, SIGTERM)
        let status = await daemon.wait(timeout: .seconds(10)).status
        self.daemon = nil
        return status
    }

    deinit {
        daemon?.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts necd and waits until it answers and sees both readers.
    /// - Parameters:
    ///   - environment: variables for necd.
    ///   - socket: where the configuration written last puts the socket, when not the fixture's.
    func start(environment: [String: String] = [:], socket: String? = nil) async throws {
        let process = try ChildProcess(BuiltProducts.executable("necd"), ["--config", configPath], environment: environment)
        daemon = process
        try await waitUntilReady(socket: socket)
    }

    /// Waits until the socket (the fixture's, or `socket`) answers `readers` with both of our readers.
    func waitUntilReady(socket: String? = nil, timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let client = try? LineSocket(path: socket ?? socketPath), client.readObject()?["class"] as? String == "VERSION" {
                try client.send(#"{"cmd":"readers"}"#)
                let names = (client.readObject()?["readers"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                if names.contains(tillReader) && names.contains(kioskReader) { return }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw LineSocket.Failure(description: "necd did not become ready; stderr: \(daemon?.stderr ?? "")")
    }

    /// Kills necd with SIGKILL.
    func killDaemon() async {
        guard let daemon else { return }
        kill(daemon.pid, SIGKILL)
        _ = await daemon.wait(timeout: .seconds(5)).status
        self.daemon = nil
    }

    /// A watcher: connected, banner read, `watch` sent and answered.
    func watcher(since: Int64? = nil) throws -> LineSocket {
        let client = try LineSocket(path: socketPath)
        guard client.readObject()?["class"] as? String == "VERSION" else {
            throw LineSocket.Failure(description: "no VERSION banner")
        }
        if let since {
            try client.send(#"{"cmd":"watch","enable":true,"since":\#(since)}"#)
        } else {
            try client.send(#"{"cmd":"watch","enable":true}"#)
        }
        guard client.readObject()?["class"] as? String == "WATCH" else {
            throw LineSocket.Failure(description: "no WATCH answer")
        }
        return client
    }

    /// Taps a card on a reader and waits for pcscd to notice it has gone again. The same
    /// card tapped again on that reader comes a `debounce` (0.5 s) after it left.
    func tap(_ card: VirtualCardModel, port: UInt16) async throws {
        if let last = lastTaps[port], last.card == card {
            // Pacing, not a wait: the card laid again within `debounce` of leaving would be
            // the same tap by design. A margin for necd hearing of the card leaving after
            // necctl did.
            try await Task.sleep(until: last.leftAt + .milliseconds(700), clock: .continuous)
        }
        try await VirtualCardRunner.tap(card: card, port: port, hold: .milliseconds(700))
        let reader = try #require(VirtualReaders.reader(onPort: port), "no rig reader on port \(port)")
        try await VirtualReaders.waitUntilEmpty([reader])
        lastTaps[port] = (card, .now)
    }

    /// Waits until necd's `readers` answer shows each of `readers` empty: necd has heard
    /// of the cards leaving, not only pcscd.
    func waitUntilNecdSeesEmpty(_ readers: [String]) async throws {
        let client = try LineSocket(path: socketPath)
        _ = client.readObject()
        var last: [[String: Any]] = []
        try await waitUntil("necd sees \(readers) empty", every: .milliseconds(50), detail: { "\(last)" }) {
            try client.send(#"{"cmd":"readers"}"#)
            last = client.readObject(matching: { $0["class"] as? String == "READERS" })?["readers"] as? [[String: Any]] ?? []
            let empty = last.filter { $0["state"] as? String == "empty" }.compactMap { $0["name"] as? String }
            return Set(readers).isSubset(of: empty)
        }
    }

    /// The next TAP or IDENTIFY on `watch`; a test failure with necd's log when none comes.
    func decision(_ watch: LineSocket, timeout: Duration = .seconds(6)) throws -> [String: Any] {
        try #require(nextDecision(watch, timeout: timeout), "no decision; necd said: \(daemon?.stderr ?? "")")
    }

    /// A DESFire NEC with this ISRN (expired when asked).
    static func card(_ isrn: ISRN, expired: Bool = false) -> VirtualCardModel {
        let expiry = expired ? CivilDate(iso: "2024-07-31")! : CivilDate(iso: "2035-07-31")!
        return .desfireITSO(shell: VirtualShell(isrn: isrn, expiry: expiry))
    }
}

/// Reads the next event of class TAP or IDENTIFY.
func nextDecision(_ client: LineSocket, timeout: Duration = .seconds(6)) -> [String: Any]? {
    client.readObject(matching: { ["TAP", "IDENTIFY"].contains($0["class"] as? String ?? "") }, timeout: timeout)
}

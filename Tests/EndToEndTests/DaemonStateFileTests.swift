import Foundation
import Glibc
import NECCard
import NECTestSupport
import Testing
import VirtualCard

// necd's hold on its state and socket files, its refusals at start, voids and trust, run
// against the real executables (necd, necctl), real SQLite files and real sockets. An
// extension of the end-to-end suite, so it runs serialised with it on the same rig.
extension DaemonEndToEndTests {
    // MARK: One necd per database and socket

    @Test func aSecondNecdOnTheSameDatabaseOrSocketRefusesToStart() async throws {
        let d = try DaemonFixture()
        try await d.start()
        let first = try #require(d.daemon).pid
        let socketBefore = try #require(FileIdentity(d.socketPath))

        // The same configuration: the database is taken.
        let same = try await necdRefuses(configPath: d.configPath)
        #expect(same.contains("another necd (pid \(first)) is using the database \(d.databasePath)"), "\(same)")

        // Another database, the same socket: the socket is taken.
        let otherConfig = d.directory + "/other.toml"
        try """
            socket = "\(d.socketPath)"
            socket_group = "necd-no-such-group"
            database = "\(d.directory)/other.sqlite"
            """.write(toFile: otherConfig, atomically: true, encoding: .utf8)
        let other = try await necdRefuses(configPath: otherConfig)
        #expect(other.contains("another necd (pid \(first)) is serving the socket \(d.socketPath)"), "\(other)")

        // The first necd still owns its socket, untouched, and still serves.
        #expect(FileIdentity(d.socketPath) == socketBefore)
        let client = try LineSocket(path: d.socketPath)
        #expect(client.readObject()?["class"] as? String == "VERSION")
        let watch = try d.watcher()
        try await d.tap(DaemonFixture.card(DaemonFixture.lunchCard), port: d.tillPort)
        #expect(try d.decision(watch)["kind"] as? String == "lunch")
        #expect(nextDecision(watch, timeout: .seconds(1)) == nil)
        #expect(await d.stopDaemon() == 0)
    }

    @Test func aSocketAnotherProcessListensOnIsNeverTakenOver() async throws {
        let d = try DaemonFixture()
        let listener = try TestListener(path: d.socketPath)
        let before = try #require(FileIdentity(d.socketPath))
        let said = try await necdRefuses(configPath: d.configPath)
        #expect(said.contains("\(d.socketPath) is in use: another process is listening on it"), "\(said)")
        #expect(FileIdentity(d.socketPath) == before)
        // The other process still gets its connections.
        #expect(try listener.acceptsAClient(at: d.socketPath))
    }

    @Test func aStaleSocketFileIsReplacedAndStoppingLeavesASocketNecdDidNotMake() async throws {
        let d = try DaemonFixture()
        // A socket file nobody listens on (a necd that was killed): connect is refused.
        try TestListener.staleSocketFile(at: d.socketPath)
        try await d.start()
        let watch = try d.watcher()
        _ = watch
        // Someone else's socket appears at the path while necd runs (the file was removed
        // by hand and another server bound the path). Stopping necd must not delete it.
        unlink(d.socketPath)
        let listener = try TestListener(path: d.socketPath)
        let theirs = try #require(FileIdentity(d.socketPath))
        #expect(await d.stopDaemon() == 0)
        #expect(FileIdentity(d.socketPath) == theirs)
        #expect(try listener.acceptsAClient(at: d.socketPath))
    }

    // MARK: Files and directories necd creates

    @Test func theStateFilesAreCreatedPrivateWhateverTheUmask() async throws {
        let d = try DaemonFixture()
        // The usual login umask: files would be 0644 if necd left it to the caller.
        let saved = umask(0o022)
        defer { umask(saved) }
        // The fixture's database, made by `necctl list import` under this umask, is private too.
        #expect(FileIdentity(d.databasePath)?.permissions == 0o600)
        let state = d.directory + "/state"
        let database = state + "/necd.sqlite"
        // A database necd creates itself, in a directory it creates itself.
        try d.configure("", database: database)
        try await d.start()
        let files = [database, database + "-wal", database + "-shm", database + ".lock", d.socketPath + ".lock"]
        #expect(FileIdentity(state)?.permissions == 0o700)
        for file in files { #expect(FileIdentity(file)?.permissions == 0o600, "\(file)") }
        #expect(FileIdentity(d.socketPath)?.permissions == 0o660)
        let watch = try d.watcher()
        try await d.tap(DaemonFixture.card(DaemonFixture.lunchCard), port: d.tillPort)
        #expect(try d.decision(watch)["reason"] as? String == "unknown_card")
        for file in files { #expect(FileIdentity(file)?.permissions == 0o600, "\(file) after a tap") }
    }

    @Test func onlyTheLastDirectoryOfTheSocketAndDatabasePathsIsCreated() async throws {
        let d = try DaemonFixture()
        let deepSocket = d.directory + "/run/necd/necd.sock"
        let config = d.directory + "/deep.toml"
        // The three configurations below differ only in the two paths.
        func configure(socket: String, database: String) throws {
            try """
                socket = "\(socket)"
                socket_group = "necd-no-such-group"
                database = "\(database)"
                """.write(toFile: config, atomically: true, encoding: .utf8)
        }
        try configure(socket: deepSocket, database: d.databasePath)
        let socketSaid = try await necdRefuses(configPath: config)
        #expect(socketSaid.contains("cannot create \(d.directory)/run/necd for the socket: \(d.directory)/run does not exist"), "\(socketSaid)")
        #expect(!FileManager.default.fileExists(atPath: d.directory + "/run"))

        let deepDatabase = d.directory + "/lib/necd/necd.sqlite"
        try configure(socket: d.socketPath, database: deepDatabase)
        let databaseSaid = try await necdRefuses(configPath: config)
        #expect(databaseSaid.contains("cannot create \(d.directory)/lib/necd for the database: \(d.directory)/lib does not exist"), "\(databaseSaid)")
        #expect(!FileManager.default.fileExists(atPath: d.directory + "/lib"))

        // One missing directory is created, as systemd's RuntimeDirectory= would.
        mkdir(d.directory + "/run", 0o755)
        try configure(socket: deepSocket, database: d.databasePath)
        let process = try ChildProcess(BuiltProducts.executable("necd"), ["--config", config])
        defer { process.stop() }
        let banner = try await firstBanner(deepSocket, process)
        #expect(banner?["class"] as? String == "VERSION")
        #expect(FileIdentity(d.directory + "/run/necd")?.permissions == 0o755)
    }

    @Test func anAbbreviationIsNotATimeZone() async throws {
        let d = try DaemonFixture()
        try d.configure(#"time_zone = "BST""#)
        let said = try await necdRefuses(configPath: d.configPath)
        #expect(said.contains(#"\#(d.configPath):5: time_zone: unknown time zone "BST""#), "\(said)")
    }

    // MARK: Decisions

    @Test func aHotlistedRowForAnyIdentifierOfTheCardWins() async throws {
        let d = try DaemonFixture()
        try await d.start()
        let watch = try d.watcher()
        let card = VirtualCardModel.desfireITSO(
            uid: DaemonFixture.halfHotlistedUID,
            shell: VirtualShell(isrn: DaemonFixture.halfHotlistedCard, expiry: CivilDate(iso: "2035-07-31")!))
        try await d.tap(card, port: d.tillPort)
        let decision = try d.decision(watch)
        #expect(decision["decision"] as? String == "declined")
        #expect(decision["reason"] as? String == "hotlisted")
        #expect(decision["pupil"] as? String == "TEST-0011")
        #expect(decision["kind"] == nil)
    }

    @Test func aWriteLockHeldElsewhereDeclinesUnavailableAndTheNextTapIsServed() async throws {
        let d = try DaemonFixture()
        try await d.start()
        let watch = try d.watcher()
        // Another process takes SQLite's write lock and keeps it until it is stopped.
        let holder = try await d.holdingTheWriteLock()
        try await d.tap(DaemonFixture.card(DaemonFixture.lunchCard), port: d.tillPort)
        // necd waits a tap's worth for the lock, not ten seconds: the 6 s only guards a hang.
        let blocked = try d.decision(watch, timeout: .seconds(6))
        #expect(blocked["decision"] as? String == "declined")
        #expect(blocked["reason"] as? String == "unavailable")
        #expect(blocked["kind"] == nil)
        holder.stop()
        try await expectLunchServed(d, watch)
    }

    @Test func necdRefusesToDecideFromAListItsConfigurationDoesNotTrust() async throws {
        let d = try DaemonFixture()
        let necctl = BuiltProducts.executable("necctl")
        let trusted = try Self.keyPair(d.directory + "/trusted.key")
        let stranger = try Self.keyPair(d.directory + "/stranger.key")
        try d.configure("""
            require_signed_lists = true
            trusted_list_keys = ["\(trusted)"]
            """)
        // The fixture imported its list unsigned, with `--database` and no configuration.
        try await d.start()
        let banner = try LineSocket(path: d.socketPath)
        let version = try #require(banner.readObject())
        #expect(version["proto_minor"] as? Int == 1)
        let watch = try d.watcher()
        try await d.tap(DaemonFixture.card(DaemonFixture.lunchCard), port: d.tillPort)
        let unsigned = try d.decision(watch)
        #expect(unsigned["decision"] as? String == "declined")
        #expect(unsigned["reason"] as? String == "list_untrusted")
        #expect(unsigned["pupil"] == nil)
        try banner.send(#"{"cmd":"lookup","card":"\#(DaemonFixture.lunchCard.digits)"}"#)
        #expect(banner.readObject()?["reason"] as? String == "list_untrusted")

        // Signed, by a key necctl was told to trust but necd's configuration does not name.
        let list = d.directory + "/list.csv"
        try Shell.run(necctl, "list", "sign", list, "--key", d.directory + "/stranger.key", "--out", list + ".stranger")
        try Shell.run(
            necctl, "list", "import", list, "--signature", list + ".stranger", "--trusted-key", stranger,
            "--database", d.databasePath)
        try await d.tap(DaemonFixture.card(DaemonFixture.lunchCard), port: d.tillPort)
        #expect(try d.decision(watch)["reason"] as? String == "list_untrusted")

        // Signed by the trusted key: served.
        try Shell.run(necctl, "list", "sign", list, "--key", d.directory + "/trusted.key", "--out", list + ".sig")
        try Shell.run(
            necctl, "list", "import", list, "--signature", list + ".sig", "--trusted-key", trusted,
            "--database", d.databasePath)
        try await expectLunchServed(d, watch)
    }

    /// Taps the fixture's lunch card on the till and expects it served: authorised, a
    /// lunch, for pupil TEST-0001.
    private func expectLunchServed(
        _ d: DaemonFixture, _ watch: LineSocket, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try await d.tap(DaemonFixture.card(DaemonFixture.lunchCard), port: d.tillPort)
        let served = try d.decision(watch)
        #expect(served["decision"] as? String == "authorised", sourceLocation: sourceLocation)
        #expect(served["kind"] as? String == "lunch", sourceLocation: sourceLocation)
        #expect(served["pupil"] as? String == "TEST-0001", sourceLocation: sourceLocation)
    }

    @Test func aVoidIsJournalledAndOnlyTodaysLunchCanBeVoided() async throws {
        let d = try DaemonFixture()
        // UTC-12: the lunch's local day. The daemon is later restarted at UTC+14, where
        // the same instant is always a later day (26 hours apart).
        try d.configure(#"time_zone = "Etc/GMT+12""#)
        try await d.start()
        let watch = try d.watcher()
        try await d.tap(DaemonFixture.card(DaemonFixture.lunchCard), port: d.tillPort)
        let lunch = try d.decision(watch)
        let lunchSeq = try #require(lunch["seq"] as? Int)
        #expect(lunch["kind"] as? String == "lunch")

        let till = try LineSocket(path: d.socketPath)
        _ = till.readObject()
        try till.send(#"{"cmd":"void","seq":\#(lunchSeq)}"#)
        #expect(till.readLine() == #"{"class":"VOID","seq":\#(lunchSeq)}"#)
        let voided = try #require(watch.readObject(matching: { $0["class"] as? String == "VOIDED" }, timeout: .seconds(5)))
        #expect(voided["seq"] as? Int == lunchSeq + 1)
        #expect(voided["voided"] as? Int == lunchSeq)
        #expect(voided["pupil"] as? String == "TEST-0001")
        #expect(voided["lane"] as? String == "till-1")
        #expect((voided["time"] as? String)?.hasSuffix("Z") == true)
        #expect(Set(voided.keys) == ["class", "seq", "time", "voided", "pupil", "lane"])
        // Replayed like any event, byte for byte.
        let replay = try d.watcher(since: Int64(lunchSeq))
        #expect(replay.readLine().map { $0.contains(#""class":"VOIDED","seq":\#(lunchSeq + 1),"#) } == true)
        // The lunch is released: the pupil is served again.
        try await d.tap(DaemonFixture.card(DaemonFixture.lunchCard), port: d.tillPort)
        let again = try d.decision(watch)
        #expect(again["kind"] as? String == "lunch")
        let againSeq = try #require(again["seq"] as? Int)
        #expect(againSeq == lunchSeq + 2)

        // A day later (as necd's zone now sees it), that lunch cannot be voided.
        #expect(await d.stopDaemon() == 0)
        try d.configure(#"time_zone = "Etc/GMT-14""#)
        try await d.start()
        let late = try LineSocket(path: d.socketPath)
        _ = late.readObject()
        try late.send(#"{"cmd":"void","seq":\#(againSeq)}"#)
        let refused = try #require(late.readObject())
        #expect(refused["class"] as? String == "ERROR")
        #expect((refused["message"] as? String)?.contains("only a lunch of today can be voided") == true, "\(refused)")
        try late.send(#"{"cmd":"status"}"#)
        #expect(late.readObject()?["last_seq"] as? Int == againSeq)
    }

    // MARK: Helpers

    /// Runs necd with `configPath` and expects it to stop with a failure; returns what it said.
    private func necdRefuses(configPath: String) async throws -> String {
        let process = try ChildProcess(BuiltProducts.executable("necd"), ["--config", configPath])
        let status = await process.wait(timeout: .seconds(10)).status
        #expect(status != nil && status != 0, "necd did not refuse to start: \(process.stderr)")
        return process.stderr
    }

    /// The VERSION banner from the socket at `path` once necd serves it.
    private func firstBanner(_ path: String, _ process: ChildProcess) async throws -> [String: Any]? {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if let client = try? LineSocket(path: path), let banner = client.readObject() { return banner }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("necd did not serve \(path): \(process.stderr)")
        return nil
    }

    /// Makes a list-signing key pair with necctl; returns the public key (base64).
    private static func keyPair(_ path: String) throws -> String {
        try Shell.run(BuiltProducts.executable("necctl"), "list", "keygen", "--out", path)
        return try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A file's device, inode and permission bits: the same identity means the same file.
struct FileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64
    let permissions: mode_t

    init?(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        permissions = info.st_mode & 0o7777
    }
}

/// A plain listening Unix socket standing for some other server.
final class TestListener {
    private let fd: Int32

    init(path: String) throws {
        fd = try Self.boundSocket(path)
        guard listen(fd, 8) == 0 else {
            close(fd)
            throw LineSocket.Failure(description: "listen: errno \(errno)")
        }
    }

    deinit { close(fd) }

    /// Accepts one connection within 5 s.
    func acceptOne() -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, 5000) == 1 else { return false }
        let client = accept(fd, nil, nil)
        guard client >= 0 else { return false }
        close(client)
        return true
    }

    /// Connects a client to `path` and accepts it: true when this listener is the one
    /// serving `path` and takes the connection within 5 s.
    func acceptsAClient(at path: String) throws -> Bool {
        let client = try LineSocket(path: path)
        defer { withExtendedLifetime(client) {} }
        return acceptOne()
    }

    /// Leaves a socket file at `path` that nobody listens on, as a killed server does.
    static func staleSocketFile(at path: String) throws {
        close(try boundSocket(path))
    }

    /// A Unix socket of `type` (stream unless told) bound to `path`, not yet listening.
    static func boundSocket(_ path: String, type: Int32 = Int32(SOCK_STREAM.rawValue)) throws -> Int32 {
        let fd = socket(AF_UNIX, type, 0)
        guard fd >= 0 else { throw LineSocket.Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw LineSocket.Failure(description: "bind \(path): errno \(code)")
        }
        return fd
    }
}

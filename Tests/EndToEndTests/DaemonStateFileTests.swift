import Foundation
import Glibc
import NECCard
import Testing
import VirtualCard

// necd's hold on its state and socket files, its refusals at start, voids and trust, run
// against the real executables (necd, necctl), real SQLite files and real sockets. An
// extension of the end-to-end suite, so it runs serialised with it on the same rig.
extension DaemonEndToEndTests {
    // MARK: Files and directories necd creates

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

    // MARK: Helpers

    /// Runs necd with `configPath` and expects it to stop with a failure; returns what it said.
    private func necdRefuses(configPath: String) async throws -> String {
        let process = try ChildProcess(BuiltProducts.executable("necd"), ["--config", configPath])
        let status = await process.waitForExit(timeout: .seconds(10))
        #expect(status != nil && status != 0, "necd did not refuse to start: \(process.standardError)")
        return process.standardError
    }

    /// The VERSION banner from the socket at `path` once necd serves it.
    private func firstBanner(_ path: String, _ process: ChildProcess) async throws -> [String: Any]? {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if let client = try? LineSocket(path: path), let banner = client.readObject() { return banner }
            guard process.process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("necd did not serve \(path): \(process.standardError)")
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

    /// Leaves a socket file at `path` that nobody listens on, as a killed server does.
    static func staleSocketFile(at path: String) throws {
        close(try boundSocket(path))
    }

    private static func boundSocket(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
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

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Where the package's built executables are (as in EndToEndTests' harness): next to the
/// test bundle in .build/<triple>/debug, or in $NECD_BIN_DIR.
enum Built {
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    static func executable(_ name: String) -> String {
        if let dir = ProcessInfo.processInfo.environment["NECD_BIN_DIR"] {
            return dir + "/" + name
        }
        let candidate = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        return packageRoot.appendingPathComponent(".build/debug/\(name)").path
    }

    static var necctl: String { executable("necctl") }
}

/// The rig of scripts/with-virtual-readers, as these tests see it.
enum Rig {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }
    /// True inside scripts/with-virtual-readers.
    static var available: Bool { environment["NECD_TEST_PCSCD"] == "1" }
    /// True when the daemon tests are asked for (NECD_TEST_DAEMON=1) and necd is built.
    static var daemonAvailable: Bool {
        available && environment["NECD_TEST_DAEMON"] == "1" && FileManager.default.isExecutableFile(atPath: Built.executable("necd"))
    }
    static var ports: [UInt16] {
        (environment["NECD_VPCD_PORTS"] ?? "").split(separator: ",").compactMap { UInt16($0) }
    }
    static var readers: [String] {
        (environment["NECD_VPCD_READERS"] ?? "").split(separator: "\n").map(String.init)
    }

    /// Runs `$NECD_PCSCD_CTL verb` (stop, kill, start).
    static func pcscd(_ verb: String) async throws {
        let control = try #require(environment["NECD_PCSCD_CTL"])
        let result = try await Child.run("/bin/sh", ["-c", "\(control) \(verb)"], timeout: .seconds(30))
        #expect(result.status == 0, "pcscd \(verb): \(result.stderr)")
    }
}

/// A child process with its output going to files, waited for by polling waitpid: never
/// Foundation's Process, whose waitUntilExit can hang when a grandchild keeps a pipe open.
final class Child: @unchecked Sendable {
    let pid: pid_t
    let stdoutPath: String
    let stderrPath: String
    private var exitStatus: Int32?

    /// What a finished child left.
    struct Result {
        var status: Int32?
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    /// - Parameter stdoutDescriptor: a descriptor to give the child as its standard output
    ///   (the write end of a pipe) instead of a file; ``stdout`` is then empty.
    /// - Parameter stderrDescriptor: the same for standard error.
    init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
        stdoutDescriptor: Int32? = nil, stderrDescriptor: Int32? = nil
    ) throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("toolkit-child-\(UUID().uuidString)").path
        stdoutPath = scratch + ".out"
        stderrPath = scratch + ".err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let stdoutDescriptor {
            posix_spawn_file_actions_adddup2(&actions, stdoutDescriptor, 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        if let stderrDescriptor {
            posix_spawn_file_actions_adddup2(&actions, stderrDescriptor, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        // posix_spawn_file_actions_addchdir_np is not visible to Swift here: env -C changes directory.
        let command = directory.map { ["/usr/bin/env", "-C", $0, executable] } ?? [executable]
        let argv = (command + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // SIGPIPE as a shell leaves it (default): this test process ignores it (NIO does),
        // and an ignored signal would stay ignored in the child.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF))
        var child: pid_t = 0
        let code = posix_spawn(&child, command[0], &actions, &attributes, argv, envp)
        guard code == 0 else { throw SpawnFailed(executable: executable, code: code) }
        pid = child
    }

    struct SpawnFailed: Error { var executable: String; var code: Int32 }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// The exit status once the child has exited (nil while it runs, or when a signal ended it).
    func poll() -> (exited: Bool, status: Int32?) {
        if let exitStatus { return (true, exitStatus) }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        if result == pid {
            let status: Int32? = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : nil
            exitStatus = status ?? -1
            return (true, status)
        }
        if result < 0 {
            exitStatus = -1
            return (true, nil)
        }
        return (false, nil)
    }

    /// Waits for the child to exit; kills it after `timeout` and returns a nil status.
    func wait(timeout: Duration) async -> Result {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let state = poll()
            if state.exited { return Result(status: state.status, stdout: stdout, stderr: stderr) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        stop()
        return Result(status: nil, stdout: stdout, stderr: stderr + "\n(killed after \(timeout))")
    }

    /// Waits until standard output holds `count` lines, or `timeout` passes.
    func waitForLines(_ count: Int, timeout: Duration) async -> [String] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let lines = stdout.split(separator: "\n")
            if lines.count >= count { return lines.map(String.init) }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return stdout.split(separator: "\n").map(String.init)
    }

    /// SIGTERM, then SIGKILL after a second.
    func stop() {
        guard !poll().exited else { return }
        kill(pid, SIGTERM)
        for _ in 0..<100 {
            if poll().exited { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        var raw: Int32 = 0
        waitpid(pid, &raw, 0)
        exitStatus = -1
    }

    deinit {
        stop()
        unlink(stdoutPath)
        unlink(stderrPath)
    }

    /// Runs a program to the end.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> Result {
        let child = try Child(executable, arguments, environment: environment, directory: directory)
        return await child.wait(timeout: timeout)
    }

    /// Runs necctl as user nobody (group nogroup, no other groups), so file modes apply:
    /// the tests run as root, which no permission stops.
    static func necctlAsNobody(_ arguments: [String]) async throws -> Result {
        try await run("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", Built.necctl] + arguments)
    }

    /// Runs necctl to the end.
    static func necctl(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil) async throws -> Result {
        try await run(Built.necctl, arguments, environment: environment, directory: directory)
    }
}

/// A scratch directory, removed when the test is done with it.
final class Scratch: @unchecked Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("toolkit-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try text.write(toFile: file(name), atomically: true, encoding: .utf8)
        return file(name)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// One `necctl doctor --json` line.
struct DoctorLine: Decodable {
    var check: String
    var status: String
    var detail: String?
    var fix: String?
}

/// Parses doctor's JSON lines, keyed by check name.
func doctorLines(_ output: String) throws -> [String: DoctorLine] {
    var lines: [String: DoctorLine] = [:]
    for line in output.split(separator: "\n") {
        let parsed = try JSONDecoder().decode(DoctorLine.self, from: Data(line.utf8))
        lines[parsed.check] = parsed
    }
    return lines
}

/// A synthetic list from scripts/gen-list, imported into `database`. Returns the CSV's path.
@discardableResult
func importGeneratedList(rows: Int, into database: String, scratch: Scratch, name: String = "list.csv") async throws -> String {
    let csv = scratch.file(name)
    let generated = try await Child.run(
        "/usr/bin/env", ["python3", Built.packageRoot.appendingPathComponent("scripts/gen-list").path, String(rows), "--seed", "5", "--out", csv])
    try #require(generated.status == 0, "gen-list: \(generated.stderr)")
    let imported = try await Child.necctl(["list", "import", csv, "--database", database])
    try #require(imported.status == 0, "list import: \(imported.stderr)")
    return csv
}

/// Keeps the tests that stop the rig's pcscd apart from those that need it running: the
/// suites run in parallel, and a tap simulated while another test has pcscd down fails for
/// no fault of its own. Many tests may hold it shared; a test that stops pcscd holds it
/// alone, and starts pcscd again before it lets go.
actor PcscdLock {
    static let shared = PcscdLock()

    private var users = 0
    private var stopper = false
    private var waiting: [(exclusive: Bool, resume: CheckedContinuation<Void, Never>)] = []

    private func canEnter(_ exclusive: Bool) -> Bool { exclusive ? (users == 0 && !stopper) : !stopper }

    private func enter(_ exclusive: Bool) {
        if exclusive { stopper = true } else { users += 1 }
    }

    private func acquire(exclusive: Bool) async {
        // First come, first served: a waiting stopper is not overtaken by later users.
        if waiting.isEmpty && canEnter(exclusive) {
            enter(exclusive)
            return
        }
        await withCheckedContinuation { waiting.append((exclusive, $0)) }
    }

    private func release(exclusive: Bool) {
        if exclusive { stopper = false } else { users -= 1 }
        while let next = waiting.first, canEnter(next.exclusive) {
            waiting.removeFirst()
            enter(next.exclusive)
            next.resume.resume()
        }
    }

    /// Runs `body` while pcscd stays up (other such bodies may run at the same time).
    static func withPcscdRunning<T>(_ body: () async throws -> T) async rethrows -> T {
        await shared.acquire(exclusive: false)
        do {
            let result = try await body()
            await shared.release(exclusive: false)
            return result
        } catch {
            await shared.release(exclusive: false)
            throw error
        }
    }

    /// Runs `body`, which may stop pcscd (and must start it again), with no other pcscd user.
    static func withPcscdToItself<T>(_ body: () async throws -> T) async rethrows -> T {
        await shared.acquire(exclusive: true)
        do {
            let result = try await body()
            await shared.release(exclusive: true)
            return result
        } catch {
            await shared.release(exclusive: true)
            throw error
        }
    }
}

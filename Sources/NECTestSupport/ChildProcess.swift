public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A program the tests run (necd, necctl, pcscd, a shell), with its standard output and
/// standard error going to files the test reads while it runs or after it ended.
///
/// posix_spawn and waitpid polled, never Foundation's Process, whose waitUntilExit can hang
/// when a grandchild keeps a pipe open. The child gets SIGPIPE's default action back, as a
/// shell gives it (the test process ignores SIGPIPE, and an ignored signal stays ignored
/// across exec). Stopped (SIGTERM, then SIGKILL) when the test lets go of it.
public final class ChildProcess: @unchecked Sendable {
    /// The child's process id.
    public let pid: pid_t
    /// The file its standard output goes to (empty when it was given a descriptor instead).
    public let stdoutPath: String
    /// The file its standard error goes to.
    public let stderrPath: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// What a finished child left.
    public struct Result: Sendable {
        /// The exit status; nil when a signal ended it or it was killed for taking too long.
        public var status: Int32?
        public var stdout: String
        public var stderr: String
        /// Standard output's non-empty lines.
        public var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    /// posix_spawn failed (`code` is its error number).
    public struct SpawnFailed: Error, CustomStringConvertible {
        public var executable: String
        public var code: Int32
        public var description: String { "cannot start \(executable): \(String(cString: strerror(code)))" }
    }

    /// Starts `executable`.
    /// - Parameters:
    ///   - environment: variables set on top of the test process's own.
    ///   - directory: the child's working directory, when not the test's.
    ///   - stdoutDescriptor: a descriptor (the write end of a pipe) to give the child as its
    ///     standard output instead of a file; ``stdout`` is then empty.
    ///   - stderrDescriptor: the same for standard error.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
        stdoutDescriptor: Int32? = nil, stderrDescriptor: Int32? = nil
    ) throws {
        let stem = FileManager.default.temporaryDirectory.appendingPathComponent("necd-child-\(UUID().uuidString)").path
        stdoutPath = stem + ".out"
        stderrPath = stem + ".err"
        var files = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&files)
        defer { posix_spawn_file_actions_destroy(&files) }
        posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0)
        for (target, given, path) in [(Int32(1), stdoutDescriptor, stdoutPath), (2, stderrDescriptor, stderrPath)] {
            if let given {
                posix_spawn_file_actions_adddup2(&files, given, target)
            } else {
                posix_spawn_file_actions_addopen(&files, target, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            }
        }
        // posix_spawn_file_actions_addchdir_np is not visible to Swift here: env -C changes directory.
        let command = (directory.map { ["/usr/bin/env", "-C", $0] } ?? []) + [executable] + arguments
        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        pid = try Self.spawn(command, variables, &files, executable: executable)
    }

    /// posix_spawn with SIGPIPE at its default.
    private static func spawn(
        _ command: [String], _ variables: [String], _ files: inout posix_spawn_file_actions_t, executable: String
    ) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaulted = signals([SIGPIPE])
        posix_spawnattr_setsigdefault(&attributes, &defaulted)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF))
        let argv = CStrings(command)
        let envp = CStrings(variables)
        var child: pid_t = 0
        let code = withExtendedLifetime((argv, envp)) {
            posix_spawn(&child, command[0], &files, &attributes, argv.pointers, envp.pointers)
        }
        guard code == 0 else { throw SpawnFailed(executable: executable, code: code) }
        return child
    }

    /// Everything written to standard output so far.
    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    /// Everything written to standard error so far.
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Standard output's complete lines so far (a line still being written is left out).
    public var outputLines: [String] {
        var lines = stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()
        return lines
    }

    /// True until the child has exited.
    public var isRunning: Bool { !poll().exited }

    /// Whether the child has exited, and its exit status (nil when a signal ended it).
    public func poll() -> (exited: Bool, status: Int32?) {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return (true, exitStatus < 0 ? nil : exitStatus) }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        guard result != 0 else { return (false, nil) }
        // WIFEXITED and WEXITSTATUS, which Swift does not import.
        let status: Int32? = result == pid && (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : nil
        exitStatus = status ?? -1
        return (true, status)
    }

    /// Waits for the child to exit; kills it after `timeout` and returns a nil status.
    public func wait(timeout: Duration) async -> Result {
        let exited = await waitFor(timeout: timeout, every: .milliseconds(20)) { poll().exited }
        guard exited else {
            stop()
            return Result(status: nil, stdout: stdout, stderr: stderr + "\n(killed after \(timeout))")
        }
        return Result(status: poll().status, stdout: stdout, stderr: stderr)
    }

    /// Waits until standard output holds `count` complete lines, or `timeout` passes; returns the lines.
    public func waitForLines(_ count: Int, timeout: Duration) async -> [String] {
        _ = await waitFor(timeout: timeout, every: .milliseconds(20)) { outputLines.count >= count }
        return outputLines
    }

    /// Waits until standard error contains `text`; false when it does not within `timeout`.
    public func waitForStandardError(containing text: String, timeout: Duration) async -> Bool {
        await waitFor(timeout: timeout, every: .milliseconds(20)) { stderr.contains(text) }
    }

    /// SIGTERM, then SIGKILL after a second.
    public func stop() {
        guard !poll().exited else { return }
        kill(pid, SIGTERM)
        // A child's exit is not announced to the test: poll it, for at most a second.
        for _ in 0..<100 {
            if poll().exited { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        var raw: Int32 = 0
        waitpid(pid, &raw, 0)
        lock.lock()
        exitStatus = -1
        lock.unlock()
    }

    deinit {
        stop()
        unlink(stdoutPath)
        unlink(stderrPath)
    }

    /// Runs a program to the end.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> Result {
        try await ChildProcess(executable, arguments, environment: environment, directory: directory).wait(timeout: timeout)
    }

    /// Runs the built necctl to the end.
    public static func necctl(
        _ arguments: [String], environment: [String: String] = [:], directory: String? = nil
    ) async throws -> Result {
        try await run(BuiltProducts.necctl, arguments, environment: environment, directory: directory)
    }
}

/// Polls `condition` until it holds or `timeout` passes; true when it held. For a child's
/// state, which nothing announces to the test.
func waitFor(timeout: Duration, every interval: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: interval)
    }
    return true
}

/// A signal set holding `members`.
private func signals(_ members: [Int32]) -> sigset_t {
    var set = sigset_t()
    sigemptyset(&set)
    for member in members { sigaddset(&set, member) }
    return set
}

/// C strings for argv and envp, freed with this value.
private final class CStrings {
    let pointers: [UnsafeMutablePointer<CChar>?]
    init(_ strings: [String]) { pointers = strings.map { strdup($0) } + [nil] }
    deinit { pointers.forEach { free($0) } }
}

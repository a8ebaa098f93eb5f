import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs another program (pcscd --version, systemctl, journalctl, lsusb) and collects what it
/// prints, with a time limit.
///
/// posix_spawn and a poll loop rather than Foundation's Process: `waitUntilExit` has hung
/// here when a child left a grandchild holding the pipe, and a doctor must never hang.
struct ExternalCommand {
    /// What a finished (or stopped) program left.
    struct Outcome {
        /// The exit status; nil when it was killed for running too long or by a signal.
        var status: Int32?
        /// Standard output and standard error, interleaved as written.
        var output: String
        /// True when the time limit stopped it.
        var timedOut: Bool
    }

    /// Directories searched after PATH: pcscd lives in /usr/sbin, which a technician's
    /// PATH often lacks.
    static let extraDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    /// The full path of `name`, or nil when no such executable is installed.
    static func locate(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + extraDirectories
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + name
            var info = stat()
            if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    /// Runs `arguments[0]` (looked up with ``locate(_:)``) with the rest as its arguments.
    /// - Parameters:
    ///   - arguments: the program and its arguments.
    ///   - timeout: the most time it may take; then it is killed.
    ///   - limit: the most output bytes kept; the rest is read and dropped.
    /// - Returns: nil when the program is not installed or cannot be started.
    static func run(_ arguments: [String], timeout: Duration = .seconds(10), limit: Int = 4 << 20) -> Outcome? {
        guard let first = arguments.first, let executable = locate(first) else { return nil }
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { return nil }
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
        posix_spawn_file_actions_addclose(&actions, writeEnd)

        // No pager, no colour, C messages: output meant for a file, not a terminal.
        var environment = ProcessInfo.processInfo.environment
        environment["SYSTEMD_PAGER"] = "cat"
        environment["PAGER"] = "cat"
        environment["SYSTEMD_COLORS"] = "0"
        environment["LC_ALL"] = "C"
        let argv = ([executable] + arguments.dropFirst()).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // necctl ignores SIGPIPE (see Output); an ignored signal stays ignored across exec,
        // so give the child the default back, as a shell would.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(writeEnd)
        guard spawned == 0 else {
            close(readEnd)
            return nil
        }
        defer { close(readEnd) }

        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = ContinuousClock.now + timeout
        var exitStatus: Int32?
        var exited = false
        var timedOut = false
        var exitedAt: ContinuousClock.Instant?
        var open = true
        while true {
            if !exited {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid {
                    exited = true
                    exitedAt = .now
                    // WIFEXITED / WEXITSTATUS, which Swift does not import as macros.
                    exitStatus = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : nil
                }
            }
            // A grandchild may keep the pipe open after the child is gone: give it a moment, then stop.
            if !open || (exited && ContinuousClock.now - exitedAt! > .milliseconds(300)) { break }
            if ContinuousClock.now >= deadline {
                timedOut = true
                if !exited {
                    kill(pid, SIGKILL)
                    var raw: Int32 = 0
                    waitpid(pid, &raw, 0)
                }
                break
            }
            var descriptor = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 50)
            if ready > 0 {
                let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if count > 0 {
                    if output.count < limit { output.append(contentsOf: buffer[0..<min(count, limit - output.count)]) }
                } else if count == 0 || errno != EINTR {
                    open = false
                }
            }
        }
        if !exited && !timedOut {
            var raw: Int32 = 0
            // The pipe closed; the child is about to exit. Bounded wait: poll waitpid briefly.
            for _ in 0..<100 {
                if waitpid(pid, &raw, WNOHANG) == pid {
                    exitStatus = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : nil
                    exited = true
                    break
                }
                usleep(10_000)
            }
            if !exited {
                kill(pid, SIGKILL)
                waitpid(pid, &raw, 0)
            }
        }
        return Outcome(status: exitStatus, output: String(decoding: output, as: UTF8.self), timedOut: timedOut)
    }
}

import Foundation
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// pipe2(2), which Glibc's module leaves out (it is a _GNU_SOURCE declaration).
@_silgen_name("pipe2")
private func systemPipe2(_ descriptors: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

/// necctl with its standard output a pipe whose reader has gone, as in `necctl doctor |
/// head -1`: every command stops quietly with status 141 (what a shell reports for a tool
/// ended by SIGPIPE), never a crash and a backtrace.
struct ClosedPipeTests {
    /// Runs necctl with standard output a pipe that nobody reads: the read end is closed
    /// before necctl writes its first byte, so that first write meets EPIPE (a reader such
    /// as `head -1` that has already left).
    static func runIntoClosedPipe(
        _ arguments: [String], standardErrorToo: Bool = false, timeout: Duration = .seconds(60)
    ) async throws -> ChildProcess.Result {
        var ends: [Int32] = [0, 0]
        // Both ends close-on-exec from the start: a child another test spawns meanwhile must
        // not inherit the read end and keep the pipe's reader alive.
        try #require(systemPipe2(&ends, O_CLOEXEC) == 0)
        close(ends[0])
        let child = try ChildProcess(
            BuiltProducts.necctl, arguments, stdoutDescriptor: ends[1], stderrDescriptor: standardErrorToo ? ends[1] : nil)
        close(ends[1])
        return await child.wait(timeout: timeout)
    }

    /// The exit status and standard error of a command whose reader left.
    static func expectQuietExit(_ result: ChildProcess.Result, _ command: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 141, "\(command): status \(result.status.map(String.init) ?? "signal"): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("Fatal error"), "\(command): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr == "", "\(command) said: \(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test func doctorTextAndJSON() async throws {
        let scratch = try Scratch()
        let config = try scratch.write("necd.toml", "socket = \"necd.sock\"\ndatabase = \"necd.sqlite\"\n")
        for arguments in [["doctor", "--config", config], ["doctor", "--json", "--config", config]] {
            Self.expectQuietExit(try await Self.runIntoClosedPipe(arguments), arguments.joined(separator: " "))
        }
    }

    @Test func listStatusAndLookup() async throws {
        let scratch = try Scratch()
        let database = scratch.file("necd.sqlite")
        let csv = try scratch.write("list.csv", "card,pupil,entitlement\n633597999900000019,TEST-0001,fsm\n")
        let imported = try await ChildProcess.necctl(["list", "import", csv, "--database", database])
        try #require(imported.status == 0, "\(imported.stderr)")
        for arguments in [
            ["list", "status", "--database", database], ["list", "status", "--json", "--database", database],
            ["lookup", "633597999900000019", "--database", database],
            ["lookup", "633597999900000019", "--json", "--database", database],
        ] {
            Self.expectQuietExit(try await Self.runIntoClosedPipe(arguments), arguments.joined(separator: " "))
        }
    }

    @Test(.needsRig)
    func readers() async throws {
        try await PcscdLock.withPcscdRunning {
            for arguments in [["readers"], ["readers", "--json"]] {
                Self.expectQuietExit(try await Self.runIntoClosedPipe(arguments), arguments.joined(separator: " "))
            }
        }
    }

    /// `watch --since 0` replays stored events at once: its first write meets the closed pipe.
    @Test func watchJSONAndText() async throws {
        let backend = InMemoryBackend()
        for pupil in ["TEST-0001", "TEST-0002"] { backend.storeTap(pupil: pupil) }
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { _, socket in
                for arguments in [["watch", "--since", "0", "--json", "--socket", socket], ["watch", "--since", "0", "--socket", socket]] {
                    Self.expectQuietExit(
                        try await Self.runIntoClosedPipe(arguments, timeout: .seconds(30)), arguments.joined(separator: " "))
                }
            }
        }
    }

    /// Standard error into the same closed pipe (`necctl doctor 2>&1 | head -1`): doctor
    /// still stops with 141, and a command that only has an error to say (no database)
    /// still exits with its own status, 2, rather than dying of the lost message.
    @Test func standardErrorIntoTheClosedPipeToo() async throws {
        let scratch = try Scratch()
        let doctor = try await Self.runIntoClosedPipe(["doctor", "--config", scratch.file("absent.toml")], standardErrorToo: true)
        #expect(doctor.status == 141, "status \(doctor.status.map(String.init) ?? "signal")")
        let lookup = try await Self.runIntoClosedPipe(
            ["lookup", "633597999900000019", "--database", scratch.file("absent.sqlite")], standardErrorToo: true)
        #expect(lookup.status == 2, "status \(lookup.status.map(String.init) ?? "signal")")
    }
}

import Foundation
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Why necctl cannot open the database or the socket, told apart: missing, permission
/// denied (and what to do), necd not running. The tests run as root, which no file mode
/// stops, so necctl runs as user nobody (setpriv) and the modes make it fail.
@Suite(.needsRoot("run necctl as other users"), .needs(tool: "setpriv", package: "util-linux"))
struct PermissionTests {
    /// A database with a list in `state/`, the folder owned by user daemon (uid 1, standing
    /// in for necd) with `folderMode`, the file with `fileMode`.
    private func stateFolder(_ scratch: Scratch, folderMode: mode_t, fileMode: mode_t) async throws -> String {
        let folder = scratch.file("state")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        let database = folder + "/necd.sqlite"
        let csv = try scratch.write("list.csv", "card,pupil,entitlement\n633597999900000019,TEST-0001,fsm\n")
        let imported = try await ChildProcess.necctl(["list", "import", csv, "--database", database])
        try #require(imported.status == 0, "\(imported.stderr)")
        for name in (try FileManager.default.contentsOfDirectory(atPath: folder)) {
            try #require(chown(folder + "/" + name, 1, 1) == 0 && chmod(folder + "/" + name, fileMode) == 0)
        }
        try #require(chown(folder, 1, 1) == 0 && chmod(folder, folderMode) == 0)
        return database
    }

    @Test func databaseInAFolderThisUserMayNotEnterIsPermissionDeniedNotMissing() async throws {
        let scratch = try Scratch()
        let config = try scratch.write("necd.toml", "")
        let database = try await stateFolder(scratch, folderMode: 0o700, fileMode: 0o640)

        let status = try await ChildProcess.necctlAsNobody(["list", "status", "--config", config, "--database", database])
        #expect(status.status == 2)
        #expect(status.stdout == "")
        #expect(status.stderr == """
            necctl: cannot open DB \(database): permission denied; run as user daemon \
            (sudo -u daemon necctl list status --config \(config) --database \(database))

            """)

        let lookup = try await ChildProcess.necctlAsNobody(["lookup", "633597999900000019", "--config", config, "--database", database])
        #expect(lookup.status == 2)
        #expect(lookup.stderr == """
            necctl: cannot open DB \(database): permission denied; run as user daemon \
            (sudo -u daemon necctl lookup 633597999900000019 --config \(config) --database \(database))

            """)

        // The owner it names can: the same commands as root see the list.
        let asOwner = try await ChildProcess.necctl(["list", "status", "--json", "--config", config, "--database", database])
        #expect(asOwner.status == 0, "\(asOwner.stderr)")
        #expect(asOwner.stdout.contains("\"rows\":1"))
    }

    @Test func unreadableDatabaseFileIsPermissionDenied() async throws {
        let scratch = try Scratch()
        let config = try scratch.write("necd.toml", "")
        let database = try await stateFolder(scratch, folderMode: 0o755, fileMode: 0o600)
        let status = try await ChildProcess.necctlAsNobody(["list", "status", "--config", config, "--database", database])
        #expect(status.status == 2)
        #expect(status.stderr.hasPrefix("necctl: cannot open DB \(database): permission denied; run as user daemon (sudo -u daemon necctl list status"))
    }

    @Test func aMissingDatabaseIsStillMissing() async throws {
        let scratch = try Scratch()
        let config = try scratch.write("necd.toml", "")
        let database = scratch.file("absent.sqlite")
        for command in [["list", "status"], ["lookup", "633597999900000019"]] {
            let result = try await ChildProcess.necctlAsNobody(command + ["--config", config, "--database", database])
            #expect(result.status == 2)
            #expect(result.stderr == "necctl: no database at \(database) (import a list first, or pass --database)\n")
        }
    }

    /// The socket's group and mode let only root's group in; nobody is not in it.
    @Test func watchAndDoctorOnASocketThisUserMayNotOpenNameTheGroupAndTheFix() async throws {
        try await withTemporaryDirectory { directory in
            // mkdtemp makes the folder 0700; open it so the socket's own mode decides.
            try #require(chmod(directory, 0o755) == 0)
            try await withSocketServer(backend: InMemoryBackend(), in: directory) { _, socket in
                let group = try #require(getgrgid(getgid()).map { String(cString: $0.pointee.gr_name) })
                let watch = try await ChildProcess.necctlAsNobody(["watch", "--socket", socket, "--config", "/dev/null"])
                #expect(watch.status == 2)
                #expect(watch.stderr == """
                    necctl: cannot reach necd: permission denied on \(socket): user nobody is not in the socket's group \(group)
                      sudo usermod -aG \(group) nobody, then log out and in again (or run as root)

                    """)
                for word in ["connect(", "descriptor", "errno", "NIO", "IOError"] {
                    #expect(!watch.stderr.contains(word), "a socket call's name in a message for people: \(word)")
                }

                let doctor = try await ChildProcess.necctlAsNobody(["doctor", "--json", "--socket", socket, "--config", "/dev/null"])
                let necd = try #require(try doctorLines(doctor.stdout)["necd"])
                #expect(necd.status == "warning")
                #expect(necd.detail == "permission denied on \(socket): user nobody is not in the socket's group \(group)")
                #expect(necd.fix == "sudo usermod -aG \(group) nobody, then log out and in again (or run as root); or: sudo necctl doctor")
            }
        }
    }

    /// The socket's folder is closed to this user (as /run/necd may be): doctor cannot see
    /// the socket, which is no fault of the till's setup; watch still says how to get in.
    @Test func aSocketInAFolderThisUserMayNotEnter() async throws {
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: InMemoryBackend(), in: directory) { _, socket in
                let group = try #require(getgrgid(getgid()).map { String(cString: $0.pointee.gr_name) })
                let doctor = try await ChildProcess.necctlAsNobody(["doctor", "--json", "--socket", socket, "--config", "/dev/null"])
                let check = try #require(try doctorLines(doctor.stdout)["socket"])
                #expect(check.status == "warning")
                #expect(check.detail == "\(socket): this user may not look into its folder")
                #expect(check.fix == "run as root to check the socket: sudo necctl doctor")
                let watch = try await ChildProcess.necctlAsNobody(["watch", "--socket", socket, "--config", "/dev/null"])
                #expect(watch.status == 2)
                #expect(watch.stderr.hasPrefix(
                    "necctl: cannot reach necd: permission denied on \(socket): user nobody is not in the socket's group \(group)\n"))
            }
        }
    }

    @Test func noSocketAndNobodyListeningSayIsNecdRunning() async throws {
        let scratch = try Scratch()
        let absent = scratch.file("absent.sock")
        let missing = try await ChildProcess.necctl(["watch", "--socket", absent, "--config", "/dev/null"])
        #expect(missing.status == 2)
        #expect(missing.stderr == """
            necctl: cannot reach necd: no socket at \(absent)
              is necd running? (systemctl status necd.socket necd; necctl doctor)

            """)

        // A socket file left behind by a process that is gone: connecting is refused.
        let stale = scratch.file("stale.sock")
        let made = try await ChildProcess.run("/usr/bin/env", ["python3", "-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", stale])
        try #require(made.status == 0, "\(made.stderr)")
        let refused = try await ChildProcess.necctl(["watch", "--socket", stale, "--config", "/dev/null"])
        #expect(refused.status == 2)
        #expect(refused.stderr == """
            necctl: cannot reach necd: nothing is listening on \(stale)
              is necd running? (systemctl status necd.socket necd; necctl doctor)

            """)
        let doctor = try doctorLines(try await ChildProcess.necctl(["doctor", "--json", "--socket", stale, "--config", "/dev/null"]).stdout)
        #expect(doctor["necd"]?.status == "fault")
        #expect(doctor["necd"]?.detail == "not running: nothing is listening on \(stale)")
    }
}

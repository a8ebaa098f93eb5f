import Foundation
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// doctor's configuration, socket and list-trust findings against real files and the real
/// socket server: the fix fits the fault, and what stops every till is a FAULT.
struct DoctorFindingsTests {
    @Test func aMissingConfigurationFileGetsTheFixForAMissingFile() async throws {
        let scratch = try Scratch()
        let absent = scratch.file("absent.toml")
        let result = try await ChildProcess.necctl(["doctor", "--json", "--config", absent, "--socket", scratch.file("s.sock")])
        #expect(result.status == 2)
        let config = try #require(try doctorLines(result.stdout)["config"])
        #expect(config.status == "fault")
        #expect(config.detail == "\(absent): configuration file does not exist")
        #expect(config.fix == "no file at \(absent): check the --config path, or create the file (/usr/share/doc/necd/necd.toml.example lists every key)")

        // A syntax error still gets the fix for a syntax error.
        let broken = try scratch.write("broken.toml", "socket = \n")
        let syntax = try #require(try doctorLines(try await ChildProcess.necctl(["doctor", "--json", "--config", broken]).stdout)["config"])
        #expect(syntax.status == "fault")
        #expect(syntax.fix == "correct that line of the file (every key is listed in /usr/share/doc/necd/necd.toml.example), then restart necd")
    }

    /// The socket check for a live socket with `mode` and root's group, and `socket_group` in the configuration.
    private func socketFinding(mode: UInt32, socketGroup: String) async throws -> (finding: DoctorLine, socket: String) {
        let scratch = try Scratch()
        let config = try scratch.write("necd.toml", "socket_group = \"\(socketGroup)\"\n")
        return try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: InMemoryBackend(), in: directory, configure: { $0.mode = mode }) { _, socket in
                let result = try await ChildProcess.necctl(["doctor", "--json", "--config", config, "--socket", socket, "--database", scratch.file("db")])
                return (try #require(try doctorLines(result.stdout)["socket"]), socket)
            }
        }
    }

    private var rootGroup: String { getgrgid(getgid()).map { String(cString: $0.pointee.gr_name) } ?? "root" }
    private var user: String { getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "root" }

    @Test func aSocketItsGroupCannotOpenIsAFault() async throws {
        let (finding, socket) = try await socketFinding(mode: 0o600, socketGroup: rootGroup)
        #expect(finding.status == "fault")
        #expect(finding.detail == "\(socket) owner \(user), group \(rootGroup), mode 600: no till can connect: group \(rootGroup) cannot connect (mode 600)")
        #expect(finding.fix?.hasPrefix("SocketMode=0660 and SocketGroup=\(rootGroup) in necd.socket") == true)
    }

    @Test func aSocketInTheWrongGroupIsAFault() async throws {
        let (finding, socket) = try await socketFinding(mode: 0o660, socketGroup: "necd-tills")
        #expect(finding.status == "fault")
        #expect(finding.detail == "\(socket) owner \(user), group \(rootGroup), mode 660: no till can connect: group is \(rootGroup), not socket_group necd-tills")
    }

    @Test func aSocketAnyoneCanOpenIsAWarningAndARightOneIsOk() async throws {
        let (open, socket) = try await socketFinding(mode: 0o666, socketGroup: rootGroup)
        #expect(open.status == "warning")
        #expect(open.detail == "\(socket) owner \(user), group \(rootGroup), mode 666: anyone on the machine can connect")
        let (right, other) = try await socketFinding(mode: 0o660, socketGroup: rootGroup)
        #expect(right.status == "ok")
        #expect(right.detail == "\(other) owner \(user), group \(rootGroup), mode 660")
    }

    // MARK: require_signed_lists

    /// A key pair from `necctl list keygen`: the private key file and the public key.
    private func keygen(_ scratch: Scratch, _ name: String) async throws -> (file: String, publicKey: String) {
        let file = scratch.file(name)
        let result = try await ChildProcess.necctl(["list", "keygen", "--out", file])
        try #require(result.status == 0, "\(result.stderr)")
        let line = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return (file, try #require(line.split(separator: "\"").dropFirst().first.map(String.init)))
    }

    @Test func withSignedListsRequiredAnUnsignedOrUntrustedListIsAFault() async throws {
        let scratch = try Scratch()
        let council = try await keygen(scratch, "council.key")
        let stranger = try await keygen(scratch, "stranger.key")
        let config = try scratch.write("necd.toml", """
            socket = "necd.sock"
            database = "necd.sqlite"
            require_signed_lists = true
            trusted_list_keys = ["\(council.publicKey)"]
            """)
        let database = scratch.file("necd.sqlite")
        let csv = try scratch.write("list.csv", "card,pupil,entitlement\n633597999900000019,TEST-0001,fsm\n")
        func listFinding() async throws -> DoctorLine {
            try #require(try doctorLines(try await ChildProcess.necctl(["doctor", "--json", "--config", config]).stdout)["list"])
        }

        // Unsigned, installed by an import that did not read the configuration.
        let unsigned = try await ChildProcess.necctl(["list", "import", csv, "--database", database])
        try #require(unsigned.status == 0, "\(unsigned.stderr)")
        let unsignedFinding = try await listFinding()
        #expect(unsignedFinding.status == "fault")
        #expect(unsignedFinding.detail?.hasSuffix("unsigned, but require_signed_lists is true: necd declines every tap list_untrusted") == true,
                "\(unsignedFinding.detail ?? "")")
        #expect(unsignedFinding.fix?.hasPrefix("import the council's list with its signature: necctl list import FILE --signature FILE.sig") == true)

        // Signed, but by a key the configuration does not trust.
        let sign = try await ChildProcess.necctl(["list", "sign", csv, "--key", stranger.file, "--out", scratch.file("stranger.sig")])
        try #require(sign.status == 0, "\(sign.stderr)")
        let strangers = try await ChildProcess.necctl([
            "list", "import", csv, "--signature", scratch.file("stranger.sig"), "--trusted-key", stranger.publicKey, "--database", database,
        ])
        try #require(strangers.status == 0, "\(strangers.stderr)")
        let untrusted = try await listFinding()
        #expect(untrusted.status == "fault")
        #expect(untrusted.detail?.hasSuffix(
            "signed by a key not in trusted_list_keys (\(stranger.publicKey.prefix(8))...): necd declines every tap list_untrusted") == true,
            "\(untrusted.detail ?? "")")

        // Signed by the council's key: ok.
        let councilSign = try await ChildProcess.necctl(["list", "sign", csv, "--key", council.file])
        try #require(councilSign.status == 0)
        let trusted = try await ChildProcess.necctl(["list", "import", csv, "--signature", csv + ".sig", "--config", config])
        try #require(trusted.status == 0, "\(trusted.stderr)")
        let ok = try await listFinding()
        #expect(ok.status == "ok", "\(ok.detail ?? "")")
        #expect(ok.detail?.hasSuffix(", signed") == true)
    }
}

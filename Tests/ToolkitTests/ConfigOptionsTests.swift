import Foundation
import NECTestSupport
import Testing

/// `--config`, `--database` and `--socket` on the list and lookup commands.
struct ConfigOptionsTests {
    @Test func listCommandsTakeTheDatabaseFromTheConfigurationAndTheFlagOverridesIt() async throws {
        let scratch = try Scratch()
        let config = try scratch.write("necd.toml", "database = \"from-config.sqlite\"\n")
        let csv = try scratch.write("list.csv", "card,pupil,entitlement\n633597999900000019,TEST-0001,fsm\n")

        let imported = try await ChildProcess.necctl(["list", "import", csv, "--config", config])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(FileManager.default.fileExists(atPath: scratch.file("from-config.sqlite")))

        let status = try await ChildProcess.necctl(["list", "status", "--json", "--config", config])
        #expect(status.status == 0)
        #expect(status.stdout.contains("\"rows\":1"))

        let lookup = try await ChildProcess.necctl(["lookup", "633597999900000019", "--config", config])
        #expect(lookup.status == 0, "\(lookup.stdout) \(lookup.stderr)")

        // --database wins over the file.
        let elsewhere = try await ChildProcess.necctl(
            ["list", "status", "--config", config, "--database", scratch.file("other.sqlite")])
        #expect(elsewhere.status == 2)
        #expect(elsewhere.stderr.contains("other.sqlite"))
    }

    @Test func signingSettingsComeFromTheConfiguration() async throws {
        let scratch = try Scratch()
        let keygen = try await ChildProcess.necctl(["list", "keygen", "--out", scratch.file("council.key")])
        try #require(keygen.status == 0)
        let trusted = keygen.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let config = try scratch.write("necd.toml", """
            database = "necd.sqlite"
            require_signed_lists = true
            \(trusted)
            """)
        let csv = try scratch.write("list.csv", "card,pupil,entitlement\n633597999900000019,TEST-0001,fsm\n")

        let unsigned = try await ChildProcess.necctl(["list", "import", csv, "--config", config])
        #expect(unsigned.status == 1, "an unsigned list is refused: \(unsigned.stdout)")

        let sign = try await ChildProcess.necctl(["list", "sign", csv, "--key", scratch.file("council.key")])
        try #require(sign.status == 0)
        let signed = try await ChildProcess.necctl(["list", "import", csv, "--signature", csv + ".sig", "--config", config])
        #expect(signed.status == 0, "the key in trusted_list_keys is trusted: \(signed.stderr)")
        #expect(signed.stdout.contains("signed by"))
    }

    @Test func aBrokenConfigurationIsExit2WithFileAndLine() async throws {
        let scratch = try Scratch()
        let config = try scratch.write("necd.toml", "\nmax_list_age = -1\n")
        let result = try await ChildProcess.necctl(["list", "status", "--config", config])
        #expect(result.status == 2)
        #expect(result.stderr.contains("necd.toml:2: max_list_age"))
        let missing = try await ChildProcess.necctl(["lookup", "633597999900000019", "--config", scratch.file("absent.toml")])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("absent.toml"))
    }
}

import Foundation
import NECTestSupport
import Testing

/// `necctl readers` with the configuration's roles and lanes, and the common options on
/// every command.
struct ReadersTests {
    @Test(.needsRig)
    func readersShowTheRoleAndLaneTheConfigurationGivesThem() async throws {
        try await PcscdLock.withPcscdRunning {
            try #require(VirtualReaders.readers.count >= 2)
            let scratch = try Scratch()
            let config = try scratch.write("necd.toml", """
                [[reader]]
                match = "\(VirtualReaders.readers[0])"
                role = "kiosk"
                lane = "kiosk-1"
                """)
            let json = try await ChildProcess.necctl(["readers", "--json", "--config", config])
            #expect(json.status == 0, "\(json.stderr)")
            var rows: [String: [String: Any]] = [:]
            for line in json.lines {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                rows[try #require(object["reader"] as? String)] = object
            }
            let kiosk = try #require(rows[VirtualReaders.readers[0]])
            #expect(kiosk["role"] as? String == "kiosk")
            #expect(kiosk["lane"] as? String == "kiosk-1")
            // Other tests tap cards on the rig meanwhile: the state may be either.
            #expect(["empty", "present"].contains(kiosk["state"] as? String ?? ""))
            let till = try #require(rows[VirtualReaders.readers[1]])
            #expect(till["role"] as? String == "till")
            #expect(till["lane"] == nil, "a reader no [[reader]] table matches has no lane")

            let text = try await ChildProcess.necctl(["readers", "--config", config])
            #expect(text.status == 0, "\(text.stderr)")
            let states = ["empty", "present"]
            #expect(text.lines.contains { line in states.contains { line == "\(VirtualReaders.readers[0]): \($0) (kiosk, lane kiosk-1)" } }, "\(text.stdout)")
            #expect(text.lines.contains { line in states.contains { line == "\(VirtualReaders.readers[1]): \($0) (till, no lane)" } }, "\(text.stdout)")

            // A configuration that does not load is an error, as for every command that reads it.
            let broken = try scratch.write("broken.toml", "[[reader]]\nrole = \"kiosk\"\n")
            let refused = try await ChildProcess.necctl(["readers", "--config", broken])
            #expect(refused.status == 2)
            #expect(refused.stderr.hasPrefix("necctl: \(broken)"))
        }
    }

    @Test func everyCommandTakesTheCommonOptions() async throws {
        let commands = [
            ["readers"], ["scan"], ["list", "import"], ["list", "status"], ["list", "rollback"], ["list", "keygen"],
            ["list", "sign"], ["lookup"], ["watch"], ["doctor"], ["simulate"], ["debuginfo"],
        ]
        for command in commands {
            let help = try await ChildProcess.necctl(command + ["--help"])
            #expect(help.status == 0, "\(command): \(help.stderr)")
            for option in ["--config <path>", "--database <path>", "--socket <path>"] {
                #expect(help.stdout.contains(option), "necctl \(command.joined(separator: " ")) lacks \(option)")
            }
        }
    }
}

import Foundation
import NECTestSupport
import Testing

/// `necctl watch`: fails fast when necd is not there; follows it when it is.
struct WatchTests {
    @Test func noDaemonAtTheStartExits2WithAClearMessage() async throws {
        let scratch = try Scratch()
        let started = ContinuousClock.now
        let result = try await ChildProcess.necctl(["watch", "--socket", scratch.file("absent.sock")])
        #expect(result.status == 2)
        #expect(result.stderr.contains("cannot reach necd"))
        #expect(result.stderr.contains(scratch.file("absent.sock")))
        #expect(ContinuousClock.now - started < .seconds(10), "fails fast, does not retry at the start")
    }

    @Test func aListeningSocketThatIsNotNecdExits2() async throws {
        // A socket whose server closes at once: no VERSION banner.
        let scratch = try Scratch()
        let path = scratch.file("mute.sock")
        let server = try ChildProcess("/usr/bin/env", ["python3", "-c", """
            import socket, sys
            s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
            while True:
                c, _ = s.accept(); c.close()
            """, path])
        defer { server.stop() }
        try await waitUntil("the mute server has made \(path)", detail: { server.stderr }) {
            FileManager.default.fileExists(atPath: path)
        }
        let result = try await ChildProcess.necctl(["watch", "--socket", path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("cannot reach necd"))
    }

    @Test func badConfigurationExits2() async throws {
        let scratch = try Scratch()
        let config = try scratch.write("necd.toml", "sockett = \"x\"\n")
        let result = try await ChildProcess.necctl(["watch", "--config", config])
        #expect(result.status == 2)
        #expect(result.stderr.contains("sockett: unknown key"))
    }

    /// Needs necd (the lead's daemon pipeline): a simulated tap on a virtual reader comes
    /// out of `watch --json` as the daemon's TAP line, and in the human form too.
    @Test(.needsDaemon)
    func simulatedTapsArriveThroughARunningNecd() async throws {
        try await PcscdLock.withPcscdRunning {
            let scratch = try Scratch()
            let path = try scratch.write("necd.toml", """
                socket = "necd.sock"
                database = "necd.sqlite"
                debounce = 0.2
                [[reader]]
                match = "\(VirtualReaders.readers[0])"
                lane = "till-1"
                """)
            let csv = try await importGeneratedList(rows: 50, into: scratch.file("necd.sqlite"), scratch: scratch)
            let daemon = try ChildProcess(BuiltProducts.executable("necd"), ["--config", path])
            defer { daemon.stop() }
            try await waitForDaemon(config: path)

            let json = try ChildProcess(BuiltProducts.necctl, ["watch", "--json", "--config", path])
            defer { json.stop() }
            let human = try ChildProcess(BuiltProducts.necctl, ["watch", "--config", path, "--reader", "till-1"])
            defer { human.stop() }
            // Both watches are connected before the tap: necd counts them among its clients,
            // with the one asking (a watch's first check of necd is a connection of its own,
            // closed before it starts watching).
            let asker = try LineSocket(path: scratch.file("necd.sock"))
            _ = asker.readObject()
            var status: [String: Any]? = nil
            try await waitUntil("both watches are connected to necd", detail: { "\(status ?? [:])" }) {
                try asker.send(#"{"cmd":"status"}"#)
                status = asker.readObject(matching: { $0["class"] as? String == "STATUS" })
                return status?["clients"] as? Int ?? 0 >= 3
            }
            let tap = try await ChildProcess.necctl([
                "simulate", "--list", csv, "--count", "2", "--hold", "0.5", "--gap", "1", "--port", String(VirtualReaders.ports[0]),
            ])
            #expect(tap.status == 0, "\(tap.stderr)")

            let lines = await json.waitForLines(2, timeout: .seconds(20)).filter { $0.contains("\"class\":\"TAP\"") }
            #expect(lines.count >= 2, "\(json.stdout) \(json.stderr)")
            for line in lines {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect(object["lane"] as? String == "till-1")
                #expect(object["seq"] is Int)
            }
            let readable = await human.waitForLines(2, timeout: .seconds(10))
            #expect(readable.contains { $0.contains("till-1") && ($0.contains("authorised: ") || $0.contains("declined: ")) }, "\(readable)")
            #expect(!readable.joined().contains("\u{1B}["), "no colour into a file")

            // --since 0 replays what is stored.
            let replay = try ChildProcess(BuiltProducts.necctl, ["watch", "--json", "--since", "0", "--config", path])
            defer { replay.stop() }
            let replayed = await replay.waitForLines(2, timeout: .seconds(10))
            #expect(Array(replayed.prefix(2)) == Array(lines.prefix(2)))

            // The same replay into a pipe whose reader has gone (`| head -1`): status 141, quietly.
            let cut = try await ClosedPipeTests.runIntoClosedPipe(["watch", "--json", "--since", "0", "--config", path], timeout: .seconds(30))
            ClosedPipeTests.expectQuietExit(cut, "watch --since 0 --json against necd")
        }
    }
}

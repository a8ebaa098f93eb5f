import Foundation
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

/// `necctl watch` and doctor's necd check against the real socket server with an in-memory
/// journal (NECSocketServerTesting): the daemon's socket side without pcscd or a card pipeline.
struct WatchServerTests {
    /// A till's reader and its lane, as the backend's taps carry them.
    private let reader = "Test Reader 00 00"

    @Test func jsonPassesTheDaemonsLinesThroughAndReplaysSince() async throws {
        let backend = InMemoryBackend()
        let stored = (0..<3).map { backend.storeTap(isrn: "633597999900000018", pupil: "TEST-000\($0)") }
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { server, socket in
                // --since 1: events 2 and 3 replayed, then the live one.
                let watch = try ChildProcess(BuiltProducts.necctl, ["watch", "--json", "--show-card-numbers", "--since", "1", "--socket", socket])
                defer { watch.stop() }
                let replayed = await watch.waitForLines(2, timeout: .seconds(10))
                #expect(replayed == stored[1...].map(\.json), "stderr: \(watch.stderr)")

                let live = backend.storeTap(pupil: "TEST-0009")
                server.publish(live)
                let lines = await watch.waitForLines(3, timeout: .seconds(10))
                #expect(lines.last == live.json)
            }
        }
    }

    @Test func humanLinesAndReaderFilter() async throws {
        let backend = InMemoryBackend()
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { server, socket in
                let all = try ChildProcess(BuiltProducts.necctl, ["watch", "--socket", socket])
                defer { all.stop() }
                let lane = try ChildProcess(BuiltProducts.necctl, ["watch", "--socket", socket, "--reader", "till-1"])
                defer { lane.stop() }
                let other = try ChildProcess(BuiltProducts.necctl, ["watch", "--socket", socket, "--reader", "Other Reader 00 00"])
                defer { other.stop() }
                // The three watches are connected before anything is published.
                try await waitUntil("three watches are connected", detail: { all.stderr }) { server.liveWatcherCount == 3 }
                server.publish(backend.storeTap(reader: reader, isrn: "633597999900000018", pupil: "TEST-0042"))
                server.publish(backend.storeTap(reader: "Other Reader 00 00", isrn: "633597999900000026", pupil: "TEST-0043"))

                let lines = await all.waitForLines(2, timeout: .seconds(10))
                try #require(lines.count == 2, "stderr: \(all.stderr)")
                #expect(lines[0].contains("#1"))
                #expect(lines[0].contains("till-1"))
                #expect(lines[0].contains("633597******0018"), "masked as the logs mask it")
                #expect(!lines[0].contains("633597 9999 0000 0018") && !lines[0].contains("633597999900000018"))
                #expect(lines[0].contains("authorised: free lunch"))
                #expect(lines[0].contains("pupil *******42"))
                #expect(!lines[0].contains("\u{1B}["), "no colour when standard output is not a terminal")

                // Both taps carry lane till-1 (the backend's), so the lane filter keeps both;
                // the reader-name filter keeps only the other reader's.
                #expect(await lane.waitForLines(2, timeout: .seconds(5)).count == 2)
                let filtered = await other.waitForLines(1, timeout: .seconds(5))
                #expect(filtered.count == 1)
                #expect(other.stdout.contains("633597******0026"))
                // Nothing more for that filter: a last tap on the other reader is the next line
                // it prints, so a line the filter should have dropped would have come first.
                server.publish(backend.storeTap(reader: "Other Reader 00 00", isrn: "633597999900000034", pupil: "TEST-0044"))
                let after = await other.waitForLines(2, timeout: .seconds(5))
                #expect(after.count == 2 && after[1].contains("633597******0034"), "\(after)")
            }
        }
    }

    @Test func watchRidesOutADaemonRestart() async throws {
        let backend = InMemoryBackend()
        try await withTemporaryDirectory { directory in
            let watch: ChildProcess = try await withSocketServer(backend: backend, in: directory) { server, socket in
                let watch = try ChildProcess(BuiltProducts.necctl, ["watch", "--json", "--show-card-numbers", "--socket", socket])
                try await waitUntil("the watch is connected", detail: { watch.stderr }) { server.liveWatcherCount == 1 }
                server.publish(backend.storeTap())
                #expect(await watch.waitForLines(1, timeout: .seconds(10)).count == 1, "stderr: \(watch.stderr)")
                return watch
            }
            defer { watch.stop() }
            // The daemon is gone: watch says so (its only line on standard error, whichever
            // way it finds necd gone) and keeps waiting instead of exiting.
            try await waitUntil("watch has noticed necd has gone", detail: { watch.stderr }) {
                !watch.stderr.isEmpty || watch.poll().exited
            }
            #expect(!watch.poll().exited, "watch exited when necd stopped: \(watch.stderr)")
            // An event stored while it was away is replayed after the reconnection.
            let missed = backend.storeTap(pupil: "TEST-0100")
            try await withSocketServer(backend: backend, in: directory) { server, _ in
                let lines = await watch.waitForLines(2, timeout: .seconds(15))
                #expect(lines.count == 2 && lines.last == missed.json, "\(lines) stderr: \(watch.stderr)")
                let live = backend.storeTap(pupil: "TEST-0101")
                server.publish(live)
                #expect(await watch.waitForLines(3, timeout: .seconds(10)).last == live.json)
            }
        }
    }

    @Test func doctorSeesTheDaemonAnswer() async throws {
        let backend = InMemoryBackend()
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { _, socket in
                let result = try await ChildProcess.necctl(["doctor", "--json", "--socket", socket, "--database", directory + "/none.sqlite"])
                let lines = try doctorLines(result.stdout)
                let necd = try #require(lines["necd"])
                #expect(necd.status != "fault", "\(necd.detail ?? "")")
                #expect(necd.detail?.contains("release \(ProtocolVersion.release)") == true)
                let socketCheck = try #require(lines["socket"])
                #expect(socketCheck.detail?.contains("mode 660") == true)
            }
        }
    }
}

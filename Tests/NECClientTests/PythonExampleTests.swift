import Foundation
import NECDaemon
import NECDaemonTesting
import NECProtocol
import Testing

private let pythonPath = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// The example integrators copy must keep working against the real server.
@Suite("examples/python/necd_client.py against a real socket server", .timeLimit(.minutes(1)))
struct PythonExampleTests {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/python/necd_client.py").path

    /// Runs the example to completion and returns its standard output lines.
    private func run(_ arguments: [String]) async throws -> (status: Int32, lines: [String]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(pythonPath))
        process.arguments = [Self.script] + arguments
        let output = Pipe()
        process.standardOutput = output
        // Neither the read nor the wait may block a cooperative thread: the server under
        // test runs on that pool too, and on two cores it would starve.
        let (exited, exit) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = { finished in
            exit.yield(finished.terminationStatus)
            exit.finish()
        }
        try process.run()
        let reading = output.fileHandleForReading
        let data = await withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
            Thread { continuation.resume(returning: (try? reading.readToEnd()) ?? Data()) }.start()
        }
        var status: Int32 = -1
        for await code in exited { status = code }
        let text = String(decoding: data, as: UTF8.self)
        return (status, text.split(separator: "\n").map(String.init))
    }

    @Test(.enabled(if: pythonPath != nil, "python3 is not installed"))
    func lookupAndWatchSince() async throws {
        let backend = InMemoryBackend()
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { server, path in
                backend.tap(5, through: server)
                let lookup = try await run(["--socket", path, "lookup", "633597999900000018"])
                #expect(lookup.status == 0)
                #expect(lookup.lines == [#"{"class":"LOOKUP","card":{"isrn":"633597999900000018"},"decision":"declined","reason":"unknown_card"}"#])

                let stateFile = directory + "/last-seq"
                let replay = try await run(["--socket", path, "watch", "--since", "2", "--count", "3", "--state-file", stateFile])
                #expect(replay.status == 0)
                let seqs = replay.lines.compactMap { line -> Int64? in
                    guard case .tap(let tap)? = try? MessageCoding.daemonMessage(from: Array(line.utf8)) else { return nil }
                    return tap.seq
                }
                #expect(seqs == [3, 4, 5])
                #expect(try String(contentsOfFile: stateFile, encoding: .utf8) == "5\n")

                // Resuming from the state file picks up exactly where it stopped.
                let watcher = Task { try await run(["--socket", path, "watch", "--count", "2", "--state-file", stateFile]) }
                try await Task.sleep(for: .milliseconds(300))
                backend.tap(2, through: server)
                let resumed = try await watcher.value
                #expect(resumed.status == 0)
                #expect(resumed.lines.count == 2)
                #expect(resumed.lines.first?.contains(#""seq":6"#) == true)
            }
        }
    }

    @Test(.enabled(if: pythonPath != nil, "python3 is not installed"))
    func anErrorIsReportedWithExitStatusOne() async throws {
        let backend = InMemoryBackend()
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { _, path in
                let refused = try await run(["--socket", path, "lookup", "not-a-card"])
                #expect(refused.status == 1)
                #expect(refused.lines.isEmpty)
            }
        }
    }
}

import Foundation
import Glibc
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

let pythonPath = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// The example integrators copy must keep working against the real server.
@Suite("examples/python/necd_client.py against a real socket server", .timeLimit(.minutes(2)))
struct PythonExampleTests {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/python/necd_client.py").path

    /// Runs the example to completion and returns its standard output lines.
    func run(_ arguments: [String]) async throws -> (status: Int32, lines: [String], errors: String) {
        try await Self.run(arguments)
    }

    /// Runs the example to completion: its exit status, output lines and what it said on standard error.
    static func run(_ arguments: [String]) async throws -> (status: Int32, lines: [String], errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(pythonPath))
        // The suite runs its socket tests in parallel on two cores, where an answer can wait
        // longer than the example's 10 s for a thread: its bound only stops a hang here.
        process.arguments = [Self.script, "--timeout", "60"] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        // Neither the read nor the wait may block a cooperative thread: the server under
        // test runs on that pool too, and on two cores it would starve.
        let (exited, exit) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = { finished in
            exit.yield(finished.terminationStatus)
            exit.finish()
        }
        try process.run()
        let reading = output.fileHandleForReading
        let readingErrors = errors.fileHandleForReading
        let (data, errorData) = await withCheckedContinuation { (continuation: CheckedContinuation<(Data, Data), Never>) in
            // A few lines each: reading one to its end, then the other, cannot fill a pipe.
            Thread {
                let data = (try? reading.readToEnd()) ?? Data()
                continuation.resume(returning: (data, (try? readingErrors.readToEnd()) ?? Data()))
            }.start()
        }
        var status: Int32 = -1
        for await code in exited { status = code }
        let text = String(decoding: data, as: UTF8.self)
        return (status, text.split(separator: "\n").map(String.init), String(decoding: errorData, as: UTF8.self))
    }

    @Test(.needs(tool: "python3", package: "python3"))
    func lookupAndWatchSince() async throws {
        let backend = InMemoryBackend(cards: ["633597999900000018": LookupMessage(card: CardInfo(isrn: "633597999900000018"), decision: .declined, reason: .unknownCard)])
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
                try await waitUntil("the example watches") { server.liveWatcherCount == 1 }
                backend.tap(2, through: server)
                let resumed = try await watcher.value
                #expect(resumed.status == 0)
                #expect(resumed.lines.count == 2)
                #expect(resumed.lines.first?.contains(#""seq":6"#) == true)
            }
        }
    }

    /// redeem, charge and refund (protocol 1.1), and a charge whose answer a dropped
    /// connection lost: sent again with the same txn, charged once.
    @Test(.needs(tool: "python3", package: "python3"))
    func redeemChargeRefundAndARetriedCharge() async throws {
        let backend = InMemoryBackend()
        backend.configure(
            pupil: "P0000042", decision: LookupMessage(card: CardInfo(), decision: .authorised, kind: .lunch),
            payment: .init(decision: .authorised, spentToday: 235, remainingToday: 15))
        backend.configureRefunds(of: "till2-000981", [
            .refunded(.init(decision: .authorised)), .refused(#"refund: txn "till2-000981" was already refunded"#),
        ])
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { server, path in
                backend.publishStoredEvents(to: server.publish)
                let redeemed = try await run(["--socket", path, "redeem", "P0000042", "--lane", "till-2"])
                #expect(redeemed.status == 0, "\(redeemed.errors)")
                #expect(redeemed.lines == [#"{"class":"TAP","seq":1,"time":"2026-11-27T12:00:00.000Z","lane":"till-2","method":"manual","decision":"authorised","kind":"lunch","pupil":"P0000042"}"#])

                let proxy = try AnswerLosingProxy(path: directory + "/lossy.sock", upstream: path, losing: 1)
                defer { proxy.stop() }
                let charged = try await run(["--socket", proxy.path, "charge", "P0000042", "235", "--txn", "till2-000981", "--lane", "till-2"])
                let stored = #"{"class":"PAYMENT","seq":2,"time":"2026-11-27T12:00:00.000Z","lane":"till-2","txn":"till2-000981","pupil":"P0000042","kind":"charge","amount":235,"decision":"authorised","spent_today":235,"remaining_today":15}"#
                #expect(charged.status == 0, "\(charged.errors)")
                #expect(charged.lines == [stored])
                #expect(proxy.lostAnswers == [stored])
                #expect(proxy.connections == 2)
                #expect(backend.storedCharges == 1)

                let refunded = try await run(["--socket", path, "refund", "till2-000981"])
                #expect(refunded.status == 0, "\(refunded.errors)")
                #expect(refunded.lines == [#"{"class":"PAYMENT","seq":3,"time":"2026-11-27T12:00:00.000Z","lane":"till-2","txn":"till2-000981","pupil":"P0000042","kind":"refund","amount":235,"decision":"authorised"}"#])
                let again = try await run(["--socket", path, "refund", "till2-000981"])
                #expect(again.status == 1)
                #expect(again.errors == "necd: refund: txn \"till2-000981\" was already refunded\n")
                let badAmount = try await run(["--socket", path, "charge", "P0000042", "0"])
                #expect(badAmount.status == 1)
                #expect(badAmount.errors == "necd: charge: invalid field \"amount\": whole pence from 1 to 100000\n")
                #expect(backend.lastSeq == 3)
            }
        }
    }

    @Test(.needs(tool: "python3", package: "python3"))
    func anErrorIsReportedWithExitStatusOne() async throws {
        try await withSocketServer(backend: InMemoryBackend()) { _, path in
            let refused = try await run(["--socket", path, "lookup", "not-a-card"])
            #expect(refused.status == 1)
            #expect(refused.lines.isEmpty)
        }
    }
}

/// Threads that connect to a socket and close at once, as fast as they can, until stopped
/// (or until a bound on connections, so a test can never flood for ever).
final class ConnectFlood: @unchecked Sendable {
    let path: String
    private let state = NSLock()
    private var stopping = false
    private var count = 0
    private var threads: [Thread] = []
    private let done = DispatchGroup()

    init(path: String) { self.path = path }

    var connections: Int { state.withLock { count } }

    func start(threads number: Int) {
        for _ in 0..<number {
            done.enter()
            let thread = Thread { [self] in
                defer { done.leave() }
                while state.withLock({ !stopping && count < 2_000_000 }) {
                    // Non-blocking, as a flooding client would be: it never waits for room.
                    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                    guard descriptor >= 0 else { continue }
                    var address = sockaddr_un()
                    address.sun_family = sa_family_t(AF_UNIX)
                    withUnsafeMutableBytes(of: &address.sun_path) { raw in
                        for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
                    }
                    _ = withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                        }
                    }
                    close(descriptor)
                    state.withLock { count += 1 }
                }
            }
            threads.append(thread)
            thread.start()
        }
    }

    func stop() {
        state.withLock { stopping = true }
        done.wait()
    }
}

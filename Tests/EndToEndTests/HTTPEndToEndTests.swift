import Foundation
import Glibc
import NECCard
import NECTestSupport
import Testing
import VirtualCard

/// necd with `[http]` on the rig: the WebSocket bridge and /metrics against the real
/// daemon, real pcscd and vpcd taps, real SQLite and real TCP.
@Suite(.serialized, .enabled(if: VirtualReaders.available, "needs the virtual-reader rig: run via `make test` or scripts/with-virtual-readers"))
struct HTTPEndToEndTests {
    static let token = "e2e-token-0123456789abcdef"
    static let origin = "http://localhost:8080"

    /// A necd fixture with `[http]` on a free loopback port and a token file beside it.
    static func fixture() throws -> (DaemonFixture, port: Int) {
        let port = try WebSocketTestClient.freePort()
        let d = try DaemonFixture()
        let tokenFile = d.directory + "/http.token"
        try (token + "\n").write(toFile: tokenFile, atomically: true, encoding: .utf8)
        try d.configure("""
            [http]
            listen = "127.0.0.1:\(port)"
            allowed_origins = ["\(origin)"]
            token_file = "\(tokenFile)"
            """)
        return (d, port)
    }

    /// A WebSocket client past the banner, watching (from `since` when given).
    static func watcher(port: Int, since: Int? = nil) throws -> WebSocketTestClient {
        let client = try WebSocketTestClient(port: port, path: "/ws?token=\(token)", origin: origin)
        guard client.readObject()?["class"] as? String == "VERSION" else {
            throw LineSocket.Failure(description: "no VERSION banner over WebSocket")
        }
        try client.send(since.map { #"{"cmd":"watch","enable":true,"since":\#($0)}"# } ?? #"{"cmd":"watch","enable":true}"#)
        guard client.readObject()?["class"] as? String == "WATCH" else {
            throw LineSocket.Failure(description: "no WATCH answer over WebSocket")
        }
        return client
    }

    /// Without the token, or from an origin not listed, nothing is upgraded and no pupil
    /// data is sent, even with taps going on; the token file never reaches the log.
    @Test func refusedBeforeAnyPupilData() async throws {
        let (d, port) = try Self.fixture()
        try await d.start()
        let watch = try d.watcher()
        try await d.tap(DaemonFixture.card(DaemonFixture.lunchCard), port: d.tillPort)
        #expect(try d.decision(watch)["pupil"] as? String == "TEST-0001")
        for path in ["/ws", "/ws?token=wrong-token-0123456789ab"] {
            do {
                _ = try WebSocketTestClient(port: port, path: path, origin: Self.origin)
                Issue.record("\(path) was upgraded without the token")
            } catch let refused as WebSocketTestClient.Refused {
                #expect(refused.answer.status == 401)
                #expect(!refused.answer.body.contains("TEST-"))
            }
        }
        do {
            _ = try WebSocketTestClient(port: port, path: "/ws?token=\(Self.token)", origin: "http://evil.example")
            Issue.record("an origin not listed was upgraded")
        } catch let refused as WebSocketTestClient.Refused {
            #expect(refused.answer.status == 403)
            #expect(!refused.answer.body.contains("TEST-"))
        }
        let page = try WebSocketTestClient.get(port: port, path: "/")
        #expect(page.status == 401)
        let metrics = try WebSocketTestClient.get(port: port, path: "/metrics")
        #expect(metrics.status == 401)
        let log = d.daemon?.stderr ?? ""
        #expect(!log.contains(Self.token))
    }

    /// Over WebSocket: the banner, a tap through the rig as an event, `watch` with `since`
    /// replaying it, and every request answered byte for byte as on the Unix socket.
    @Test func theBridgeCarriesTheSocketProtocol() async throws {
        let (d, port) = try Self.fixture()
        try await d.start()
        let socketWatch = try d.watcher()
        let webWatch = try Self.watcher(port: port)
        try await d.tap(DaemonFixture.card(DaemonFixture.paidCard), port: d.tillPort)
        let onSocket = try d.decision(socketWatch)
        let onWeb = try #require(
            webWatch.readObject(matching: { $0["class"] as? String == "TAP" }, timeout: .seconds(6)),
            "no TAP over WebSocket; necd said: \(d.daemon?.stderr ?? "")")
        #expect(NSDictionary(dictionary: onWeb) == NSDictionary(dictionary: onSocket))
        #expect(onWeb["pupil"] as? String == "TEST-0002")
        let seq = try #require(onWeb["seq"] as? Int)

        // watch since: the stored tap again, as the socket replays it.
        let replaying = try Self.watcher(port: port, since: seq - 1)
        let replayed = try #require(replaying.readObject())
        #expect(NSDictionary(dictionary: replayed) == NSDictionary(dictionary: onSocket))

        // The same requests on both transports; both clients stay connected meanwhile.
        let socket = try LineSocket(path: d.socketPath)
        _ = socket.readLine()
        let client = try WebSocketTestClient(port: port, path: "/ws?token=\(Self.token)")
        _ = client.next()
        let requests = [
            #"{"cmd":"readers"}"#, #"{"cmd":"lookup","card":"\#(DaemonFixture.lunchCard.digits)"}"#,
            #"{"cmd":"lookup","card":"\#(DaemonFixture.unknownCard.digits)"}"#, #"{"cmd":"nonsense"}"#, "not json",
            #"{"cmd":"void","seq":999999}"#,
        ]
        for request in requests {
            try socket.send(request)
            try client.send(request)
            let overSocket = socket.readLine()
            #expect(overSocket != nil)
            #expect(client.next() == overSocket, "\(request)")
        }
        // STATUS counts every client: the socket's watcher and line client, three WebSockets.
        try client.send(#"{"cmd":"status"}"#)
        let status = try #require(client.readObject())
        #expect(status["class"] as? String == "STATUS")
        #expect(status["clients"] as? Int == 5)
    }

    /// After a scripted session of taps, /metrics parses with Prometheus's own parser and
    /// its tap counters are exactly the session's decisions.
    @Test func metricsCountTheSessionsTaps() async throws {
        let (d, port) = try Self.fixture()
        try await d.start()
        let watch = try d.watcher()
        let session: [ISRN] = [
            DaemonFixture.lunchCard, DaemonFixture.lunchCard, DaemonFixture.hotlistedCard, DaemonFixture.unknownCard,
            DaemonFixture.paidCard,
        ]
        var expected: [String: Double] = [:]
        for isrn in session {
            try await d.tap(DaemonFixture.card(isrn), port: d.tillPort)
            let event = try d.decision(watch)
            let key = [
                event["class"] as? String ?? "?", event["decision"] as? String ?? "?", event["reason"] as? String ?? "none",
            ].joined(separator: "/")
            expected[key, default: 0] += 1
        }
        let answer = try WebSocketTestClient.get(
            port: port, path: "/metrics", headers: ["Authorization": "Bearer \(Self.token)"])
        #expect(answer.status == 200)
        #expect(answer.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let file = d.directory + "/metrics.txt"
        try answer.body.write(toFile: file, atomically: true, encoding: .utf8)
        let parsed = try await ChildProcess.run(
            BuiltProducts.packageRoot.appendingPathComponent("scripts/metrics-samples").path, [file])
        #expect(parsed.status == 0, "\(parsed.stderr)")
        let samples = parsed.lines.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { $0["name"] as? String == name && ($0["labels"] as? [String: String] ?? [:]) == labels }?["value"]
                as? Double
        }
        var counted: [String: Double] = [:]
        for sample in samples where sample["name"] as? String == "necd_taps_total" {
            let labels = sample["labels"] as? [String: String] ?? [:]
            let key = [labels["class"] ?? "?", labels["decision"] ?? "?", labels["reason"] ?? "?"].joined(separator: "/")
            counted[key] = sample["value"] as? Double
        }
        #expect(counted == expected)
        #expect(value("necd_tap_to_event_seconds_count") == Double(session.count))
        // Every read is timed; one that gave no identity (a card pulled away early) is counted by cause too.
        let failures = samples.filter { $0["name"] as? String == "necd_card_read_failures_total" }
            .reduce(0.0) { $0 + ($1["value"] as? Double ?? 0) }
        #expect(value("necd_card_read_seconds_count") == Double(session.count) + failures)
        #expect(value("necd_pcscd_up") == 1)
        #expect(value("necd_list_rows") == 11)
        #expect((value("necd_list_age_seconds") ?? -1) >= 0)
        let socket = try LineSocket(path: d.socketPath)
        _ = socket.readLine()
        try socket.send(#"{"cmd":"readers"}"#)
        let readers = (socket.readObject()?["readers"] as? [[String: Any]]) ?? []
        let byState = Dictionary(grouping: readers) { $0["state"] as? String ?? "?" }.mapValues { Double($0.count) }
        for state in ["empty", "present", "unavailable"] {
            #expect(value("necd_readers", ["state": state]) == byState[state] ?? 0, "\(state)")
        }
        // The watcher; the line client connected after the scrape.
        #expect(value("necd_socket_clients") == 1)
    }
}

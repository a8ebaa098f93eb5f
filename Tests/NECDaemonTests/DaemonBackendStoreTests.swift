import Entitlements
import Foundation
import NECCard
import NECConfiguration
@testable import NECDaemon
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

/// The socket's answers from the daemon's real backend, over a real SQLite store in a
/// temporary directory.
@Suite("DaemonBackendStore: STATUS and READERS from a real store", .timeLimit(.minutes(1)))
struct DaemonBackendStoreTests {
    static let card = "633597999900000019"

    /// A store in `directory`, optionally with a one-row list.
    static func backend(in directory: String, withList: Bool) throws -> (DaemonBackendStore, EntitlementStore, ReaderRegistry) {
        let store = try EntitlementStore(path: directory + "/necd.sqlite")
        if withList {
            try "card,pupil,entitlement\n\(card),TEST-0001,fsm\n".write(toFile: directory + "/list.csv", atomically: true, encoding: .utf8)
            try store.importList(path: directory + "/list.csv")
        }
        let registry = ReaderRegistry()
        registry.set("Test Reader 00 00", state: .empty)
        registry.set("Test Reader 00 01", state: .present, atr: [0x3B, 0x8F])
        registry.setPCSCDConnected(true)
        return (DaemonBackendStore(state: DaemonState(configuration: NECConfiguration(), store: store), registry: registry), store, registry)
    }

    /// The raw STATUS line and its keys.
    static func status(_ client: SocketTestClient) async throws -> (line: String, object: [String: Any]) {
        try await client.send(#"{"cmd":"status"}"#)
        let line = try #require(await client.nextLine())
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return (line, object)
    }

    /// Runs `body` with a client connected (banner read) to a socket server over the real
    /// backend and a store in a temporary directory (with the one-row list when asked),
    /// after `prepare` has had the store; closes the client after.
    static func withClient(
        withList: Bool, prepare: (EntitlementStore) throws -> Void = { _ in },
        _ body: (SocketTestClient, EntitlementStore, ReaderRegistry) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory { directory in
            let (backend, store, registry) = try backend(in: directory, withList: withList)
            try prepare(store)
            try await withSocketServer(backend: backend, in: directory) { _, path in
                let client = try await connectPastBanner(path)
                try await body(client, store, registry)
                await client.close()
            }
        }
    }

    @Test func withNoListAndNoEventsTheirKeysAreAbsent() async throws {
        try await Self.withClient(withList: false) { client, _, _ in
            let (line, status) = try await Self.status(client)
            #expect(status["class"] as? String == "STATUS")
            #expect(Set(status.keys) == ["class", "release", "uptime", "pcscd_connected", "reader_count", "clients"], "\(line)")
            #expect(status["reader_count"] as? Int == 2)
            #expect(status["pcscd_connected"] as? Bool == true)
        }
    }

    @Test func withAListAndEventsEveryKeyIsThere() async throws {
        let prepare = { (store: EntitlementStore) throws in
            let tap = store.decide(
                CardIdentity(media: .desfire, isrn: try ISRN(Self.card)), reader: "Test Reader 00 00", lane: nil, role: .till,
                at: Date(), policy: DecisionPolicy())
            #expect(tap.seq == 1)
        }
        try await Self.withClient(withList: true, prepare: prepare) { client, _, _ in
            let (line, status) = try await Self.status(client)
            #expect(status["list_rows"] as? Int == 1, "\(line)")
            #expect(status["list_stale"] as? Bool == false)
            #expect(status["list_age"] is Double)
            #expect(status["last_seq"] as? Int == 1)
        }
    }

    /// While pcscd cannot be reached, no reader is usable: STATUS counts none, READERS
    /// shows the ones last seen as unavailable.
    @Test func whilePcscdIsDownNoReaderCounts() async throws {
        try await withTemporaryDirectory { directory in
            let (backend, _, registry) = try Self.backend(in: directory, withList: false)
            try await withSocketServer(backend: backend, in: directory) { _, path in
                let client = try await connectPastBanner(path)
                #expect(registry.setPCSCDConnected(false) == ["Test Reader 00 00", "Test Reader 00 01"])
                let (line, status) = try await Self.status(client)
                #expect(status["pcscd_connected"] as? Bool == false, "\(line)")
                #expect(status["reader_count"] as? Int == 0, "\(line)")
                try await client.send(#"{"cmd":"readers"}"#)
                #expect(await client.nextLine() == #"{"class":"READERS","readers":[{"name":"Test Reader 00 00","state":"unavailable","role":"till"},{"name":"Test Reader 00 01","state":"unavailable","role":"till"}]}"#)
                registry.setPCSCDConnected(true)
                #expect(try await Self.status(client).object["reader_count"] as? Int == 2)
                await client.close()
            }
        }
    }
}

/// `void` and `lookup` refusals from the daemon's real backend over a real socket: the
/// rules docs/protocol.md and necd-protocol(7) state (only a lunch of today, once; an
/// event that redeemed nothing or does not exist is an ERROR), decided by the store.
@Suite("DaemonBackendStore: void and lookup refusals from a real store", .timeLimit(.minutes(1)))
struct DaemonBackendStoreRefusalTests {
    /// The answer to `request` on `client`.
    static func answer(_ client: SocketTestClient, _ request: String) async throws -> String {
        try await client.send(request)
        return try #require(await client.nextLine(), "no answer to \(request)")
    }

    @Test func voidFollowsTheStoresRules() async throws {
        let card = CardIdentity(media: .desfire, isrn: try ISRN(DaemonBackendStoreTests.card))
        let unknown = CardIdentity(media: .desfire, isrn: try ISRN("633597999900000027"))
        let now = Date()
        let policy = DecisionPolicy()
        let earlierDay = policy.localDate(of: now.addingTimeInterval(-2 * 86_400))
        let prepare = { (store: EntitlementStore) in
            func tap(_ identity: CardIdentity, at time: Date, role: EntitlementStore.ReaderRole = .till) -> Int64? {
                store.decide(identity, reader: "Test Reader 00 00", lane: nil, role: role, at: time, policy: policy).seq
            }
            // 1: a lunch two days ago; 2: today's lunch; 3: a declined tap; 4: a kiosk's IDENTIFY.
            let seqs = [
                tap(card, at: now.addingTimeInterval(-2 * 86_400)), tap(card, at: now), tap(unknown, at: now),
                tap(card, at: now, role: .kiosk),
            ]
            #expect(seqs == [1, 2, 3, 4])
        }
        try await DaemonBackendStoreTests.withClient(withList: true, prepare: prepare) { client, store, _ async throws in
            let nothing = { (seq: Int) in
                #"{"class":"ERROR","message":"event \#(seq) holds no lunch to release (not a lunch, or already voided)"}"#
            }
            #expect(try await Self.answer(client, #"{"cmd":"void","seq":1}"#)
                == #"{"class":"ERROR","message":"event 1 is a lunch of \#(earlierDay): only a lunch of today can be voided"}"#)
            #expect(try await Self.answer(client, #"{"cmd":"void","seq":3}"#) == nothing(3))
            #expect(try await Self.answer(client, #"{"cmd":"void","seq":4}"#) == nothing(4))
            #expect(try await Self.answer(client, #"{"cmd":"void","seq":99}"#)
                == #"{"class":"ERROR","message":"no event 99 (never written, or pruned)"}"#)
            #expect(try await Self.answer(client, #"{"cmd":"void","seq":2}"#) == #"{"class":"VOID","seq":2}"#)
            // Once only: the lunch is released, a second void finds nothing to release.
            #expect(try await Self.answer(client, #"{"cmd":"void","seq":2}"#) == nothing(2))
            // The VOIDED event took the next seq, and the pupil may have lunch again.
            #expect(try store.lastSeq() == 5)
            #expect(store.decide(card, reader: "Test Reader 00 00", lane: nil, role: .till, at: now, policy: policy).kind == .lunch)
        }
    }

    @Test func aCardNumberThatIsNeitherAnISRNNorAUIDIsRefused() async throws {
        try await DaemonBackendStoreTests.withClient(withList: true) { client, _, _ in
            for bad in ["nonsense", "63359799990000001", "633597999900000018"] {
                let line = try await Self.answer(client, #"{"cmd":"lookup","card":"\#(bad)"}"#)
                #expect(line.hasPrefix(#"{"class":"ERROR","message":"card: "#), "\(bad): \(line)")
            }
            // A valid ISRN not on the list is a LOOKUP, declined unknown_card.
            #expect(try await Self.answer(client, #"{"cmd":"lookup","card":"633597999900000027"}"#)
                == #"{"class":"LOOKUP","card":{"isrn":"633597999900000027","media":"unknown"},"decision":"declined","reason":"unknown_card"}"#)
        }
    }
}

/// Another process holding the database's write lock (an import, a technician's sqlite3)
/// makes a `void` wait. Nothing else may wait with it: not a `status`, not an event on
/// its way to a watcher.
@Suite("DaemonBackendStore: a request waiting for the database holds up nothing else", .timeLimit(.minutes(2)))
struct DaemonBackendStoreBlockingTests {
    static let sqlite3 = ["/usr/bin/sqlite3", "/bin/sqlite3"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// `sqlite3` holding `BEGIN IMMEDIATE` on `database` until its input is closed.
    final class LockHolder: @unchecked Sendable {
        let process = Process()
        let input = Pipe()

        init(database: String) throws {
            process.executableURL = URL(fileURLWithPath: try #require(DaemonBackendStoreBlockingTests.sqlite3))
            process.arguments = [database]
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            try input.fileHandleForWriting.write(contentsOf: Data("BEGIN IMMEDIATE;\nSELECT 'locked';\n".utf8))
            // It answers once it holds the lock.
            let reading = output.fileHandleForReading
            var seen = Data()
            while !String(decoding: seen, as: UTF8.self).contains("locked") {
                let chunk = reading.availableData
                if chunk.isEmpty { throw RawSocket.Failure("sqlite3 ended before taking the lock") }
                seen += chunk
            }
        }

        /// Closes its input: sqlite3 ends and the lock goes with it.
        func release() {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }

    @Test(.needs(tool: "sqlite3", package: "sqlite3"))
    func statusAndEventsGoOnWhileVoidsWaitForTheLock() async throws {
        try await withTemporaryDirectory { directory in
            let (backend, _, _) = try DaemonBackendStoreTests.backend(in: directory, withList: true)
            try await withSocketServer(backend: backend, in: directory) { server, path in
                let watcher = try await rawWatcher(path, on: server, answer: #"{"class":"WATCH","enable":true,"since":0}"#)
                let lock = try await onOwnThread { try LockHolder(database: directory + "/necd.sqlite") }
                // Two voids: on a two-core machine, as many as Swift's cooperative pool has threads.
                let voiders = try await onOwnThread { () -> [RawSocket] in
                    try (0..<2).map { _ in
                        let socket = try RawSocket(path: path)
                        _ = try socket.readLine()
                        try socket.send(#"{"cmd":"void","seq":1}"#)
                        return socket
                    }
                }
                let progress = try await onOwnThread { () -> (status: String?, event: String?) in
                    // Not a wait that decides anything: only both voids started before the rest.
                    let deadline = ContinuousClock.now + .seconds(10)
                    while server.requestsBeingAnswered < 2 && ContinuousClock.now < deadline { usleep(2_000) }
                    let asker = try RawSocket(path: path)
                    _ = try asker.readLine(timeout: .seconds(5))
                    try asker.send(#"{"cmd":"status"}"#)
                    let status = try? asker.readLine(timeout: .seconds(5))
                    server.publish(EventLine(seq: 1, json: #"{"class":"TAP","seq":1}"#))
                    let event = try? watcher.readLine(timeout: .seconds(5))
                    return (status, event)
                }
                lock.release()
                let voided = try await onOwnThread { try voiders.map { try $0.readLine(timeout: .seconds(30)) } }
                #expect(progress.status?.hasPrefix(#"{"class":"STATUS""#) == true, "no STATUS while a void waited: \(String(describing: progress.status))")
                #expect(progress.event == #"{"class":"TAP","seq":1}"#, "no event while a void waited")
                // A void waits at most the taps' 0.25 s for the lock, then is refused as busy
                // (nothing voided); one that got the lock finds no event 1.
                let answers: Set<String> = [
                    #"{"class":"ERROR","message":"no event 1 (never written, or pruned)"}"#,
                    #"{"class":"ERROR","message":"void: the database is busy or cannot be written; nothing was voided, try again"}"#,
                ]
                #expect(voided.count == 2)
                for answer in voided { #expect(answers.contains(answer ?? ""), "\(String(describing: answer))") }
            }
        }
    }
}

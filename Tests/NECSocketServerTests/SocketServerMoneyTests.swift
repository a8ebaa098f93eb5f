#if canImport(Glibc)
import Glibc
#endif
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import Testing

/// A backend that knows only protocol 1.0's requests, as the daemon's did before 1.1.
private struct VersionOneBackend: DaemonBackend {
    let inner = InMemoryBackend()
    func storedEvents(after seq: Int64, limit: Int) async throws -> [EventLine] { try await inner.storedEvents(after: seq, limit: limit) }
    func readers() async -> ReadersMessage { await inner.readers() }
    func status() async -> StatusMessage { await inner.status() }
    func lookup(card: String) async throws -> LookupMessage { try await inner.lookup(card: card) }
    func void(seq: Int64) async throws -> VoidMessage { try await inner.void(seq: seq) }
}

private let lunch = LookupMessage(card: CardInfo(), decision: .authorised, kind: .lunch, allergens: ["milk"])
private let authorised = InMemoryBackend.PaymentAnswer(decision: .authorised, spentToday: 235, remainingToday: 15, balance: 1265)

/// A backend wired to its server as the daemon's is: what it stores, it publishes.
private func moneyBackend() -> InMemoryBackend {
    let backend = InMemoryBackend()
    backend.configure(pupil: "P0000042", decision: lunch, payment: authorised)
    backend.configure(pupil: "P0000043", payment: .init(decision: .declined, reason: .overDailyLimit, spentToday: 235, remainingToday: 15))
    return backend
}

private func withMoneyServer(_ body: (InMemoryBackend, SocketServer, String) async throws -> Void) async throws {
    let backend = moneyBackend()
    try await withSocketServer(backend: backend) { server, path in
        backend.publishStoredEvents(to: server.publish)
        try await body(backend, server, path)
    }
}

/// Starts a watch and reads its `WATCH` answer.
private func watcher(_ path: String) async throws -> SocketTestClient {
    let client = try await connectPastBanner(path)
    try await client.send(#"{"cmd":"watch","enable":true}"#)
    try #require(try await nextClass(client) == "WATCH")
    return client
}

@Suite("Socket server: protocol 1.1 redeem, charge and refund", .timeLimit(.minutes(1)))
struct SocketServerMoneyTests {
    static let manualLunch = #"{"class":"TAP","seq":1,"time":"2026-11-27T12:00:00.000Z","lane":"till-2","method":"manual","decision":"authorised","kind":"lunch","pupil":"P0000042","allergens":["milk"]}"#
    static let charge = #"{"class":"PAYMENT","seq":1,"time":"2026-11-27T12:00:00.000Z","lane":"till-2","txn":"till2-000981","pupil":"P0000042","kind":"charge","amount":235,"decision":"authorised","spent_today":235,"remaining_today":15,"balance":1265}"#
    static let refund = #"{"class":"PAYMENT","seq":2,"time":"2026-11-27T12:00:00.000Z","lane":"till-2","txn":"till2-000981","pupil":"P0000042","kind":"refund","amount":235,"decision":"authorised","spent_today":0,"remaining_today":250,"balance":1500}"#

    @Test func aManualLunchIsAnsweredStoredAndBroadcastWithThePeersUid() async throws {
        try await withMoneyServer { backend, _, path in
            let watching = try await watcher(path)
            let till = try await connectPastBanner(path)
            try await till.send(#"{"cmd":"redeem","pupil":"P0000042","lane":"till-2"}"#)
            #expect(await till.nextLine() == Self.manualLunch)
            #expect(await watching.nextLine() == Self.manualLunch)
            // Stored: the uid the kernel gave for the till's connection, and in the replay.
            #expect(backend.redeemer(ofEvent: 1) == .some(getuid()))
            let replaying = try await connectPastBanner(path)
            try await replaying.send(#"{"cmd":"watch","enable":true,"since":0}"#)
            #expect(await replaying.nextLine() == #"{"class":"WATCH","enable":true,"since":0}"#)
            #expect(await replaying.nextLine() == Self.manualLunch)
            // A pupil the backend cannot decide for: an ERROR, and the connection stays.
            try await till.send(#"{"cmd":"redeem","pupil":"P9"}"#)
            #expect(await till.nextLine() == #"{"class":"ERROR","message":"redeem: no answer configured for this pupil"}"#)
            for client in [watching, till, replaying] { await client.close() }
        }
    }

    @Test func aChargeRetriedWithItsTxnGetsTheStoredEventAndIsPublishedOnce() async throws {
        try await withMoneyServer { backend, _, path in
            let watching = try await watcher(path)
            let till = try await connectPastBanner(path)
            let request = #"{"cmd":"charge","pupil":"P0000042","amount":235,"txn":"till2-000981","lane":"till-2"}"#
            try await till.send(request)
            #expect(await till.nextLine() == Self.charge)
            // The till lost the answer and asks again on a new connection: the same event, same seq.
            let again = try await connectPastBanner(path)
            try await again.send(request)
            #expect(await again.nextLine() == Self.charge)
            #expect(backend.storedCharges == 1)
            // A declined charge is an event too.
            try await again.send(#"{"cmd":"charge","pupil":"P0000043","amount":400,"txn":"till2-000982","lane":"till-2"}"#)
            let declined = #"{"class":"PAYMENT","seq":2,"time":"2026-11-27T12:00:00.000Z","lane":"till-2","txn":"till2-000982","pupil":"P0000043","kind":"charge","amount":400,"decision":"declined","reason":"over_daily_limit","spent_today":235,"remaining_today":15}"#
            #expect(await again.nextLine() == declined)
            // The watcher saw each stored event once: the retry published nothing.
            #expect(await watching.nextLine() == Self.charge)
            #expect(await watching.nextLine() == declined)
            try await watching.send(#"{"cmd":"status"}"#)
            #expect(isStatus(await watching.nextLine()))
            for client in [watching, till, again] { await client.close() }
        }
    }

    @Test func aRefundIsAnEventAndASecondRefundIsAnError() async throws {
        try await withMoneyServer { backend, _, path in
            backend.configureRefunds(of: "till2-000981", [
                .refused("refund: no charge has this txn: nothing to refund"),
                .refunded(.init(decision: .authorised, spentToday: 0, remainingToday: 250, balance: 1500)),
                .refused("refund: the charge with this txn was already refunded (event 2)"),
            ])
            let till = try await connectPastBanner(path)
            try await till.send(#"{"cmd":"refund","txn":"till2-000981"}"#)
            #expect(await till.nextLine() == #"{"class":"ERROR","message":"refund: no charge has this txn: nothing to refund"}"#)
            try await till.send(#"{"cmd":"charge","pupil":"P0000042","amount":235,"txn":"till2-000981","lane":"till-2"}"#)
            let charged = await till.nextLine()
            #expect(charged == Self.charge)
            let watching = try await watcher(path)
            try await till.send(#"{"cmd":"refund","txn":"till2-000981"}"#)
            #expect(await till.nextLine() == Self.refund)
            #expect(await watching.nextLine() == Self.refund)
            try await till.send(#"{"cmd":"refund","txn":"till2-000981"}"#)
            #expect(await till.nextLine() == #"{"class":"ERROR","message":"refund: the charge with this txn was already refunded (event 2)"}"#)
            try await till.send(#"{"cmd":"status"}"#)
            #expect(isStatus(await till.nextLine()))
            for client in [watching, till] { await client.close() }
        }
    }

    /// A till that watches and charges gets the event from the stream and as its answer:
    /// the same line twice, with one seq, so it handles it once.
    @Test func aWatchingTillGetsItsOwnEventInTheStreamAndAsTheAnswer() async throws {
        try await withMoneyServer { _, _, path in
            let till = try await watcher(path)
            try await till.send(#"{"cmd":"charge","pupil":"P0000042","amount":235,"txn":"till2-000981","lane":"till-2"}"#)
            #expect(await till.nextLine() == Self.charge)
            #expect(await till.nextLine() == Self.charge)
            try await till.send(#"{"cmd":"status"}"#)
            #expect(isStatus(await till.nextLine()))
            await till.close()
        }
    }

    @Test func badMoneyRequestsGetAnErrorAndTheConnectionStays() async throws {
        try await withMoneyServer { backend, _, path in
            let till = try await connectPastBanner(path)
            let bad: [(String, String)] = [
                (#"{"cmd":"charge","pupil":"P0000042","amount":0,"txn":"t1"}"#, #"charge: invalid field \"amount\": whole pence from 1 to 100000"#),
                (#"{"cmd":"charge","pupil":"P0000042","amount":2.35,"txn":"t1"}"#, #"charge: invalid field \"amount\": whole pence, an integer"#),
                (#"{"cmd":"charge","pupil":"P0000042","amount":100001,"txn":"t1"}"#, #"charge: invalid field \"amount\": whole pence from 1 to 100000"#),
                (#"{"cmd":"charge","pupil":"P0000042","amount":5}"#, #"charge: missing field \"txn\""#),
                (#"{"cmd":"charge","pupil":"P0000042","amount":5,"txn":"\#(String(repeating: "x", count: 65))"}"#,
                    #"charge: invalid field \"txn\": 1 to 64 printable characters, no spaces at either end"#),
                (#"{"cmd":"charge","pupil":"P0000042","amount":5,"txn":"t\u001b[31m"}"#,
                    #"charge: invalid field \"txn\": 1 to 64 printable characters, no spaces at either end"#),
                (#"{"cmd":"refund"}"#, #"refund: missing field \"txn\""#),
                (#"{"cmd":"redeem","pupil":""}"#, #"redeem: invalid field \"pupil\": 1 to 64 printable characters, no spaces at either end"#),
                (#"{"cmd":"redeem","lane":"till-2"}"#, #"redeem: missing field \"pupil\""#),
            ]
            for (line, message) in bad {
                try await till.send(line)
                #expect(await till.nextLine() == #"{"class":"ERROR","message":"\#(message)"}"#, "\(line)")
            }
            #expect(backend.storedCharges == 0)
            #expect(backend.lastSeq == 0)
            try await till.send(#"{"cmd":"status"}"#)
            #expect(isStatus(await till.nextLine()))
            await till.close()
        }
    }

    @Test func aBackendWithoutTheNewRequestsRefusesThemClearly() async throws {
        try await withSocketServer(backend: VersionOneBackend()) { _, path in
            let till = try await connectPastBanner(path)
            for (line, command) in [
                (#"{"cmd":"redeem","pupil":"P0000042"}"#, "redeem"),
                (#"{"cmd":"charge","pupil":"P0000042","amount":235,"txn":"till2-000981"}"#, "charge"),
                (#"{"cmd":"refund","txn":"till2-000981"}"#, "refund"),
            ] {
                try await till.send(line)
                #expect(await till.nextLine() == #"{"class":"ERROR","message":"\#(command): not supported by this backend"}"#)
            }
            try await till.send(#"{"cmd":"status"}"#)
            #expect(isStatus(await till.nextLine()))
            await till.close()
        }
    }
}

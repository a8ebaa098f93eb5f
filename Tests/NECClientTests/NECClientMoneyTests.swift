import NECClient
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import Testing

private let fast = NECClient.ReconnectPolicy(initialDelay: .milliseconds(10), maximumDelay: .milliseconds(100))

/// A backend wired to its server as the daemon's is (what it stores, it publishes), with
/// one lunch pupil and one pupil whose charges are declined.
private func withMoneyServer(in directory: String, _ body: (InMemoryBackend, SocketServer, String) async throws -> Void) async throws {
    let backend = InMemoryBackend()
    backend.configure(
        pupil: "P0000042", decision: LookupMessage(card: CardInfo(), decision: .authorised, kind: .lunch),
        payment: .init(decision: .authorised, spentToday: 235, remainingToday: 15, balance: 1265))
    backend.configure(pupil: "P0000043", payment: .init(decision: .declined, reason: .overDailyLimit, spentToday: 235, remainingToday: 15))
    try await withSocketServer(backend: backend, in: directory) { server, path in
        backend.publishStoredEvents(to: server.publish)
        try await body(backend, server, path)
    }
}

/// A client whose first connection loses the answer to its request (a proxy in front of the server).
private func lossyClient(in directory: String, upstream: String) throws -> (NECClient, AnswerLosingProxy) {
    let proxy = try AnswerLosingProxy(path: directory + "/lossy.sock", upstream: upstream, losing: 1)
    return (NECClient(socketPath: proxy.path, reconnectPolicy: fast), proxy)
}

@Suite("NECClient: redeem, charge and refund against a real socket server", .timeLimit(.minutes(2)))
struct NECClientMoneyTests {
    @Test func redeemChargeAndRefundAnswerWithTheStoredEvents() async throws {
        try await withTemporaryDirectory { directory in
            try await withMoneyServer(in: directory) { backend, _, path in
                backend.configureRefunds(of: "till2-000981", [
                    .refunded(.init(decision: .authorised)), .refused(#"refund: txn "till2-000981" was already refunded"#),
                ])
                let client = NECClient(socketPath: path, reconnectPolicy: fast)
                let lunch = try await client.redeem(pupil: "P0000042", lane: "till-2")
                #expect(lunch == TapEvent.manual(
                    seq: 1, time: InMemoryBackend.eventTime, lane: "till-2", decision: .authorised, kind: .lunch, pupil: "P0000042"))
                let charge = try await client.charge(pupil: "P0000042", amount: 235, lane: "till-2", txn: "till2-000981")
                #expect(charge == PaymentEvent(
                    seq: 2, time: InMemoryBackend.eventTime, lane: "till-2", txn: "till2-000981", pupil: "P0000042", kind: .charge,
                    amount: 235, decision: .authorised, spentToday: 235, remainingToday: 15, balance: 1265))
                let declined = try await client.charge(pupil: "P0000043", amount: 400)
                #expect(declined.decision == .declined)
                #expect(declined.reason == .overDailyLimit)
                #expect(declined.seq == 3)
                #expect(declined.txn.hasPrefix("necclient-"))
                #expect(Request.isPrintableIdentifier(declined.txn))
                let refund = try await client.refund(txn: "till2-000981")
                #expect(refund == PaymentEvent(
                    seq: 4, time: InMemoryBackend.eventTime, lane: "till-2", txn: "till2-000981", pupil: "P0000042", kind: .refund,
                    amount: 235, decision: .authorised))
                // Refusals are the daemon's words, and nothing is sent twice for them.
                await #expect(throws: NECClientError.refused(#"refund: txn "till2-000981" was already refunded"#)) {
                    try await client.refund(txn: "till2-000981")
                }
                await #expect(throws: NECClientError.refused(#"charge: invalid field "amount": whole pence from 1 to 100000"#)) {
                    try await client.charge(pupil: "P0000042", amount: 0)
                }
                #expect(backend.storedCharges == 2)
            }
        }
    }

    /// The connection drops after the charge reached the daemon and before its answer came
    /// back: the client sends the same request (same txn) again on a new connection, and
    /// gets the event stored the first time. One charge, one event, whatever was lost.
    @Test func aChargeWhoseAnswerIsLostIsRetriedWithTheSameTxnAndChargedOnce() async throws {
        try await withTemporaryDirectory { directory in
            try await withMoneyServer(in: directory) { backend, _, path in
                let (client, proxy) = try lossyClient(in: directory, upstream: path)
                defer { proxy.stop() }
                let charge = try await client.charge(pupil: "P0000042", amount: 235, lane: "till-2", txn: "till2-000981")
                let stored = #"{"class":"PAYMENT","seq":1,"time":"2026-11-27T12:00:00.000Z","lane":"till-2","txn":"till2-000981","pupil":"P0000042","kind":"charge","amount":235,"decision":"authorised","spent_today":235,"remaining_today":15,"balance":1265}"#
                #expect(proxy.lostAnswers == [stored])
                #expect(proxy.connections == 2)
                #expect(String(decoding: MessageCoding.line(charge), as: UTF8.self) == stored + "\n")
                #expect(backend.storedCharges == 1)
                #expect(backend.lastSeq == 1)
                #expect(try await NECClient(socketPath: path).status().lastSeq == 1)
            }
        }
    }

    /// A redeem has no txn: after a lost answer it is not sent again (a second lunch request
    /// would be declined and hide the first answer); the caller is told the outcome is unknown.
    @Test func aRedeemWhoseAnswerIsLostIsNotSentAgain() async throws {
        try await withTemporaryDirectory { directory in
            try await withMoneyServer(in: directory) { backend, _, path in
                let (client, proxy) = try lossyClient(in: directory, upstream: path)
                defer { proxy.stop() }
                await #expect(throws: NECClientError.answerLost("redeem")) {
                    try await client.redeem(pupil: "P0000042", lane: "till-2")
                }
                #expect(proxy.connections == 1)
                #expect(proxy.lostAnswers.count == 1)
                #expect(backend.lastSeq == 1)
            }
        }
    }

    /// A refund sent again after a lost answer cannot refund twice (the daemon refuses a
    /// second refund); the refusal then says only that the first may have been made.
    @Test func aRefundWhoseAnswerIsLostIsNeverMadeTwice() async throws {
        try await withTemporaryDirectory { directory in
            try await withMoneyServer(in: directory) { backend, _, path in
                backend.configureRefunds(of: "t-1", [
                    .refunded(.init(decision: .authorised)), .refused("refund: the charge with this txn was already refunded (event 2)"),
                ])
                let direct = NECClient(socketPath: path, reconnectPolicy: fast)
                _ = try await direct.charge(pupil: "P0000042", amount: 235, txn: "t-1")
                let (client, proxy) = try lossyClient(in: directory, upstream: path)
                defer { proxy.stop() }
                await #expect(throws: NECClientError.answerLost("refund")) {
                    try await client.refund(txn: "t-1")
                }
                #expect(proxy.connections == 2)
                #expect(backend.lastSeq == 2)
            }
        }
    }

    /// A charge the daemon could not store is answered without a seq: the client hands it
    /// over (it is the answer), though an event stream would refuse such a line.
    @Test func aChargeThatCouldNotBeStoredIsAnsweredWithoutASeq() async throws {
        try await withTemporaryDirectory { directory in
            try await withMoneyServer(in: directory) { backend, _, path in
                backend.configure(pupil: "P0000044", payment: .init(decision: .declined, reason: .unavailable, stored: false))
                let client = NECClient(socketPath: path, reconnectPolicy: fast)
                let answer = try await client.charge(pupil: "P0000044", amount: 120, txn: "t-9")
                #expect(answer == PaymentEvent(
                    seq: nil, time: InMemoryBackend.eventTime, txn: "t-9", pupil: "P0000044", kind: .charge, amount: 120,
                    decision: .declined, reason: .unavailable))
                #expect(backend.lastSeq == 0)
                #expect(backend.storedCharges == 0)
            }
        }
    }

    @Test func aChargeThatCannotConnectIsRetriedThenFailsClearly() async throws {
        try await withTemporaryDirectory { directory in
            let client = NECClient(socketPath: directory + "/absent.sock", reconnectPolicy: fast)
            await #expect {
                try await client.charge(pupil: "P0000042", amount: 235, attempts: 3)
            } throws: { error in
                guard case NECClientError.cannotConnect = error else { return false }
                return true
            }
        }
    }
}

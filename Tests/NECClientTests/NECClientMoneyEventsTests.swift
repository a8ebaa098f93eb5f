import NECClient
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import Testing

/// ``NECClient/events(since:)`` hands out protocol 1.1's PAYMENT and VOIDED events and
/// manual taps, decoded to the exact values the daemon sent, and skips every line it
/// cannot use without ending the stream.
@Suite("NECClient's events of protocol 1.1", .timeLimit(.minutes(2)))
struct NECClientMoneyEventsTests {
    static let manualTap =
        #"{"class":"TAP","seq":1,"time":"2026-11-27T12:01:02.123Z","lane":"till-2","method":"manual","decision":"authorised","kind":"lunch","pupil":"TEST-0042"}"#
    static let charge =
        #"{"class":"PAYMENT","seq":2,"time":"2026-11-27T12:03:10.220Z","lane":"till-2","txn":"till2-000981","pupil":"TEST-0042","kind":"charge","amount":235,"decision":"authorised","spent_today":235,"remaining_today":15,"balance":1265}"#
    static let overLimit =
        #"{"class":"PAYMENT","seq":3,"time":"2026-11-27T12:03:20.000Z","lane":"till-2","txn":"till2-000982","pupil":"TEST-0042","kind":"charge","amount":400,"decision":"declined","reason":"over_daily_limit","spent_today":235,"remaining_today":15}"#
    static let voided =
        #"{"class":"VOIDED","seq":4,"time":"2026-11-27T12:05:00.000Z","voided":1,"pupil":"TEST-0042","lane":"till-2"}"#

    /// `lines` at the journal seqs 1, 2, 3, ... whatever their text says.
    static func journal(_ lines: [String]) -> RawLineJournal {
        RawLineJournal(lines.enumerated().map { (Int64($0.offset + 1), $0.element) })
    }

    @Test func paymentsVoidsAndManualTapsComeOutWithEveryField() async throws {
        let backend = Self.journal([Self.manualTap, Self.charge, Self.overLimit, Self.voided])
        try await withSocketServer(backend: backend) { _, path in
            var events = NECClient(socketPath: path).events(since: 0).makeAsyncIterator()
            var got: [DaemonEvent] = []
            while got.count < 4, let event = try await events.next() { got.append(event) }
            #expect(got == [
                .tap(TapEvent(
                    seq: 1, time: "2026-11-27T12:01:02.123Z", reader: "", lane: "till-2", method: .manual, card: CardInfo(),
                    decision: .authorised, kind: .lunch, pupil: "TEST-0042")),
                .payment(PaymentEvent(
                    seq: 2, time: "2026-11-27T12:03:10.220Z", lane: "till-2", txn: "till2-000981", pupil: "TEST-0042",
                    kind: .charge, amount: 235, decision: .authorised, spentToday: 235, remainingToday: 15, balance: 1265)),
                .payment(PaymentEvent(
                    seq: 3, time: "2026-11-27T12:03:20.000Z", lane: "till-2", txn: "till2-000982", pupil: "TEST-0042",
                    kind: .charge, amount: 400, decision: .declined, reason: .overDailyLimit, spentToday: 235, remainingToday: 15)),
                .voided(VoidedEvent(seq: 4, time: "2026-11-27T12:05:00.000Z", voided: 1, pupil: "TEST-0042", lane: "till-2")),
            ])
            #expect(got.map(\.seq) == [1, 2, 3, 4])
            if case .tap(let tap) = got[0] { #expect(tap.isManual) }
        }
    }

    /// Bad JSON, a PAYMENT with a field of the wrong type, events without a seq, a class
    /// from a newer daemon: each is skipped and the stream goes on to the next good event.
    @Test func aHostileOrUnknownLineNeverEndsTheStream() async throws {
        let backend = Self.journal([
            "not json at all",
            #"{"class":"PAYMENT","seq":2,"time":"2026-11-27T12:00:00.000Z","txn":"t","pupil":"p","kind":"charge","amount":"lots","decision":"authorised"}"#,
            #"{"class":"PAYMENT","time":"2026-11-27T12:00:00.000Z","txn":"t","pupil":"p","kind":"charge","amount":5,"decision":"authorised"}"#,
            #"{"class":"VOIDED","time":"2026-11-27T12:00:00.000Z","voided":1}"#,
            #"{"class":"VOIDED","seq":"five","time":"2026-11-27T12:00:00.000Z"}"#,
            #"{"class":"GIFT_CARD","seq":6,"value":100}"#,
            #"[1,2,3]"#,
            #"{"class":"PAYMENT","seq":8,"time":"2026-11-27T12:00:00.000Z","txn":"t8","pupil":"p","kind":"gift","amount":5,"decision":"maybe"}"#,
            Self.charge.replacingOccurrences(of: #""seq":2"#, with: #""seq":9"#),
        ])
        try await withSocketServer(backend: backend) { _, path in
            var events = NECClient(socketPath: path).events(since: 0).makeAsyncIterator()
            let first = try await events.next()
            let second = try await events.next()
            // A kind and a decision this client does not know are still a PAYMENT: open vocabularies.
            #expect(first == .payment(PaymentEvent(
                seq: 8, time: "2026-11-27T12:00:00.000Z", txn: "t8", pupil: "p", kind: PaymentKind(rawValue: "gift"), amount: 5,
                decision: Decision(rawValue: "maybe"))))
            #expect(second?.seq == 9)
            guard case .payment(let payment)? = second else {
                Issue.record("not a PAYMENT: \(String(describing: second))")
                return
            }
            #expect(payment.txn == "till2-000981")
            #expect(payment.amount == 235)
            #expect(payment.balance == 1265)
        }
    }
}

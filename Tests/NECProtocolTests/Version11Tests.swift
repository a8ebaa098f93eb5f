import NECProtocol
import Testing

private func text(_ message: some Encodable) -> String {
    String(decoding: MessageCoding.line(message), as: UTF8.self)
}

private func parse(_ line: String) throws(Request.ParseError) -> Request {
    try Request.parse(line: Array(line.utf8))
}

private func decoded(_ line: String, allowingUnstored: Bool = false) throws -> DaemonMessage {
    try MessageCoding.daemonMessage(from: Array(line.utf8), allowingUnstored: allowingUnstored)
}

@Suite("Protocol 1.1: redeem, charge, refund, PAYMENT and method, exactly as the contract writes them")
struct Version11Tests {
    // MARK: Requests

    @Test func theContractsRequestsParse() throws {
        #expect(try parse(#"{"cmd":"redeem","pupil":"P0000042","lane":"till-2"}"#) == .redeem(pupil: "P0000042", lane: "till-2"))
        #expect(try parse(#"{"cmd":"redeem","pupil":"P0000042"}"#) == .redeem(pupil: "P0000042", lane: nil))
        #expect(try parse(#"{"cmd":"charge","pupil":"P0000042","amount":235,"txn":"till2-000981","lane":"till-2"}"#)
            == .charge(pupil: "P0000042", amount: 235, txn: "till2-000981", lane: "till-2"))
        #expect(try parse(#"{"cmd":"charge","pupil":"P0000042","amount":1,"txn":"t"}"#) == .charge(pupil: "P0000042", amount: 1, txn: "t", lane: nil))
        #expect(try parse(#"{"cmd":"charge","pupil":"P","amount":100000,"txn":"a b"}"#) == .charge(pupil: "P", amount: 100_000, txn: "a b", lane: nil))
        #expect(try parse(#"{"cmd":"refund","txn":"till2-000981"}"#) == .refund(txn: "till2-000981"))
        let longest = String(repeating: "x", count: 64)
        #expect(try parse(#"{"cmd":"refund","txn":"\#(longest)"}"#) == .refund(txn: longest))
        #expect(try parse(#"{"cmd":"redeem","pupil":"Größe-漢字"}"#) == .redeem(pupil: "Größe-漢字", lane: nil))
    }

    @Test(arguments: [
        (#"{"cmd":"redeem"}"#, Request.ParseError.missingField(command: "redeem", field: "pupil")),
        (#"{"cmd":"redeem","pupil":42}"#, .invalidField(command: "redeem", field: "pupil")),
        (#"{"cmd":"redeem","pupil":null}"#, .invalidField(command: "redeem", field: "pupil")),
        (#"{"cmd":"redeem","pupil":""}"#, .fieldRule(command: "redeem", field: "pupil", rule: identifierRule)),
        (#"{"cmd":"redeem","pupil":" P1"}"#, .fieldRule(command: "redeem", field: "pupil", rule: identifierRule)),
        (#"{"cmd":"redeem","pupil":"P1\u0007"}"#, .fieldRule(command: "redeem", field: "pupil", rule: identifierRule)),
        (#"{"cmd":"redeem","pupil":"P\u202e1"}"#, .fieldRule(command: "redeem", field: "pupil", rule: identifierRule)),
        (#"{"cmd":"redeem","pupil":"P\t1"}"#, .fieldRule(command: "redeem", field: "pupil", rule: identifierRule)),
        (#"{"cmd":"redeem","pupil":"P1","lane":7}"#, .invalidField(command: "redeem", field: "lane")),
        (#"{"cmd":"redeem","pupil":"P1","lane":""}"#, .fieldRule(command: "redeem", field: "lane", rule: identifierRule)),
        (#"{"cmd":"charge","amount":5,"txn":"t"}"#, .missingField(command: "charge", field: "pupil")),
        (#"{"cmd":"charge","pupil":"P1","txn":"t"}"#, .missingField(command: "charge", field: "amount")),
        (#"{"cmd":"charge","pupil":"P1","amount":5}"#, .missingField(command: "charge", field: "txn")),
        (#"{"cmd":"charge","pupil":"P1","amount":0,"txn":"t"}"#, .fieldRule(command: "charge", field: "amount", rule: amountRangeRule)),
        (#"{"cmd":"charge","pupil":"P1","amount":-235,"txn":"t"}"#, .fieldRule(command: "charge", field: "amount", rule: amountRangeRule)),
        (#"{"cmd":"charge","pupil":"P1","amount":100001,"txn":"t"}"#, .fieldRule(command: "charge", field: "amount", rule: amountRangeRule)),
        (#"{"cmd":"charge","pupil":"P1","amount":9223372036854775807,"txn":"t"}"#, .fieldRule(command: "charge", field: "amount", rule: amountRangeRule)),
        (#"{"cmd":"charge","pupil":"P1","amount":1e30,"txn":"t"}"#, .fieldRule(command: "charge", field: "amount", rule: amountTypeRule)),
        (#"{"cmd":"charge","pupil":"P1","amount":2.35,"txn":"t"}"#, .fieldRule(command: "charge", field: "amount", rule: amountTypeRule)),
        (#"{"cmd":"charge","pupil":"P1","amount":"235","txn":"t"}"#, .fieldRule(command: "charge", field: "amount", rule: amountTypeRule)),
        (#"{"cmd":"charge","pupil":"P1","amount":true,"txn":"t"}"#, .fieldRule(command: "charge", field: "amount", rule: amountTypeRule)),
        (#"{"cmd":"charge","pupil":"P1","amount":5,"txn":""}"#, .fieldRule(command: "charge", field: "txn", rule: identifierRule)),
        (#"{"cmd":"charge","pupil":"P1","amount":5,"txn":12}"#, .invalidField(command: "charge", field: "txn")),
        (#"{"cmd":"charge","pupil":"P1","amount":5,"txn":"\#(String(repeating: "x", count: 65))"}"#,
            .fieldRule(command: "charge", field: "txn", rule: identifierRule)),
        (#"{"cmd":"charge","pupil":"P1","amount":5,"txn":"t\n"}"#, .fieldRule(command: "charge", field: "txn", rule: identifierRule)),
        (#"{"cmd":"refund"}"#, .missingField(command: "refund", field: "txn")),
        (#"{"cmd":"refund","txn":["t"]}"#, .invalidField(command: "refund", field: "txn")),
        (#"{"cmd":"refund","txn":"t\u0000"}"#, .fieldRule(command: "refund", field: "txn", rule: identifierRule)),
    ])
    func badMoneyRequests(line: String, expected: Request.ParseError) {
        #expect(throws: expected) { try parse(line) }
    }

    @Test func errorTextsSayTheRule() {
        #expect(Request.ParseError.fieldRule(command: "charge", field: "amount", rule: amountRangeRule).description
            == #"charge: invalid field "amount": whole pence from 1 to 100000"#)
        #expect(Request.ParseError.fieldRule(command: "refund", field: "txn", rule: identifierRule).description
            == #"refund: invalid field "txn": 1 to 64 printable characters, no spaces at either end"#)
    }

    @Test(arguments: [
        Request.redeem(pupil: "P0000042", lane: "till-2"), .redeem(pupil: "a \"quoted\" \\ pupil", lane: nil),
        .charge(pupil: "P0000042", amount: 235, txn: "till2-000981", lane: "till-2"), .charge(pupil: "P", amount: 1, txn: "é", lane: nil),
        .refund(txn: "till2-000981"),
    ])
    func jsonLineParsesBack(request: Request) throws {
        #expect(try Request.parse(line: Array(request.jsonLine.utf8)) == request)
    }

    @Test func jsonLinesAreTheContractsBytes() {
        #expect(Request.redeem(pupil: "P0000042", lane: "till-2").jsonLine == #"{"cmd":"redeem","pupil":"P0000042","lane":"till-2"}"#)
        #expect(Request.charge(pupil: "P0000042", amount: 235, txn: "till2-000981", lane: "till-2").jsonLine
            == #"{"cmd":"charge","pupil":"P0000042","amount":235,"txn":"till2-000981","lane":"till-2"}"#)
        #expect(Request.charge(pupil: "P0000042", amount: 235, txn: "till2-000981", lane: nil).jsonLine
            == #"{"cmd":"charge","pupil":"P0000042","amount":235,"txn":"till2-000981"}"#)
        #expect(Request.refund(txn: "till2-000981").jsonLine == #"{"cmd":"refund","txn":"till2-000981"}"#)
        #expect(Request.refund(txn: "x").command == "refund")
    }

    // MARK: PAYMENT

    static let authorisedCharge = #"{"class":"PAYMENT","seq":57,"time":"2026-11-27T12:03:10.220Z","lane":"till-2","txn":"till2-000981","pupil":"P0000042","kind":"charge","amount":235,"decision":"authorised","spent_today":235,"remaining_today":15,"balance":1265}"#
    static let declinedCharge = #"{"class":"PAYMENT","seq":58,"time":"2026-11-27T12:03:30.004Z","lane":"till-2","txn":"till2-000982","pupil":"P0000042","kind":"charge","amount":400,"decision":"declined","reason":"over_daily_limit","spent_today":235,"remaining_today":15}"#

    @Test func paymentEventsEncodeInTheContractsKeyOrder() {
        let authorised = PaymentEvent(
            seq: 57, time: "2026-11-27T12:03:10.220Z", lane: "till-2", txn: "till2-000981", pupil: "P0000042", kind: .charge,
            amount: 235, decision: .authorised, spentToday: 235, remainingToday: 15, balance: 1265)
        #expect(text(authorised) == Self.authorisedCharge + "\n")
        let declined = PaymentEvent(
            seq: 58, time: "2026-11-27T12:03:30.004Z", lane: "till-2", txn: "till2-000982", pupil: "P0000042", kind: .charge,
            amount: 400, decision: .declined, reason: .overDailyLimit, spentToday: 235, remainingToday: 15)
        #expect(text(declined) == Self.declinedCharge + "\n")
        let refund = PaymentEvent(
            seq: 59, time: "2026-11-27T12:04:00.000Z", txn: "till2-000981", pupil: "P0000042", kind: .refund, amount: 235,
            decision: .authorised, spentToday: 0, listStale: true)
        #expect(text(refund) == #"{"class":"PAYMENT","seq":59,"time":"2026-11-27T12:04:00.000Z","txn":"till2-000981","pupil":"P0000042","kind":"refund","amount":235,"decision":"authorised","spent_today":0,"list_stale":true}"# + "\n")
    }

    @Test func paymentEventsDecodeAndReencodeToTheSameBytes() throws {
        for line in [Self.authorisedCharge, Self.declinedCharge] {
            guard case .payment(let payment) = try decoded(line) else {
                Issue.record("expected a PAYMENT from \(line)")
                continue
            }
            #expect(text(payment) == line + "\n")
        }
        guard case .payment(let declined) = try decoded(Self.declinedCharge) else { return }
        #expect(declined.reason == .overDailyLimit)
        #expect(declined.balance == nil)
        #expect(declined.kind == .charge)
    }

    @Test func aPaymentWithoutSeqIsOnlyAnAnswer() throws {
        let unstored = #"{"class":"PAYMENT","time":"2026-11-27T12:03:10.220Z","txn":"t1","pupil":"P1","kind":"charge","amount":5,"decision":"declined","reason":"unavailable"}"#
        #expect(throws: DecodingError.self) { try decoded(unstored) }
        guard case .payment(let payment) = try decoded(unstored, allowingUnstored: true) else {
            Issue.record("expected a PAYMENT")
            return
        }
        #expect(payment.seq == nil)
        #expect(payment.reason == .unavailable)
    }

    @Test func malformedPaymentsThrow() {
        for line in [
            #"{"class":"PAYMENT","seq":1,"time":"t","pupil":"P1","kind":"charge","amount":5,"decision":"authorised"}"#,
            #"{"class":"PAYMENT","seq":1,"time":"t","txn":"t1","pupil":"P1","kind":"charge","amount":"5","decision":"authorised"}"#,
            #"{"class":"PAYMENT","seq":1,"time":"t","txn":"t1","kind":"charge","amount":5,"decision":"authorised"}"#,
        ] {
            #expect(throws: DecodingError.self, "\(line)") { try decoded(line) }
        }
    }

    // MARK: method on TAP and IDENTIFY

    @Test func aManualTapHasNoReaderAndNoCard() throws {
        let manual = TapEvent.manual(
            seq: 44, time: "2026-11-27T12:02:10.500Z", lane: "till-2", decision: .authorised, kind: .lunch, pupil: "P0000042",
            allergens: ["milk"])
        let line = #"{"class":"TAP","seq":44,"time":"2026-11-27T12:02:10.500Z","lane":"till-2","method":"manual","decision":"authorised","kind":"lunch","pupil":"P0000042","allergens":["milk"]}"#
        #expect(text(manual) == line + "\n")
        #expect(manual.isManual)
        guard case .tap(let back) = try decoded(line) else {
            Issue.record("expected a TAP")
            return
        }
        #expect(back == manual)
        #expect(back.card == CardInfo())
        #expect(back.reader == "")
        // Whatever a caller puts in reader and card, a manual tap does not carry them.
        let odd = TapEvent(seq: 45, time: "t", reader: "R", method: .manual, card: CardInfo(isrn: "633597013012345674"),
                           decision: .declined, reason: .unknownPupil, pupil: "P9")
        #expect(text(odd) == #"{"class":"TAP","seq":45,"time":"t","method":"manual","decision":"declined","reason":"unknown_pupil","pupil":"P9"}"# + "\n")
    }

    @Test func aCardTapSaysSoBeforeItsCard() throws {
        let line = #"{"class":"TAP","seq":42,"time":"2026-11-27T12:01:02.123Z","reader":"ACS ACR1252 01 00","lane":"till-1","method":"card","card":{"isrn":"633597013012345674","media":"desfire"},"decision":"declined","reason":"outside_service","pupil":"P0000042"}"#
        let tap = TapEvent(
            seq: 42, time: "2026-11-27T12:01:02.123Z", reader: "ACS ACR1252 01 00", lane: "till-1", method: .card,
            card: CardInfo(isrn: "633597013012345674", media: .desfire), decision: .declined, reason: .outsideService, pupil: "P0000042")
        #expect(text(tap) == line + "\n")
        #expect(try decoded(line) == .tap(tap))
        let identify = #"{"class":"IDENTIFY","seq":43,"time":"t","reader":"K","method":"card","card":{"uid":"04A1B2C3"},"decision":"declined","reason":"card_blocked"}"#
        guard case .tap(let kiosk) = try decoded(identify) else {
            Issue.record("expected an IDENTIFY")
            return
        }
        #expect(kiosk.method == .card)
        #expect(kiosk.reason == .cardBlocked)
        #expect(text(kiosk) == identify + "\n")
    }

    @Test func aCardTapStillNeedsItsReaderAndCard() {
        // Only a manual tap may leave them out; a 1.0 tap (no method) and a card tap may not.
        #expect(throws: DecodingError.self) { try decoded(#"{"class":"TAP","seq":1,"time":"t","decision":"authorised"}"#) }
        #expect(throws: DecodingError.self) {
            try decoded(#"{"class":"TAP","seq":1,"time":"t","reader":"R","method":"card","decision":"authorised"}"#)
        }
    }

    @Test func theNewVocabularyIsSpelledAsTheContractSpellsIt() {
        #expect([DeclineReason.unknownPupil, .outsideService, .overDailyLimit, .insufficientFunds, .cardBlocked].map(\.rawValue)
            == ["unknown_pupil", "outside_service", "over_daily_limit", "insufficient_funds", "card_blocked"])
        #expect([TapMethod.card, .manual].map(\.rawValue) == ["card", "manual"])
        #expect([PaymentKind.charge, .refund].map(\.rawValue) == ["charge", "refund"])
        #expect(MessageClass.payment.rawValue == "PAYMENT")
        #expect(ProtocolVersion.minor == 1)
    }

    @Test func aVoidedEventDecodes() throws {
        let line = #"{"class":"VOIDED","seq":61,"time":"2026-11-27T12:05:40.310Z","voided":42,"pupil":"P0000042","lane":"till-1"}"#
        #expect(try decoded(line) == .voided(VoidedEvent(seq: 61, time: "2026-11-27T12:05:40.310Z", voided: 42, pupil: "P0000042", lane: "till-1")))
    }
}

private let identifierRule = "1 to 64 printable characters, no spaces at either end"
private let amountRangeRule = "whole pence from 1 to 100000"
private let amountTypeRule = "whole pence, an integer"

import Foundation
import Glibc
import NECTestSupport
import Testing

// Protocol 1.1's charges and refunds through the real necd: a real SQLite file, a real
// Unix socket, tills as plain socket clients. An extension of the end-to-end suite, so it
// runs serialised with it on the same rig.
extension DaemonEndToEndTests {
    @Test func everyDeclineReasonOfAChargeAndAPaymentOutsideTheLunchWindow() async throws {
        // A lunch window closed all day: it decides lunches, never payments.
        let m = try MoneyFixture(MoneyFixture.closedWindow)
        try await m.start()
        let watch = try m.base.watcher()
        let till = try m.till()
        var answers: [[String: Any]] = []
        func charge(_ pupil: String, _ amount: Int, _ txn: String) throws -> [String: Any] {
            let answer = try till.charge(pupil, amount, txn: txn)
            answers.append(answer)
            return answer
        }
        let payment: [String: Any] = ["class": "PAYMENT", "lane": "till-2", "kind": "charge"]
        func declined(_ txn: String, _ pupil: String, _ amount: Int, _ reason: String, _ more: [String: Any]) -> [String: Any] {
            payment.merging(["txn": txn, "pupil": pupil, "amount": amount, "decision": "declined", "reason": reason]) { $1 }
                .merging(more) { $1 }
        }

        let first = try expectStored(try charge(MoneyFixture.limited, 235, "till2-000981"), equals: payment.merging([
            "txn": "till2-000981", "pupil": MoneyFixture.limited, "amount": 235, "decision": "authorised",
            "spent_today": 235, "remaining_today": 65, "balance": 1265,
        ]) { $1 })
        // 235 + 100 passes the 300p limit.
        try expectStored(try charge(MoneyFixture.limited, 100, "till2-000982"), equals: declined(
            "till2-000982", MoneyFixture.limited, 100, "over_daily_limit",
            ["spent_today": 235, "remaining_today": 65, "balance": 1265]))
        // 201p against a 200p balance; then exactly the balance is authorised.
        try expectStored(try charge(MoneyFixture.poor, 201, "till2-000983"), equals: declined(
            "till2-000983", MoneyFixture.poor, 201, "insufficient_funds", ["spent_today": 0, "balance": 200]))
        try expectStored(try charge(MoneyFixture.poor, 200, "till2-000984"), equals: payment.merging([
            "txn": "till2-000984", "pupil": MoneyFixture.poor, "amount": 200, "decision": "authorised",
            "spent_today": 200, "balance": 0,
        ]) { $1 })
        // Every row of the pupil hotlisted: the account is blocked.
        try expectStored(try charge(MoneyFixture.blocked, 50, "till2-000985"), equals: declined(
            "till2-000985", MoneyFixture.blocked, 50, "hotlisted", ["spent_today": 0, "remaining_today": 300]))
        // No `paid` entitlement; a row that starts in 2099; a row that ended in 2000.
        try expectStored(try charge(MoneyFixture.lunchOnly, 50, "till2-000986"), equals: declined(
            "till2-000986", MoneyFixture.lunchOnly, 50, "not_entitled", ["spent_today": 0]))
        try expectStored(try charge(MoneyFixture.notYet, 50, "till2-000987"), equals: declined(
            "till2-000987", MoneyFixture.notYet, 50, "not_entitled", ["spent_today": 0, "remaining_today": 300]))
        try expectStored(try charge(MoneyFixture.expired, 50, "till2-000988"), equals: declined(
            "till2-000988", MoneyFixture.expired, 50, "not_entitled", ["spent_today": 0, "remaining_today": 300]))
        // A pupil on no row: the PAYMENT names the pupil asked for, and no money.
        try expectStored(try charge("TEST-NOBODY", 50, "till2-000989"), equals: declined(
            "till2-000989", "TEST-NOBODY", 50, "unknown_pupil", [:]))

        // The store cannot be written (another process holds SQLite's write lock):
        // declined `unavailable`, with no seq since nothing could be stored.
        let holder = try await m.base.holdingTheWriteLock()
        let blocked = try till.charge(MoneyFixture.limited, 10, txn: "till2-000990")
        #expect(blocked["seq"] == nil)
        #expect(fields(blocked) == expected(declined("till2-000990", MoneyFixture.limited, 10, "unavailable", [:])))
        holder.stop()
        // The txn was not used up: sent again, the charge is decided afresh.
        try expectStored(try charge(MoneyFixture.limited, 10, "till2-000990"), equals: payment.merging([
            "txn": "till2-000990", "pupil": MoneyFixture.limited, "amount": 10, "decision": "authorised",
            "spent_today": 245, "remaining_today": 55, "balance": 1255,
        ]) { $1 })

        // Every answer that has a seq is the stored event, replayed the same, in seq order.
        #expect(answers.compactMap { $0["seq"] as? Int } == Array(first...(first + 9)))
        let replayed = try m.replay()
        #expect(replayed.map(fields) == answers.map(fields))
        #expect(replayed.map { $0["time"] as? String } == answers.map { $0["time"] as? String })
        // A watcher got each of them once, as it was answered, and not the unstored one.
        #expect(try received(watch).map(fields) == answers.filter { $0["seq"] != nil }.map(fields))
    }

    @Test func whatNecdCannotStoreIsAnsweredToTheTillThatAskedAndSentToNoWatcher() async throws {
        let m = try MoneyFixture()
        try await m.start()
        let watch = try m.base.watcher()
        let till = try m.till()
        let charged = try till.charge(MoneyFixture.limited, 100, txn: "till2-s1")
        let seq = try #require(charged["seq"] as? Int)
        // Another process holds SQLite's write lock: nothing can be stored.
        let holder = try await m.base.holdingTheWriteLock()
        let charge = try till.charge(MoneyFixture.limited, 50, txn: "till2-s2")
        #expect(fields(charge) == expected([
            "class": "PAYMENT", "lane": "till-2", "txn": "till2-s2", "pupil": MoneyFixture.limited, "kind": "charge",
            "amount": 50, "decision": "declined", "reason": "unavailable",
        ]))
        let lunch = try till.redeem(MoneyFixture.lunchOnly)
        #expect(fields(lunch) == expected([
            "class": "TAP", "lane": "till-2", "method": "manual", "decision": "declined", "reason": "unavailable",
            "pupil": MoneyFixture.lunchOnly,
        ]))
        // A refund names its charge's pupil, amount and lane, unstored too.
        let refund = try till.refund("till2-s1")
        #expect(fields(refund) == expected([
            "class": "PAYMENT", "lane": "till-2", "txn": "till2-s1", "pupil": MoneyFixture.limited, "kind": "refund",
            "amount": 100, "decision": "declined", "reason": "unavailable",
        ]))
        #expect([charge, lunch, refund].allSatisfy { $0["seq"] == nil })
        holder.stop()
        // Watchers were sent the stored charge only: what was never stored is the asking
        // till's answer alone, as it is never replayed.
        #expect(try received(watch).map(fields) == [fields(charged)])
        #expect(try m.replay().map(fields) == [fields(charged)])
        // Nothing was used up: the refund, the lunch and the charge are made now.
        #expect(try till.refund("till2-s1")["seq"] as? Int == seq + 1)
        #expect(try till.redeem(MoneyFixture.lunchOnly)["kind"] as? String == "lunch")
        #expect(try till.charge(MoneyFixture.limited, 50, txn: "till2-s2")["spent_today"] as? Int == 50)
    }

    @Test func aRetriedChargeIsTheStoredEventAlsoAfterARestartAndRefundsAreOnce() async throws {
        let m = try MoneyFixture()
        try await m.start()
        var watch = try m.base.watcher()
        var till = try m.till()
        let request = Till.charge(MoneyFixture.limited, 100, txn: "till2-r1")
        try till.socket.send(request)
        let firstLine = try #require(till.socket.readLine(timeout: .seconds(10)))
        let first = try #require(try JSONSerialization.jsonObject(with: Data(firstLine.utf8)) as? [String: Any])
        let seq = try expectStored(first, equals: [
            "class": "PAYMENT", "lane": "till-2", "txn": "till2-r1", "pupil": MoneyFixture.limited, "kind": "charge",
            "amount": 100, "decision": "authorised", "spent_today": 100, "remaining_today": 200, "balance": 1400,
        ])
        // The till lost the answer and sends the same request again: the stored event, byte for byte.
        try till.socket.send(request)
        #expect(till.socket.readLine(timeout: .seconds(10)) == firstLine)
        // Watchers were sent the charge once: a retry is not a new event.
        #expect(try received(watch).compactMap { $0["seq"] as? Int } == [seq])

        // Across a restart (SIGKILL: nothing is flushed on the way out), the same.
        await m.base.killDaemon()
        try await m.start()
        till = try m.till()
        watch = try m.base.watcher()
        try till.socket.send(request)
        #expect(till.socket.readLine(timeout: .seconds(10)) == firstLine)
        #expect(try received(watch).isEmpty)
        // Charged once: 100 spent, not 200 or 300.
        let next = try till.charge(MoneyFixture.limited, 50, txn: "till2-r2")
        try expectStored(next, equals: [
            "class": "PAYMENT", "lane": "till-2", "txn": "till2-r2", "pupil": MoneyFixture.limited, "kind": "charge",
            "amount": 50, "decision": "authorised", "spent_today": 150, "remaining_today": 150, "balance": 1350,
        ])
        #expect(next["seq"] as? Int == seq + 1)

        // The same txn for another amount or another pupil is an ERROR, and the connection stays.
        let reused = #"{"class":"ERROR","message":"charge: txn was already used for a charge of another pupil or amount (event \#(seq)); use a new txn for a new charge"}"#
        try till.socket.send(Till.charge(MoneyFixture.limited, 101, txn: "till2-r1"))
        #expect(till.socket.readLine(timeout: .seconds(10)) == reused)
        try till.socket.send(Till.charge(MoneyFixture.racer, 100, txn: "till2-r1"))
        #expect(till.socket.readLine(timeout: .seconds(10)) == reused)

        // A refund: the charge's amount, pupil and lane back.
        let refund = try till.refund("till2-r1")
        try expectStored(refund, equals: [
            "class": "PAYMENT", "lane": "till-2", "txn": "till2-r1", "pupil": MoneyFixture.limited, "kind": "refund",
            "amount": 100, "decision": "authorised", "spent_today": 50, "remaining_today": 250, "balance": 1450,
        ])
        #expect(refund["seq"] as? Int == seq + 2)
        // A second refund of it, a refund of no charge, and of a declined charge: ERRORs.
        try till.socket.send(#"{"cmd":"refund","txn":"till2-r1"}"#)
        #expect(till.socket.readLine(timeout: .seconds(10))
            == #"{"class":"ERROR","message":"refund: the charge with this txn was already refunded (event \#(seq + 2))"}"#)
        try till.socket.send(#"{"cmd":"refund","txn":"till2-never"}"#)
        #expect(till.socket.readLine(timeout: .seconds(10))
            == #"{"class":"ERROR","message":"refund: no charge has this txn: nothing to refund"}"#)
        let over = try till.charge(MoneyFixture.limited, 251, txn: "till2-r3")
        #expect(over["reason"] as? String == "over_daily_limit")
        try till.socket.send(#"{"cmd":"refund","txn":"till2-r3"}"#)
        #expect(till.socket.readLine(timeout: .seconds(10))
            == #"{"class":"ERROR","message":"refund: the charge with this txn was declined (event \#(seq + 3)): nothing to refund"}"#)
        // The refund gave the limit back: 50 + 250 is exactly 300.
        let upToLimit = try till.charge(MoneyFixture.limited, 250, txn: "till2-r4")
        #expect(upToLimit["spent_today"] as? Int == 300)
        #expect(upToLimit["remaining_today"] as? Int == 0)
        #expect(upToLimit["seq"] as? Int == seq + 4)
        // Nothing else was stored: the replay is these five events.
        #expect(try m.replay(after: seq - 1).compactMap { $0["seq"] as? Int } == Array(seq...(seq + 4)))
    }

    @Test func badAmountsAndTxnsAreErrorsAndTheConnectionStays() async throws {
        let m = try MoneyFixture()
        try await m.start()
        let till = try m.till()
        let pupil = MoneyFixture.limited
        let amountRule = #"charge: invalid field \"amount\": whole pence from 1 to 100000"#
        let integerRule = #"charge: invalid field \"amount\": whole pence, an integer"#
        let txnRule = #"invalid field \"txn\": 1 to 64 printable characters, no spaces at either end"#
        let cases: [(request: String, message: String)] = [
            (#"{"cmd":"charge","pupil":"\#(pupil)","amount":0,"txn":"b-1"}"#, amountRule),
            (#"{"cmd":"charge","pupil":"\#(pupil)","amount":100001,"txn":"b-2"}"#, amountRule),
            (#"{"cmd":"charge","pupil":"\#(pupil)","amount":-235,"txn":"b-3"}"#, amountRule),
            (#"{"cmd":"charge","pupil":"\#(pupil)","amount":1.5,"txn":"b-4"}"#, integerRule),
            (#"{"cmd":"charge","pupil":"\#(pupil)","amount":"235","txn":"b-5"}"#, integerRule),
            (#"{"cmd":"charge","pupil":"\#(pupil)","txn":"b-6"}"#, #"charge: missing field \"amount\""#),
            (#"{"cmd":"charge","pupil":"\#(pupil)","amount":235,"txn":""}"#, "charge: " + txnRule),
            (#"{"cmd":"charge","pupil":"\#(pupil)","amount":235,"txn":"\#(String(repeating: "x", count: 65))"}"#, "charge: " + txnRule),
            (#"{"cmd":"charge","pupil":"\#(pupil)","amount":235,"txn":"b\u0007-9"}"#, "charge: " + txnRule),
            (#"{"cmd":"charge","pupil":"\#(pupil)","amount":235,"txn":"b-10\n"}"#, "charge: " + txnRule),
            (#"{"cmd":"charge","pupil":"\#(pupil)","amount":235}"#, #"charge: missing field \"txn\""#),
            (#"{"cmd":"refund","txn":""}"#, "refund: " + txnRule),
            (#"{"cmd":"charge","pupil":"\#(pupil)","amount":235,"txn":"b-\u202e11"}"#, "charge: " + txnRule),
            (#"{"cmd":"charge","pupil":"\#(pupil)","amount":235,"txn":" b-12"}"#, "charge: " + txnRule),
            (#"{"cmd":"refund","txn":"b\u001b[2J"}"#, "refund: " + txnRule),
            (#"{"cmd":"refund","txn":"\#(String(repeating: "y", count: 65))"}"#, "refund: " + txnRule),
        ]
        for (request, message) in cases {
            try till.socket.send(request)
            #expect(till.socket.readLine(timeout: .seconds(10)) == #"{"class":"ERROR","message":"\#(message)"}"#, "\(request)")
            // The connection stays: the next request is answered.
            try till.socket.send(#"{"cmd":"status"}"#)
            #expect(try till.answer()["class"] as? String == "STATUS", "after \(request)")
        }
        // 64 characters is a txn, and 1 and 100000 are amounts: the limits are the contract's.
        let longest = String(repeating: "z", count: 64)
        #expect(try till.charge(MoneyFixture.spender, 100_000, txn: longest)["decision"] as? String == "authorised")
        let past = try till.charge(MoneyFixture.spender, 1, txn: "b-ok")
        #expect(past["reason"] as? String == "over_daily_limit")
        #expect(past["spent_today"] as? Int == 100_000)
        // Nothing before them was stored.
        #expect(try m.replay().compactMap { $0["txn"] as? String } == [longest, "b-ok"])
    }
}

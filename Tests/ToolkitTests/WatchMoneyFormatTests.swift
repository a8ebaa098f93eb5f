import Foundation
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

/// `necctl watch` on the payments and voids a daemon sends that the real-daemon test does
/// not make: a refund that could not be stored, no lane, a stale list, codes this necctl
/// does not know, a void that names nothing; and lines it cannot read, which it skips.
struct WatchMoneyFormatTests {
    static let journal: [(seq: Int64, json: String)] = [
        (1, #"{"class":"PAYMENT","seq":1,"time":"2026-11-27T12:01:02.000Z","txn":"t-9","pupil":"TEST-0042","kind":"refund","amount":235,"decision":"declined","reason":"unavailable"}"#),
        (2, #"{"class":"PAYMENT","seq":2,"time":"2026-11-27T12:01:02.000Z","lane":"till-1","txn":"t-10","pupil":"TEST-0042","kind":"charge","amount":5,"decision":"authorised","spent_today":1205,"list_stale":true}"#),
        (3, #"{"class":"PAYMENT","seq":3,"time":"2026-11-27T12:01:02.000Z","lane":"till-1","txn":"t-11","pupil":"TEST-0042","kind":"charge","amount":100,"decision":"declined","reason":"insufficient_funds","spent_today":0,"balance":40}"#),
        (4, #"{"class":"PAYMENT","seq":4,"amount":"lots"}"#),
        (5, "not json"),
        (6, #"{"class":"PAYMENT","seq":6,"time":"2026-11-27T12:01:02.000Z","lane":"till-1","txn":"t-12","pupil":"TEST-0042","kind":"voucher","amount":50,"decision":"pending"}"#),
        (7, #"{"class":"PAYMENT","seq":7,"time":"2026-11-27T12:01:02.000Z","lane":"till-1","txn":"t-13","pupil":"TEST-0042","kind":"charge","amount":50,"decision":"declined","reason":"card_blocked_by_parent"}"#),
        (8, #"{"class":"VOIDED","seq":8,"time":"2026-11-27T12:01:02.000Z"}"#),
    ]

    @Test func everyPaymentAndVoidInWordsAndTheBadLinesSkipped() async throws {
        let backend = RawLineJournal(Self.journal)
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { _, socket in
                let watch = try ChildProcess(BuiltProducts.necctl, ["watch", "--since", "0", "--socket", socket, "--config", "/dev/null"])
                defer { watch.stop() }
                let lines = await watch.waitForLines(6, timeout: .seconds(15))
                #expect(lines == [
                    "12:01:02        #1  -                     txn t-9               refund of £2.35 declined: could not be recorded (necd's database is unavailable)  pupil *******42",
                    "12:01:02        #2  till-1                txn t-10              charged £0.05  pupil *******42  spent today £12.05  list out of date",
                    "12:01:02        #3  till-1                txn t-11              charge of £1.00 declined: not enough money in the account  pupil *******42  spent today £0.00  balance £0.40",
                    "12:01:02        #6  till-1                txn t-12              voucher of £0.50: pending  pupil *******42",
                    "12:01:02        #7  till-1                txn t-13              charge of £0.50 declined: card blocked by parent  pupil *******42",
                    "12:01:02        #8  -                                           voided: a lunch is released",
                ], "stderr: \(watch.stderr)")
                #expect(watch.isRunning, "a bad line must not end watch: \(watch.stderr)")
            }
        }
    }

    @Test func showCardNumbersShowsThePupilInFull() async throws {
        let backend = RawLineJournal([Self.journal[2]])
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { _, socket in
                let watch = try ChildProcess(
                    BuiltProducts.necctl, ["watch", "--since", "0", "--show-card-numbers", "--socket", socket, "--config", "/dev/null"])
                defer { watch.stop() }
                #expect(await watch.waitForLines(1, timeout: .seconds(15)) == [
                    "12:01:02        #3  till-1                txn t-11                  charge of £1.00 declined: not enough money in the account  pupil TEST-0042  spent today £0.00  balance £0.40",
                ], "stderr: \(watch.stderr)")
            }
        }
    }
}

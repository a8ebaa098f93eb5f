import Foundation
import Glibc
import NECTestSupport
import Testing

// necd killed with SIGKILL the moment a till reads an authorised charge, with other
// charges in flight on other connections: after the restart, every charge a till was told
// about is stored, replayed and counted once. (Many more kills, at random points, are made
// of a store-level child in EntitlementsTests' ChargeCrashTests.)
extension DaemonEndToEndTests {
    @Test func sigkillRightAfterAnAuthorisedChargeLosesNoChargeAndCountsNoneTwice() async throws {
        let m = try MoneyFixture()
        try await m.start()
        // Every line a till was answered with, by txn.
        var answered: [String: String] = [:]
        var probes = 0
        for round in 0..<6 {
            let tills = try (0..<3).map { _ in try m.till() }
            var requests: [String: String] = [:]
            for (i, till) in tills.enumerated() {
                for j in 0..<3 {
                    let txn = "kill-\(round)-\(i)-\(j)"
                    let request = Till.charge(MoneyFixture.spender, 1 + (round * 31 + i * 7 + j * 3) % 97, txn: txn)
                    requests[txn] = request
                    try till.socket.send(request)
                }
            }
            func record(_ line: String) throws {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let txn = try #require(object["txn"] as? String, "not a PAYMENT: \(line)")
                #expect(object["decision"] as? String == "authorised", "\(line)")
                answered[txn] = line
            }
            // The first answer, then SIGKILL at once: the other charges are in flight.
            let first = try #require(tills[0].socket.readLine(timeout: .seconds(10)), "no answer in round \(round)")
            await m.base.killDaemon()
            try record(first)
            // What else was answered before necd died (then the connections end).
            for till in tills {
                while let line = till.socket.readLine(timeout: .seconds(5)) { try record(line) }
                #expect(till.socket.closedByPeer)
            }

            try await m.start()
            let journal = try m.replay().filter { $0["class"] as? String == "PAYMENT" && $0["kind"] as? String == "charge" }
            let charges = journal.filter { ($0["txn"] as? String)?.hasPrefix("kill-") == true }
            // Every charge a till was told of is there, as it was told; none twice.
            let txns = charges.compactMap { $0["txn"] as? String }
            #expect(Set(txns).count == txns.count, "a txn stored twice: \(txns)")
            let stored = Dictionary(charges.map { ($0["txn"] as? String ?? "", $0) }) { a, _ in a }
            for (txn, line) in answered {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(fields(stored[txn]) == fields(object), "round \(round): \(txn)")
                #expect(stored[txn]?["time"] as? String == object?["time"] as? String, "round \(round): \(txn)")
            }
            // Retries: an answered charge gives its stored line again, byte for byte; one
            // in flight at the kill is the stored event if it was stored, else decided now.
            let retry = try m.till()
            for (txn, request) in requests.sorted(by: { $0.key < $1.key }) {
                try retry.socket.send(request)
                let line = try #require(retry.socket.readLine(timeout: .seconds(10)), "no answer to the retry of \(txn)")
                if let told = answered[txn] {
                    #expect(line == told, "round \(round): the retry of \(txn)")
                } else {
                    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    #expect(object?["decision"] as? String == "authorised", "\(line)")
                    if let before = stored[txn] { #expect(fields(object) == fields(before), "round \(round): \(txn)") }
                    answered[txn] = line
                }
            }
            // Each charge counts once toward the day's spending: a charge of the whole limit
            // is declined and says what was spent.
            let total = answered.values.compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["amount"] as? Int
            }.reduce(0, +)
            probes += 1
            let probe = try retry.charge(MoneyFixture.spender, 100_000, txn: "probe-\(probes)")
            #expect(probe["reason"] as? String == "over_daily_limit", "\(fields(probe))")
            #expect(probe["spent_today"] as? Int == total, "round \(round)")
            #expect(probe["balance"] as? Int == 1_000_000 - total, "round \(round)")
        }
        #expect(answered.count == 6 * 9)
    }
}

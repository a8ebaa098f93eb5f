import Foundation
import GRDB
import NECTestSupport
import Testing
@testable import Entitlements

/// Two child processes charge, retry and refund for the same pupils at once and are
/// killed with SIGKILL at random moments, over a hundred times. After each kill the store
/// is opened as a restarted necd would open it: every charge or refund a child was
/// answered is stored as answered, a retry of it returns the stored event, no charge is
/// counted twice, and the daily limit was never passed. Runs `necd-store-torture`.
@Suite(.serialized) struct ChargeCrashTests {
    static let torture = Fixture.builtExecutable("necd-store-torture")
    /// Noon UTC on 2026-11-23, the torture child's first day.
    static let baseTime = Date(timeIntervalSince1970: 1_795_435_200)
    static let pupils = (1...6).map(Fixture.pupil)
    static let dailyLimit = 1500
    static let balance = 1_000_000

    /// What a child said it was answered.
    struct Told {
        var charges: [String: (pupil: String, amount: Int, seq: Int64, authorised: Bool, day: Int)] = [:]
        var refunds: [String: Int64] = [:]
    }

    @Test(.needs("needs necd-store-torture built next to the tests (swift build --build-tests)") { torture != nil })
    func sigkillAtRandomPointsNeverLosesOrDoublesACharge() throws {
        let exe = try #require(Self.torture)
        var list = "card,pupil,entitlement,daily_limit,balance\n"
        for (n, pupil) in Self.pupils.enumerated() {
            list += "\(Fixture.isrn(n + 1)),\(pupil),paid,\(Self.dailyLimit),\(Self.balance)\n"
        }
        let (store, dir) = try Fixture.store(list: list, at: Self.baseTime.addingTimeInterval(-3600))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        Fixture.write(Self.pupils.joined(separator: "\n"), to: dir + "/pupils")
        var rng = SystemRandomNumberGenerator()
        var told = Told()
        var killed = 0
        var round = 0
        while killed < 100 {
            round += 1
            try #require(round <= 200, "the children kept exiting before they were killed")
            let day = round % 4
            let outputs = (0..<2).map { "\(dir)/round-\(round)-\($0)" }
            let children = try outputs.enumerated().map { k, output in
                try spawn(exe, ["charge-loop", store.path, dir + "/pupils", "100000", "r\(round)c\(k)", String(day)], stdout: output)
            }
            // Kill once the children have made a few charges, at a random point in the next
            // one (the pause only picks the moment; nothing waits on it).
            let wanted = Int.random(in: 1...6, using: &rng)
            let progressed = waitUntil(timeout: 30) {
                outputs.contains { lines(of: $0).count >= wanted } || children.contains { !$0.isRunning }
            }
            #expect(progressed, "no child answered within 30 s")
            // Pacing, not a wait: the kill lands at a random moment after that answer.
            usleep(UInt32.random(in: 0...3000, using: &rng))
            for child in children where child.isRunning {
                kill(child.processIdentifier, SIGKILL)
                killed += 1
            }
            for (child, output) in zip(children, outputs) {
                child.waitUntilExit()
                if child.terminationReason == .exit {
                    let said = (try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? ""
                    #expect(child.terminationStatus == 0, "the child failed: \(said)")
                }
            }
            let said = outputs.flatMap(lines(of:))
            try record(said, day: day, into: &told)
            // Opened again, as necd does after a crash.
            let reopened = try EntitlementStore(path: store.path)
            try check(reopened, told)
            try retry(reopened, said, told, day: day)
        }
        #expect(killed >= 100)
        #expect(told.charges.values.contains { $0.authorised } && told.charges.values.contains { !$0.authorised })
        #expect(!told.refunds.isEmpty)
    }

    /// Starts `path` with standard output (and standard error, with `.err`) to files.
    func spawn(_ path: String, _ args: [String], stdout: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        guard FileManager.default.createFile(atPath: stdout, contents: nil),
              FileManager.default.createFile(atPath: stdout + ".err", contents: nil)
        else { throw CocoaError(.fileWriteUnknown) }
        p.standardOutput = FileHandle(forWritingAtPath: stdout)
        p.standardError = FileHandle(forWritingAtPath: stdout + ".err")
        try p.run()
        return p
    }

    /// The complete lines of the file at `path` (a line being written is left out).
    func lines(of path: String) -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()
        return lines
    }

    func waitUntil(timeout: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { return false }
            usleep(1000)
        }
        return true
    }

    /// Adds what the children said to `told`; a line that is not one of theirs fails the test.
    func record(_ said: [String], day: Int, into told: inout Told) throws {
        for line in said {
            let f = line.split(separator: " ").map(String.init)
            switch f.first {
            case "charge" where f.count == 6:
                let seq = try #require(Int64(f[4]))
                #expect(told.charges[f[1]] == nil, "txn \(f[1]) answered twice as new")
                told.charges[f[1]] = (f[2], try #require(Int(f[3])), seq, f[5] == "authorised", day)
            case "retry" where f.count == 6:
                let first = try #require(told.charges[f[1]], "a retry of a charge never answered: \(line)")
                #expect(Int64(f[4]) == first.seq, "a retry got another event: \(line)")
                #expect((f[5] == "authorised") == first.authorised, "\(line)")
            case "refund" where f.count == 3:
                #expect(told.refunds[f[1]] == nil, "txn \(f[1]) refunded twice")
                let seq = try #require(Int64(f[2]))
                told.refunds[f[1]] = seq
            default:
                Issue.record("not a line of the child's: \(line)")
            }
        }
    }

    /// What is stored agrees with everything the children were told, and with itself.
    func check(_ store: EntitlementStore, _ told: Told) throws {
        let rows = try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT txn, pupil, amount, authorised, day, seq, refund_seq FROM payment")
        }
        var payments: [String: Row] = [:]
        for row in rows { payments[row["txn"]] = row }
        // Every answered charge and refund is there, as answered.
        for (txn, charge) in told.charges {
            let row = try #require(payments[txn], "the answered charge \(txn) is lost")
            #expect(row["pupil"] == charge.pupil && row["amount"] == charge.amount, "\(txn)")
            #expect(row["seq"] == charge.seq && row["authorised"] == charge.authorised, "\(txn)")
        }
        for (txn, refundSeq) in told.refunds {
            #expect(payments[txn]?["refund_seq"] == refundSeq, "the answered refund of \(txn) is lost")
        }
        // The journal: one charge event per txn, each the payment row's; and, in seq
        // order, each event's day total and balance are those of the events before it.
        let events = try store.events(after: 0, limit: 1_000_000).filter { $0.eventClass == .payment }
        var chargeEvents: [String: Int64] = [:]
        var spent: [String: Int] = [:]
        var balance: [String: Int] = [:]
        for event in events {
            let payment = try #require(event.payment)
            let pupil = try #require(event.pupil)
            let day = Fixture.policy.localDate(of: event.time).daysSinceUnixEpoch
            let key = "\(pupil)/\(day)"
            let seq = try #require(event.seq)
            switch payment.kind {
            case .charge:
                #expect(chargeEvents[payment.txn] == nil, "txn \(payment.txn) charged twice")
                chargeEvents[payment.txn] = seq
                #expect(payments[payment.txn]?["seq"] == seq, "event \(seq) has no payment row")
                if event.decision == .authorised {
                    spent[key, default: 0] += payment.amount
                    balance[pupil, default: Self.balance] -= payment.amount
                }
            case .refund:
                #expect(payments[payment.txn]?["refund_seq"] == seq, "refund event \(seq) is not its charge's")
                spent[key, default: 0] -= payment.amount
                balance[pupil, default: Self.balance] += payment.amount
            }
            #expect(payment.spentToday == spent[key, default: 0], "event \(seq): spent_today")
            #expect(payment.remainingToday == max(0, Self.dailyLimit - spent[key, default: 0]), "event \(seq): remaining_today")
            #expect(payment.balance == balance[pupil, default: Self.balance], "event \(seq): balance")
            #expect(spent[key, default: 0] <= Self.dailyLimit, "the daily limit was passed at event \(seq)")
        }
        #expect(chargeEvents.count == payments.count)
    }

    /// Sent again after the restart, each charge the children were told of this round is
    /// the stored event and charges nothing; each refund is refused as made already.
    func retry(_ store: EntitlementStore, _ said: [String], _ told: Told, day: Int) throws {
        let at = Self.baseTime.addingTimeInterval(Double(day) * 86_400 + 3600)
        for line in said {
            let f = line.split(separator: " ").map(String.init)
            let txn = f[1]
            if f[0] == "refund" {
                #expect(throws: ServiceRequestError.alreadyRefunded(refundSeq: told.refunds[txn] ?? -1)) {
                    try store.refund(txn: txn, peerUID: 0, at: at, policy: Fixture.policy)
                }
            } else if let charge = told.charges[txn] {
                let again = try store.charge(
                    pupil: charge.pupil, amount: charge.amount, txn: txn, lane: nil, peerUID: 0, at: at, policy: Fixture.policy)
                #expect(again.isRetry && again.event.seq == charge.seq, "the retry of \(txn)")
            }
        }
    }
}

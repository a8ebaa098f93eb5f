// A child process for the Entitlements tests (not installed): records decisions in a
// loop so a test can kill it with SIGKILL at random moments, and fills a disk under a
// store to show that a full disk declines `unavailable` and loses nothing stored.
//
//   necd-store-torture redeem-loop DB CARDS N      decide N taps on cards from CARDS (one per line)
//   necd-store-torture disk-full DIR LIST          import LIST into DIR (a small tmpfs), fill DIR, report
//   necd-store-torture decide-latency DB CARDS N|STOPFILE GAP_MS
//                                                  decide taps GAP_MS apart, N of them or until STOPFILE
//                                                  exists; print their count and p50/p99/max in ms
//   necd-store-torture charge-loop DB PUPILS N RUN DAY
//                                                  N charges, retries and refunds for pupils from PUPILS
//                                                  (one per line), txns named RUN-i, on day DAY after
//                                                  2026-11-23; one line on standard output per answer
import Entitlements
import Foundation
import NECCard
import ProtocolMapping

/// Noon UTC on 2026-11-23 (a Monday): taps spread over three days from there.
let baseTime = Date(timeIntervalSince1970: 1_795_435_200)

func fail(_ message: String) -> Never {
    // write(contentsOf:) throws; write(_:) is a fatal error when standard error is a closed pipe.
    try? FileHandle.standardError.write(contentsOf: Data((message + "\n").utf8))
    exit(2)
}

/// An event as a client would read it, for a failure's message.
func wireText(_ event: StoredEvent) -> String {
    String(decoding: event.protocolLine.dropLast(), as: UTF8.self)
}

/// The identity of a card from the generated list; a card that is not one is a broken fixture.
func identity(_ card: String) -> CardIdentity {
    do { return try CardReference.identity(card) } catch { fail("not a card: \(card): \(error)") }
}

func cards(at path: String) -> [String] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path)") }
    return text.split(whereSeparator: \.isNewline).map(String.init)
}

func redeemLoop(db: String, cardsFile: String, count: Int) {
    let cards = cards(at: cardsFile)
    guard !cards.isEmpty, let store = try? EntitlementStore(path: db) else { fail("cannot open \(db)") }
    let policy = DecisionPolicy()
    var rng = SystemRandomNumberGenerator()
    for i in 0..<count {
        let card = cards.randomElement(using: &rng)!
        guard let identity = try? CardReference.identity(card) else { fail("bad card \(card)") }
        let at = baseTime.addingTimeInterval(Double(Int.random(in: 0..<3, using: &rng)) * 86_400 + Double(i % 1000))
        let event = store.decide(identity, reader: "Torture Reader 00 00", lane: "till-\(i % 2)", role: .till, at: at, policy: policy)
        if event.seq == nil { fail("decision not stored") }
    }
}

func diskFull(dir: String, list: String) {
    // Filling a real disk would hurt: only ever fill a small file system (a test tmpfs).
    var fs = statvfs()
    guard statvfs(dir, &fs) == 0, UInt64(fs.f_blocks) * UInt64(fs.f_frsize) <= 64 << 20 else {
        fail("\(dir) is not a small file system (at most 64 MiB): refusing to fill it")
    }
    let db = dir + "/necd.sqlite"
    let policy = DecisionPolicy()
    guard let store = try? EntitlementStore(path: db) else { fail("cannot open \(db)") }
    let now = baseTime
    do {
        try store.importList(path: list, at: now)
    } catch {
        fail("import: \(error)")
    }
    let cards = cards(at: list).dropFirst().map { String($0.prefix { $0 != "," }) }.filter { $0.count == 18 }
    var stored: [Int64] = []
    // Half the pupils get a lunch while there is room.
    let half = cards.count / 2
    for card in cards[..<half] {
        let e = store.decide(identity(card), reader: "R", lane: nil, role: .till, at: now, policy: policy)
        guard e.isLunchStored else { fail("lunch before the disk filled: \(wireText(e))") }
        stored.append(e.seq!)
    }
    do { try store.checkpoint() } catch { fail("checkpoint: \(error)") }
    // Fill the file system to the last byte.
    let filler = dir + "/filler"
    let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    var chunk = 1 << 16
    let zeros = [UInt8](repeating: 0, count: chunk)
    while chunk > 0 {
        if write(fd, zeros, chunk) < 0 { chunk /= 2 }
    }
    close(fd)
    var authorised = 0
    var unavailable = 0
    var unstored = 0
    var firstRefused: String?
    for card in cards[half...] {
        let e = store.decide(identity(card), reader: "R", lane: nil, role: .till, at: now, policy: policy)
        if e.isLunchStored {
            authorised += 1
            stored.append(e.seq!)
        } else if e.reason == .unavailable {
            unavailable += 1
            if e.seq == nil { unstored += 1 }
            if firstRefused == nil { firstRefused = card }
        } else {
            fail("unexpected decision on a full disk: \(wireText(e))")
        }
    }
    unlink(filler)
    // Reopen: everything acknowledged must be there.
    guard let reopened = try? EntitlementStore(path: db),
          let events = try? reopened.events(after: 0, limit: 100_000)
    else { fail("cannot reopen") }
    let lunchSeqs = Set(events.filter { $0.verdict.isLunch }.compactMap(\.seq))
    let lost = stored.filter { !lunchSeqs.contains($0) }.count
    var recovered = "none"
    if let firstRefused {
        let e = reopened.decide(identity(firstRefused), reader: "R", lane: nil, role: .till, at: now, policy: policy)
        recovered = e.isLunchStored ? "lunch" : (e.reason?.rawValue ?? "?")
    }
    print("before=\(half) authorised=\(authorised) unavailable=\(unavailable) unstored=\(unstored) lost=\(lost) recovered=\(recovered)")
}

/// Taps as a till makes them, one every `gapMillis`, each timed from before `decide` to
/// its return (the redemption and event committed): what a tap waits for the store.
func decideLatency(db: String, cardsFile: String, until: String, gapMillis: Int) {
    let cards = cards(at: cardsFile)
    guard !cards.isEmpty, let store = try? EntitlementStore(path: db) else { fail("cannot open \(db)") }
    let identities = cards.map(identity)
    let policy = DecisionPolicy()
    let count = Int(until)
    var samples: [Double] = []
    var unavailable = 0
    var i = 0
    func millisNow() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) * 1000 + Double(t.tv_nsec) / 1e6
    }
    while count.map({ i < $0 }) ?? !FileManager.default.fileExists(atPath: until) {
        let start = millisNow()
        let e = store.decide(identities[i % identities.count], reader: "Bench Reader 00 00", lane: "till-1", role: .till, at: Date(), policy: policy)
        samples.append(millisNow() - start)
        if e.verdict.reason == .unavailable { unavailable += 1 }
        i += 1
        // Pacing, as taps at a till are: not synchronisation.
        usleep(UInt32(gapMillis * 1000))
    }
    samples.sort()
    func percentile(_ p: Double) -> String {
        samples.isEmpty ? "-" : String(format: "%.2f", samples[min(samples.count - 1, Int(Double(samples.count) * p))])
    }
    print("taps=\(samples.count) unavailable=\(unavailable) p50=\(percentile(0.5)) p99=\(percentile(0.99)) max=\(percentile(1))")
}

/// Charges (amounts 1-300p), with now and then a retry of an earlier charge of this run
/// or a refund of one, as tills make them; killed at random moments by the test. Each
/// answer is written to standard output in one write, after the store returned it (so
/// committed): `charge TXN PUPIL AMOUNT SEQ DECISION`, `retry TXN PUPIL AMOUNT SEQ DECISION`
/// or `refund TXN SEQ`. A refused request is a bug here (exit 2).
func chargeLoop(db: String, pupilsFile: String, count: Int, run: String, day: Int) {
    let pupils = cards(at: pupilsFile)
    guard !pupils.isEmpty, let store = try? EntitlementStore(path: db) else { fail("cannot open \(db)") }
    let policy = DecisionPolicy()
    var rng = SystemRandomNumberGenerator()
    var charged: [(txn: String, pupil: String, amount: Int, authorised: Bool)] = []
    var refunded: Set<String> = []
    let dayStart = baseTime.addingTimeInterval(Double(day) * 86_400)
    func say(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        guard write(1, bytes, bytes.count) == bytes.count else { fail("cannot write to standard output") }
    }
    for i in 0..<count {
        let at = dayStart.addingTimeInterval(Double(i) / 1000)
        let roll = Int.random(in: 0..<10, using: &rng)
        let refundable = charged.filter { $0.authorised && !refunded.contains($0.txn) }
        do {
            if roll == 0, let earlier = charged.randomElement(using: &rng) {
                let outcome = try store.charge(
                    pupil: earlier.pupil, amount: earlier.amount, txn: earlier.txn, lane: "till-\(i % 2)", peerUID: 0,
                    at: at, policy: policy)
                guard outcome.isRetry, let seq = outcome.event.seq else { fail("a retry was decided again: \(wireText(outcome.event))") }
                say("retry \(earlier.txn) \(earlier.pupil) \(earlier.amount) \(seq) \(outcome.event.decision.rawValue)")
            } else if roll == 1, let charge = refundable.randomElement(using: &rng) {
                let outcome = try store.refund(txn: charge.txn, peerUID: 0, at: at, policy: policy)
                guard outcome.event.decision == .authorised, let seq = outcome.event.seq else {
                    fail("refund not stored: \(wireText(outcome.event))")
                }
                refunded.insert(charge.txn)
                say("refund \(charge.txn) \(seq)")
            } else {
                let txn = "\(run)-\(i)"
                let pupil = pupils.randomElement(using: &rng)!
                let amount = Int.random(in: 1...300, using: &rng)
                let outcome = try store.charge(
                    pupil: pupil, amount: amount, txn: txn, lane: "till-\(i % 2)", peerUID: 0, at: at, policy: policy)
                guard let seq = outcome.event.seq, outcome.event.reason != .unavailable else {
                    fail("charge not stored: \(wireText(outcome.event))")
                }
                charged.append((txn, pupil, amount, outcome.event.decision == .authorised))
                say("charge \(txn) \(pupil) \(amount) \(seq) \(outcome.event.decision.rawValue)")
            }
        } catch {
            fail("refused: \(error)")
        }
    }
}

extension StoredEvent {
    var isLunchStored: Bool { seq != nil && verdict.isLunch }
}

let args = CommandLine.arguments
switch args.count > 1 ? args[1] : "" {
case "redeem-loop" where args.count == 5:
    redeemLoop(db: args[2], cardsFile: args[3], count: Int(args[4]) ?? 1000)
case "disk-full" where args.count == 4:
    diskFull(dir: args[2], list: args[3])
case "decide-latency" where args.count == 6:
    decideLatency(db: args[2], cardsFile: args[3], until: args[4], gapMillis: Int(args[5]) ?? 5)
case "charge-loop" where args.count == 7:
    chargeLoop(db: args[2], pupilsFile: args[3], count: Int(args[4]) ?? 1000, run: args[5], day: Int(args[6]) ?? 0)
default:
    fail("""
        usage: necd-store-torture redeem-loop DB CARDS N | disk-full DIR LIST | decide-latency DB CARDS N|STOPFILE GAP_MS
               | charge-loop DB PUPILS N RUN DAY
        """)
}

// Decision latency with a 1M-row list indexed by card and by pupil: a card's decision
// with the redemption and its event committed (synchronous = FULL) on every iteration,
// the lookup alone, and manual service (`redeem`, by pupil, through list_pupil)
// committed the same way.
//
// The database comes from NECD_BENCH_DB (default /tmp/necd-bench/decide.sqlite); when
// it holds no list, the list at NECD_BENCH_LIST (default
// /tmp/necd-bench/list-1000000-pupils.csv, from
// `scripts/gen-list 1000000 --second-cards 0.3 --balance`) is imported first.
// NECD_BENCH_PUPILS is how many pupils that list has (TEST-0000001 on; default 769173,
// gen-list's count for that list). scripts/bench-decide does all of it.
import Benchmark
import Entitlements
import Foundation
import NECCard

/// The ISRN scripts/gen-list writes on row `i` (when that row is an ISRN row).
func isrn(row i: Int) -> ISRN {
    let body = "633597" + String(format: "%04d%07d", 9000 + i % 1000, i / 1000)
    let check = Luhn.checkDigit(for: body.utf8.map { $0 - 48 })
    return ISRN(unchecked: body + String(check))
}

func openStore() -> EntitlementStore {
    let env = ProcessInfo.processInfo.environment
    let db = env["NECD_BENCH_DB"] ?? "/tmp/necd-bench/decide.sqlite"
    let list = env["NECD_BENCH_LIST"] ?? "/tmp/necd-bench/list-1000000-pupils.csv"
    try? FileManager.default.createDirectory(
        atPath: (db as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    do {
        let store = try EntitlementStore(path: db)
        if try store.listStatus() == nil {
            try store.importList(path: list)
        }
        return store
    } catch {
        fatalError("cannot prepare \(db) from \(list): \(error)")
    }
}

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .peakMemoryResident, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 20,
        maxDuration: .seconds(30),
        maxIterations: 5_000
    )

    Benchmark("Decision, 1M-row list, lunch committed", configuration: configuration) { benchmark in
        let store = openStore()
        let policy = DecisionPolicy()
        // A different pupil every iteration, on a day no earlier run used, so most taps
        // redeem a lunch (the slowest path: event and redemption written and fsynced).
        let day = Date().addingTimeInterval(Double.random(in: 0..<3650) * 86_400)
        var i = Int.random(in: 0..<900_000)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            i += 1
            let identity = CardIdentity(media: .desfire, isrn: isrn(row: i))
            blackHole(store.decide(identity, reader: "Bench Reader 00 00", lane: "till-1", role: .till, at: day, policy: policy))
        }
        benchmark.stopMeasurement()
    }

    Benchmark("Manual service by pupil, 1M-row list, lunch committed", configuration: configuration) { benchmark in
        let store = openStore()
        let policy = DecisionPolicy()
        let pupils = Int(ProcessInfo.processInfo.environment["NECD_BENCH_PUPILS"] ?? "") ?? 769_173
        // As for the card: a different pupil each time, on a day no earlier run used.
        let day = Date().addingTimeInterval(Double.random(in: 0..<3650) * 86_400)
        var p = Int.random(in: 1..<max(2, pupils - 10_000))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            p = p % pupils + 1
            blackHole(try? store.redeem(
                pupil: String(format: "TEST-%07d", p), lane: "till-1", peerUID: 1000, at: day, policy: policy))
        }
        benchmark.stopMeasurement()
    }

    Benchmark("Lookup, 1M-row list (nothing written)", configuration: configuration) { benchmark in
        let store = openStore()
        let policy = DecisionPolicy()
        var i = Int.random(in: 0..<900_000)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            i += 1
            blackHole(try? store.lookup(CardIdentity(media: .desfire, isrn: isrn(row: i)), at: Date(), policy: policy))
        }
        benchmark.stopMeasurement()
    }
}

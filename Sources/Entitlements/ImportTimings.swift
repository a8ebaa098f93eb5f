#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where an import's time goes, phase by phase: wall time and the process's CPU time,
/// and how long the import left the write lock free for taps. Printed on standard error
/// at the end of `importList` when the environment has `NECD_IMPORT_TIMINGS=1`
/// (`scripts/bench-import` sets it for one run), so a slow import can be taken apart
/// on the machine where it is slow without a profiler.
struct ImportTimings {
    /// One phase: its name, wall and CPU seconds.
    struct Phase {
        var name: String
        var wall: Double
        var cpu: Double
    }

    /// True when `NECD_IMPORT_TIMINGS=1` is set.
    static let enabled: Bool = {
        guard let value = getenv("NECD_IMPORT_TIMINGS") else { return false }
        return String(cString: value) == "1"
    }()

    private(set) var phases: [Phase] = []
    /// Seconds spent in `leaveTheLockFree` pauses, and how many there were.
    var pausedSeconds = 0.0
    var pauses = 0
    /// Of `pausedSeconds`, the time slept (the rest was work done while the lock was free).
    var sleptSeconds = 0.0
    /// Seconds inside write transactions (the lock held), and how many there were.
    var lockedSeconds = 0.0
    var transactions = 0
    private var wallStart: Double
    private var cpuStart: Double

    init() {
        wallStart = Self.clock(CLOCK_MONOTONIC)
        cpuStart = Self.clock(CLOCK_PROCESS_CPUTIME_ID)
    }

    static func clock(_ id: clockid_t) -> Double {
        var t = timespec()
        clock_gettime(id, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// Counts one write transaction that began (waiting for the lock included) at
    /// `began` and committed at `committed` (monotonic nanoseconds), and the lock left
    /// free since, `sleptMicros` of it asleep (the rest was work done while it was free).
    mutating func transaction(began: UInt64, committed: UInt64, sleptMicros: UInt64) {
        lockedSeconds += Double(committed - began) / 1e9
        transactions += 1
        sleptSeconds += Double(sleptMicros) / 1e6
        pausedSeconds += Double(WriteBudget.nanos() - committed) / 1e9
        pauses += 1
    }

    /// Ends the phase running since the last call (or since `init`), naming it.
    mutating func end(_ name: String) {
        let wall = Self.clock(CLOCK_MONOTONIC)
        let cpu = Self.clock(CLOCK_PROCESS_CPUTIME_ID)
        phases.append(Phase(name: name, wall: wall - wallStart, cpu: cpu - cpuStart))
        wallStart = wall
        cpuStart = cpu
    }

    /// The breakdown, one phase a line, then the totals and the lock's share.
    func report(rows: Int) -> String {
        func f(_ x: Double) -> String {
            let ms = Int((x * 1000).rounded())
            let s = "\(ms / 1000).\(String(ms % 1000 + 1000).dropFirst())"
            return String(repeating: " ", count: max(0, 8 - s.count)) + s
        }
        func pad(_ s: String) -> String { s + String(repeating: " ", count: max(0, 36 - s.count)) }
        var lines = ["\(pad("import timings (\(rows) rows)"))  wall s    CPU s"]
        for p in phases { lines.append("\(pad(p.name))\(f(p.wall)) \(f(p.cpu))") }
        let wall = phases.reduce(0) { $0 + $1.wall }
        let cpu = phases.reduce(0) { $0 + $1.cpu }
        lines.append("\(pad("total"))\(f(wall)) \(f(cpu))")
        lines.append("write lock held \(f(lockedSeconds).trimmingASCIISpaces()) s in \(transactions) transactions; left free \(f(pausedSeconds).trimmingASCIISpaces()) s in \(pauses) pauses, \(f(sleptSeconds).trimmingASCIISpaces()) s of them asleep")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes `report(rows:)` to standard error (best effort).
    func print(rows: Int) {
        let text = report(rows: rows)
        var bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            done += n
        }
    }
}

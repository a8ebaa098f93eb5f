import Foundation
import Synchronization

/// How a tap waits for SQLite's write lock when another connection holds it (an import's
/// short transaction, a void, a prune, another process).
///
/// SQLite's own busy timeout sleeps 1, 2, 5, 10, 15, 20 ... ms between tries, so a tap
/// that finds the lock taken for a moment waits 1 to 18 ms for a lock free again after a
/// fraction of a millisecond. This polls every 0.1 ms for the first 5 ms, then every
/// millisecond, and gives up after ``EntitlementStore/tapBusyTimeout`` of sleeping in all.
/// Each retry is announced to an import in another process (`WriteWaiterSignal`), which
/// then ends its transaction and leaves the lock free.
///
/// The store's other connection waits the same way, with a longer limit
/// (``EntitlementStore/busyTimeout``), so its writes (pruning, checkpoints) are announced
/// too.
final class TapLockWait: Sendable {
    /// Polls at the short interval before the long one.
    static let shortPolls = 50
    static let shortMicros: UInt32 = 100
    static let longMicros: UInt32 = 1000

    private let defaultLimitMicros: UInt64
    private let limitMicros: Atomic<UInt64>
    private let waiting = Atomic<Bool>(true)
    private let signal: WriteWaiterSignal?

    /// - Parameters:
    ///   - limit: the most time to spend asleep waiting, in seconds.
    ///   - signal: where each retry is announced, if anywhere.
    init(limit: Double, signal: WriteWaiterSignal? = nil) {
        defaultLimitMicros = UInt64(limit * 1_000_000)
        limitMicros = Atomic(defaultLimitMicros)
        self.signal = signal
    }

    /// Runs `body` waiting up to `limit` seconds (instead of the usual limit) for the lock.
    /// For the one connection this waits for, whose work is serial: nothing else runs
    /// on it meanwhile.
    func waiting<T>(upTo limit: Double, _ body: () throws -> T) rethrows -> T {
        limitMicros.store(UInt64(limit * 1_000_000), ordering: .relaxed)
        defer { limitMicros.store(defaultLimitMicros, ordering: .relaxed) }
        return try body()
    }

    /// Whether to try again after `tries` failed tries (SQLite's busy handler contract),
    /// sleeping first when so.
    func retry(afterTries tries: Int) -> Bool {
        guard waiting.load(ordering: .relaxed) else { return false }
        let micros = TapLockWait.sleptBefore(tries: tries)
        guard micros < limitMicros.load(ordering: .relaxed) else { return false }
        signal?.announce(first: tries == 0)
        usleep(tries < TapLockWait.shortPolls ? TapLockWait.shortMicros : TapLockWait.longMicros)
        return true
    }

    /// Runs `body` without waiting for the lock at all (a busy lock fails at once).
    func withoutWaiting<T>(_ body: () throws -> T) rethrows -> T {
        waiting.store(false, ordering: .relaxed)
        defer { waiting.store(true, ordering: .relaxed) }
        return try body()
    }

    /// Microseconds slept before try number `tries`.
    static func sleptBefore(tries: Int) -> UInt64 {
        let short = min(tries, shortPolls)
        let long = max(0, tries - shortPolls)
        return UInt64(short) * UInt64(shortMicros) + UInt64(long) * UInt64(longMicros)
    }
}

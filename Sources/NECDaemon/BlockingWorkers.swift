import Foundation
import Glibc

/// Threads of the daemon's own for work that blocks: SQLite reads and writes, which
/// GRDB runs synchronously. Swift's cooperative pool has one thread per core (two on a
/// till PC); one blocking call there stalls every task, the socket's writers included.
///
/// Jobs run in the order they were submitted, on as many threads as the pool has. A
/// pool can lower its threads' scheduling priority, so that on a busy two-core machine
/// the kernel runs the tap path first.
final class BlockingWorkers: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var stopping = false
    }

    private let condition = NSCondition()
    // Guarded by `condition`; a class box so `Sendable` holds.
    private let state = StateBox()
    let name: String

    private final class StateBox: @unchecked Sendable {
        var value = State()
    }

    /// Starts the threads.
    /// - Parameters:
    ///   - name: the threads' name (shown by `top -H` and in crash reports).
    ///   - threads: how many jobs run at once.
    ///   - niceness: added to each thread's nice value (0 leaves it; 10 yields to normal work).
    init(name: String, threads: Int, niceness: Int32 = 0) {
        self.name = name
        for index in 0..<max(1, threads) {
            let thread = Thread { [self] in
                if niceness != 0 {
                    // Linux keeps the nice value per thread; `who` 0 is the calling thread.
                    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
                }
                work()
            }
            thread.name = threads > 1 ? "\(name)-\(index)" : name
            thread.start()
        }
    }

    /// Queues `job`; it runs on one of the pool's threads. Ignored once the pool stops.
    func submit(_ job: @escaping @Sendable () -> Void) {
        _ = enqueue(job)
    }

    /// Runs `body` on one of the pool's threads and returns what it returns.
    func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
            let queued = enqueue {
                do {
                    continuation.resume(returning: try body())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            if !queued { continuation.resume(throwing: Stopped()) }
        }
    }

    /// Runs `body` on one of the pool's threads; for work that cannot fail.
    func run<Result: Sendable>(_ body: @escaping @Sendable () -> Result) async -> Result {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result, Never>) in
            let queued = enqueue { continuation.resume(returning: body()) }
            // A stopped pool still answers: run here rather than leave the caller waiting.
            if !queued { continuation.resume(returning: body()) }
        }
    }

    /// The pool was stopped before the job could be queued.
    struct Stopped: Error {}

    /// Lets the queued jobs finish, then ends the threads.
    func stop() {
        condition.lock()
        state.value.stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func enqueue(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !state.value.stopping else { return false }
        state.value.jobs.append(job)
        condition.signal()
        return true
    }

    private func work() {
        while let job = next() { job() }
    }

    private func next() -> (@Sendable () -> Void)? {
        condition.lock()
        defer { condition.unlock() }
        while state.value.head == state.value.jobs.count {
            if state.value.stopping { return nil }
            condition.wait()
        }
        let job = state.value.jobs[state.value.head]
        state.value.head += 1
        // Compact now and then instead of shifting the array on every job.
        if state.value.head > 64 && state.value.head * 2 > state.value.jobs.count {
            state.value.jobs.removeFirst(state.value.head)
            state.value.head = 0
        }
        return job
    }
}

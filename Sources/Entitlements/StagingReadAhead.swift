import Foundation
import Synchronization

/// Reads and checks the rows of a list being staged on a thread of its own, ahead of the
/// writer: batches of `batchRows` rows of `entries`, in order, each read again from the
/// file by its place, checked, fingerprinted and copied into a `StagedRows`. At most
/// `depth` batches wait, so memory stays a few hundred rows.
///
/// The writer takes the batches (`take`) and must call `stop()` before the file is
/// closed: it returns once the thread has ended.
final class StagingReadAhead: Sendable {
    /// One batch of read rows and the sum of their fingerprints.
    struct Batch: Sendable {
        var rows: StagedRows
        var sum: UInt64
    }

    static let batchRows = 512
    static let depth = 4

    private struct State {
        var ready: [Batch] = []
        var failure: (any Error)?
        var stopping = false
        var done = false
    }

    private let state = Mutex(State())
    /// Signalled for each batch made ready, and when the thread ends.
    private let readySignal = DispatchSemaphore(value: 0)
    /// Counts free places for batches.
    private let room = DispatchSemaphore(value: StagingReadAhead.depth)
    private let ended = DispatchSemaphore(value: 0)

    /// Starts reading.
    /// - Parameters:
    ///   - fd: the list file, open (read with `pread` only).
    ///   - entries: the rows in the order to stage them.
    ///   - validator: a validator that has read the header (`silenced()`: an error means
    ///     the file changed).
    ///   - fingerprint: pass 1's keys.
    ///   - path: the file's path, for the error.
    init(
        fd: Int32, entries: [ImportEntry], validator: ListRowValidator, fingerprint: (k0: UInt64, k1: UInt64, sum: UInt64),
        path: String
    ) {
        let handed = HandedOver(validator)
        let keys = (fingerprint.k0, fingerprint.k1)
        let thread = Thread { [self] in
            self.run(fd: fd, entries: entries, validator: handed.take(), keys: keys, path: path)
        }
        thread.name = "necd.import.read"
        thread.start()
    }

    private func run(fd: Int32, entries: [ImportEntry], validator: ListRowValidator, keys: (UInt64, UInt64), path: String) {
        var validator = validator
        var reader = CSVReader(fd: fd, chunkSize: 4096)
        var read = 0
        defer {
            state.withLock { $0.done = true }
            readySignal.signal()
            ended.signal()
        }
        while read < entries.count {
            room.wait()
            if state.withLock({ $0.stopping }) { return }
            var batch = Batch(rows: StagedRows(), sum: 0)
            let end = min(entries.count, read + StagingReadAhead.batchRows)
            do {
                while read < end {
                    let e = entries[read]
                    let line = Int(e.line)
                    guard try reader.reread(at: Int64(e.mid & (1 << 54 - 1)), length: Int(e.length)),
                          let row = validator.check(reader, line: line)
                    else { throw ListImportError.fileChanged(file: path) }
                    batch.sum &+= reader.fingerprint(k0: keys.0, k1: keys.1)
                    validator.stage(row, reader, line: line, into: &batch.rows)
                    read += 1
                }
            } catch {
                state.withLock { $0.failure = error }
                return
            }
            state.withLock { $0.ready.append(batch) }
            readySignal.signal()
        }
    }

    /// The next batch: waits for it when `wait`, else nil when none is ready yet. Nil
    /// also once every batch has been taken.
    /// - Throws: what stopped the reading (`ListImportError.fileChanged`, a read failure).
    func take(wait: Bool) throws -> Batch? {
        while true {
            let (batch, failure, done) = state.withLock { s -> (Batch?, (any Error)?, Bool) in
                if !s.ready.isEmpty { return (s.ready.removeFirst(), nil, false) }
                return (nil, s.failure, s.done)
            }
            if let batch {
                room.signal()
                return batch
            }
            if let failure { throw failure }
            if done || !wait { return nil }
            readySignal.wait()
        }
    }

    /// Stops the thread and waits for it to end. Idempotent.
    func stop() {
        state.withLock { $0.stopping = true }
        // Wakes a thread waiting for room.
        room.signal()
        ended.wait()
        // For a later call: the thread has ended.
        ended.signal()
    }
}

/// Moves a value to the one thread that uses it from then on.
private final class HandedOver<Value>: @unchecked Sendable {
    private var value: Value?

    init(_ value: Value) { self.value = value }

    func take() -> Value {
        defer { value = nil }
        return value!
    }
}

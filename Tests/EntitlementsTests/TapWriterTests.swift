import Foundation
import GRDB
import NECCard
import Testing
@testable import Entitlements

/// Taps write through a connection of their own that waits a tap's worth for SQLite's
/// write lock: a write held elsewhere gives `unavailable` at once, not after ten seconds.
@Suite(.serialized) struct TapWriterTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")

    /// Runs `body` on another thread and waits for it; nil when it has not finished
    /// within `guardTime`, a bound only against a hang, far above what is expected.
    func finished<T: Sendable>(within guardTime: Double, _ body: @escaping @Sendable () -> T) -> T? {
        let box = FinishedBox<T>()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            box.value = body()
            done.signal()
        }
        guard done.wait(timeout: .now() + guardTime) == .success else { return nil }
        return box.value
    }

    @Test func aWriteLockHeldByAnotherConnectionDeclinesUnavailableAndReadsGoOn() throws {
        let (store, _) = try Fixture.store(list: Fixture.twoCardList(pupils: 2), at: now)
        let card = Fixture.identity(isrn: Fixture.isrn(1))
        // Another connection (as another process would) starts a write and keeps it.
        try Fixture.whileWriteLocked(store.path) {
            let blocked = finished(within: 5) {
                store.decide(card, reader: "Till Reader 00 00", lane: "till-1", role: .till, at: self.now, policy: Fixture.policy)
            }
            #expect(blocked?.verdict == .declined(.unavailable))
            // It could not be journalled either (the lock is still held): not replayable.
            #expect(blocked?.seq == nil)
            // A lookup reads, and reading never waits for the writer.
            let looked = finished(within: 5) { try? store.lookup(card, at: self.now, policy: Fixture.policy).verdict.kind }
            #expect(looked == .some(.lunch))
        }
        // Released: the pupil is served, and nothing was redeemed by the declined tap.
        let served = store.decide(card, reader: "Till Reader 00 00", lane: "till-1", role: .till, at: now, policy: Fixture.policy)
        #expect(served.kind == .lunch && served.pupil == Fixture.pupil(1) && served.seq == 1)
    }

    @Test func publishingHappensInJournalOrder() throws {
        let (store, _) = try Fixture.store(list: Fixture.twoCardList(pupils: 50), at: now)
        let published = SeqBox()
        DispatchQueue.concurrentPerform(iterations: 50) { n in
            _ = store.decide(
                Fixture.identity(isrn: Fixture.isrn(n + 1)), reader: "Till \(n % 4)", lane: nil, role: .till, at: now
            , policy: Fixture.policy) { published.append($0.seq) }
        }
        // Four tills at once: every event was handed on in seq order, none twice.
        #expect(published.values == (1...50).map { Int64($0) })
    }
}

final class FinishedBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T?
    var value: T? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

final class SeqBox: @unchecked Sendable {
    private let lock = NSLock()
    private var seqs: [Int64?] = []
    func append(_ seq: Int64?) { lock.withLock { seqs.append(seq) } }
    var values: [Int64?] { lock.withLock { seqs } }
}

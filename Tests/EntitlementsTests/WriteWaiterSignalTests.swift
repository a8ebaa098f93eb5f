import Foundation
import Testing
@testable import Entitlements

/// The signal a writer waiting for the lock gives an import in another process.
@Suite struct WriteWaiterSignalTests {
    static func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("necd-waiting-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func aWaitIsSeenByAnotherProcessWhileFreshAndNotByItsOwn() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/necd.sqlite"
        // Before anyone waits there is no file, and no waiter.
        let other = WriteWaiterSignal.Watch(database: db, me: UInt32(bitPattern: getpid()) &+ 1)
        defer { other.close() }
        #expect(!other.someoneWaits())
        #expect(!FileManager.default.fileExists(atPath: WriteWaiterSignal.path(database: db)))

        let signal = WriteWaiterSignal(database: db)
        let before = WriteBudget.nanos()
        signal.announce(first: true)
        let after = WriteBudget.nanos()
        let attributes = try FileManager.default.attributesOfItem(atPath: WriteWaiterSignal.path(database: db))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(other.someoneWaits(now: before))
        // Stale once a waiter has not retried for `freshNanos` (it has the lock by then).
        #expect(other.someoneWaits(now: before + WriteWaiterSignal.freshNanos - 1))
        #expect(!other.someoneWaits(now: after + WriteWaiterSignal.freshNanos))
        // A stamp ahead of the clock (a torn write) counts as a wait: a pause too many.
        #expect(other.someoneWaits(now: before - 1))

        // The import's own waits (its pool waiting for a tap) are not waiters to yield to.
        let mine = WriteWaiterSignal.Watch(database: db)
        defer { mine.close() }
        #expect(!mine.someoneWaits(now: after))
    }

    @Test func theTapsWaitAnnouncesEveryRetry() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/necd.sqlite"
        let wait = TapLockWait(limit: 0.01, signal: WriteWaiterSignal(database: db))
        let watch = WriteWaiterSignal.Watch(database: db, me: UInt32(bitPattern: getpid()) &+ 1)
        defer { watch.close() }
        // Each stamp is written between `before` and `after` (the retry then sleeps), so
        // it is fresh at `before` and stale `freshNanos` after `after`, however long the
        // sleep took: no clock decides this.
        let before1 = WriteBudget.nanos()
        #expect(wait.retry(afterTries: 0))
        let after1 = WriteBudget.nanos()
        #expect(watch.someoneWaits(now: before1))
        #expect(!watch.someoneWaits(now: after1 + WriteWaiterSignal.freshNanos))
        let before2 = WriteBudget.nanos()
        #expect(wait.retry(afterTries: 1))
        #expect(watch.someoneWaits(now: before2))
        // Out of time: no retry, and no announcement either.
        let late = WriteBudget.nanos() + WriteWaiterSignal.freshNanos
        #expect(!wait.retry(afterTries: 10_000))
        #expect(!watch.someoneWaits(now: late))
    }
}

import Testing
@testable import Entitlements

/// The tap's wait for SQLite's write lock: short polls first, then millisecond ones, and
/// a limit on the time slept in all.
@Suite struct TapLockWaitTests {
    @Test func theScheduleSleepsATenthOfAMillisecondFiftyTimesThenMilliseconds() {
        #expect(TapLockWait.sleptBefore(tries: 0) == 0)
        #expect(TapLockWait.sleptBefore(tries: 1) == 100)
        #expect(TapLockWait.sleptBefore(tries: 50) == 5_000)
        #expect(TapLockWait.sleptBefore(tries: 51) == 6_000)
        #expect(TapLockWait.sleptBefore(tries: 295) == 250_000)
    }

    @Test func itGivesUpOnceTheLimitIsSlept() {
        // 6 ms: fifty polls of 0.1 ms (5 ms) and one of 1 ms, then no more.
        let wait = TapLockWait(limit: 0.006)
        var tries = 0
        while wait.retry(afterTries: tries) { tries += 1 }
        #expect(tries == 51)
    }

    @Test func theTapsLimitIsAQuarterOfASecond() {
        let wait = TapLockWait(limit: EntitlementStore.tapBusyTimeout)
        #expect(wait.retry(afterTries: 294))
        #expect(!wait.retry(afterTries: 295))
    }

    @Test func withoutWaitingABusyLockFailsAtOnceAndWaitingComesBack() {
        let wait = TapLockWait(limit: 0.25)
        let inside = wait.withoutWaiting { wait.retry(afterTries: 0) }
        #expect(!inside)
        #expect(wait.retry(afterTries: 0))
    }
}

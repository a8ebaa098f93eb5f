import Foundation
import GRDB
import NECTestSupport
import Testing
@testable import Entitlements

/// `necctl list import`, run as a child process, shares the database with taps from
/// other processes: it must leave them the write lock.
@Suite(.serialized) struct ImportConcurrencyTests {
    static let necctl = Fixture.builtExecutable("necctl")
    let now = Fixture.utc("2026-11-27T12:00:00Z")

    /// A directory with a database holding `lists` imports of a `pupils`-pupil list (two
    /// rows each), and that list's file.
    static func prepared(pupils: Int, lists: Int) throws -> (dir: String, db: String, list: String) {
        let dir = Fixture.directory()
        let db = dir + "/necd.sqlite"
        let list = dir + "/list.csv"
        Fixture.write(Fixture.twoCardList(pupils: pupils), to: list)
        let store = try EntitlementStore(path: db)
        for _ in 0..<lists { try store.importList(path: list) }
        return (dir, db, list)
    }

    static func startImport(_ exe: String, list: String, db: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["list", "import", list, "--database", db]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// While an import replaces a 100,000-row list (staging the new rows, then deleting
    /// the list before the previous one), another connection that waits for the lock as a
    /// tap does (`TapLockWait`, announcing its wait to the import) gets the write lock
    /// every time it asks. A tap gives up after 250 ms; the probe waits 4 times that, so a
    /// machine busy enough to stop the import for a moment mid-transaction does not decide
    /// the test, while an import that kept the lock for a second still fails it. How long
    /// a tap waits during an import is measured by scripts/bench-import-taps.
    @Test(.needs("needs necctl built next to the tests (swift build --build-tests)") { necctl != nil })
    func writeLockIsAlwaysFreeWithinATapsWait() throws {
        let exe = try #require(Self.necctl)
        let (dir, db, list) = try Self.prepared(pupils: 50_000, lists: 2)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var configuration = Configuration()
        let wait = TapLockWait(limit: 4 * EntitlementStore.tapBusyTimeout, signal: WriteWaiterSignal(database: db))
        configuration.busyMode = .callback { tries in wait.retry(afterTries: tries) }
        let tap = try DatabaseQueue(path: db, configuration: configuration)
        let child = try Self.startImport(exe, list: list, db: db)
        var attempts = 0
        var whileWriting = 0
        var refused: [String] = []
        var rng = SystemRandomNumberGenerator()
        while child.isRunning {
            attempts += 1
            do {
                // BEGIN IMMEDIATE takes the write lock, as a tap's decision does, and the
                // probe writes a row as a tap does.
                var writing = false
                try tap.inTransaction(.immediate) { db in
                    writing = try Int.fetchOne(
                        db, sql: "SELECT count(*) FROM list_version WHERE state IN ('staging', 'discarded')") ?? 0 > 0
                    try db.execute(sql: "CREATE TABLE IF NOT EXISTS tap_probe (n INTEGER)")
                    try db.execute(sql: "INSERT INTO tap_probe VALUES (?)", arguments: [attempts])
                    return .commit
                }
                if writing { whileWriting += 1 }
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
                refused.append("attempt \(attempts): \(error.message ?? "busy")")
            }
            // Taps come now and then, not back to back (pacing, not synchronisation).
            usleep(UInt32.random(in: 2_000...8_000, using: &rng))
        }
        child.waitUntilExit()
        #expect(child.terminationStatus == 0)
        #expect(refused == [])
        // The import did write while the probe asked (else this proves nothing).
        #expect(whileWriting >= 20, "only \(whileWriting) of \(attempts) attempts were made while the import wrote")
        let store = try EntitlementStore(path: db)
        #expect(try store.listStatus()?.rows == 100_000)
    }

    /// Rows the database holds per list state.
    static func rowsByState(_ db: String) throws -> [String: Int] {
        let queue = try DatabaseQueue(path: db)
        return try queue.read { db in
            var out: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT v.state, (SELECT count(*) FROM list_row r WHERE r.list_id = v.id) FROM list_version v
                """)
            {
                out[row[0] as String, default: 0] += row[1] as Int
            }
            return out
        }
    }

    /// Waits until the import has staged some rows (the child is then mid-import), or fails.
    static func waitForStagedRows(_ db: String, child: Process) throws {
        let deadline = Date().addingTimeInterval(120)
        while (try rowsByState(db)["staging"] ?? 0) < 1000 {
            guard child.isRunning else { throw Failure("the import ended before it was seen staging") }
            guard Date() < deadline else { throw Failure("no rows staged after 120 s") }
            usleep(2000)
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// An import killed with SIGKILL while staging leaves rows nobody will install; the
    /// next opening of the store deletes them, and the list in force is untouched.
    @Test(.needs("needs necctl built next to the tests (swift build --build-tests)") { necctl != nil })
    func killedImportIsCleanedAtTheNextOpen() throws {
        try Self.whileImportIsStaging { db, list, child in
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            #expect(child.terminationReason == .uncaughtSignal)
            #expect((try Self.rowsByState(db)["staging"] ?? 0) > 0)

            let store = try EntitlementStore(path: db)
            #expect(try Self.rowsByState(db) == ["current": 40_000])
            #expect(try store.lookup(card: Fixture.isrn(7), at: now, policy: Fixture.policy).verdict.pupil == Fixture.pupil(7))
            // And the next import works as if nothing had happened.
            let summary = try store.importList(path: list, at: now)
            #expect(summary.status.rows == 40_000)
            #expect(try Self.rowsByState(db) == ["current": 40_000, "previous": 40_000])
        }
    }

    /// A list another process is importing is not a leftover: opening the store leaves
    /// it, a second import is refused, and the first completes.
    @Test(.needs("needs necctl built next to the tests (swift build --build-tests)") { necctl != nil })
    func runningImportIsLeftAlone() throws {
        try Self.whileImportIsStaging { db, list, child in
            let store = try EntitlementStore(path: db)
            let staged = try Self.rowsByState(db)["staging"] ?? 0
            #expect(staged >= 1000)
            #expect(throws: ListImportError.importRunning(database: db)) { try store.importList(path: list, at: now) }
            child.waitUntilExit()
            #expect(child.terminationReason == .exit && child.terminationStatus == 0)
            #expect(try Self.rowsByState(db) == ["current": 40_000, "previous": 40_000])
        }
    }

    /// Runs `body` while a necctl child imports a second list of 20,000 pupils into a
    /// prepared store and has staged rows of it; the directory goes afterwards.
    static func whileImportIsStaging(_ body: (_ db: String, _ list: String, _ child: Process) throws -> Void) throws {
        let exe = try #require(necctl)
        let (dir, db, list) = try prepared(pupils: 20_000, lists: 1)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let child = try startImport(exe, list: list, db: db)
        try waitForStagedRows(db, child: child)
        try body(db, list, child)
    }
}

import Foundation
import GRDB
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
    /// the list before the previous one), another connection whose busy timeout is 250 ms,
    /// what a tap can afford, gets the write lock every time it asks.
    @Test(.enabled(if: necctl != nil, "necctl is not built next to the tests (swift build first)"))
    func writeLockIsAlwaysFreeWithinATapsWait() throws {
        let exe = try #require(Self.necctl)
        let (dir, db, list) = try Self.prepared(pupils: 50_000, lists: 2)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(0.25)
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
}

import Foundation
import GRDB
import NECCard
import Testing
@testable import Entitlements

/// A list indexed by pupil as well as card: several rows per pupil, whose pupil columns
/// (all but `card` and `status`) must agree, and the optional `balance` column.
@Suite struct PupilListTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")

    /// Imports `text` as `list.csv` into a store with a good list; the issues, with the
    /// directory taken off.
    func issues(_ text: String) throws -> (issues: [String], error: ListImportError?) {
        let (store, dir) = try Fixture.store(list: Fixture.twoCardList(pupils: 2), at: now)
        Fixture.write(text, to: dir + "/list.csv")
        var issues: [String] = []
        var failure: ListImportError?
        do {
            try store.importList(path: dir + "/list.csv", at: now, report: { issues.append($0.description) })
        } catch let error as ListImportError {
            failure = error
        }
        // Whatever happened, a refused list left the one in force answering.
        if failure != nil { #expect(try store.listStatus()?.rows == 4) }
        return (issues.map { $0.replacingOccurrences(of: dir + "/", with: "") }, failure)
    }

    @Test func rowsOfOnePupilThatDisagreeAreEachNamed() throws {
        let result = try issues("""
            card,pupil,entitlement,status,daily_limit,allergens,balance
            \(Fixture.isrn(1)),TEST-0000001,fsm+paid,active,300,milk,1500
            \(Fixture.isrn(2)),TEST-0000002,fsm,,,,
            \(Fixture.uid(1)),TEST-0000001,fsm+paid,hotlisted,250,milk,1500
            \(Fixture.uid(2)),TEST-0000002,fsm,hotlisted,,,
            \(Fixture.isrn(3)),TEST-0000001,paid,active,300,eggs,1500

            """)
        guard case .rejected(_, let count) = result.error else {
            Issue.record("not rejected: \(String(describing: result.error))")
            return
        }
        #expect(count == 3)
        #expect(result.issues == [
            "list.csv:2: pupil: daily_limit differs from line 4, a row of the same pupil (every column but card and status belongs to the pupil)",
            "list.csv:4: pupil: daily_limit differs from line 2, a row of the same pupil (every column but card and status belongs to the pupil)",
            "list.csv:6: pupil: entitlement, allergens differ from line 2, a row of the same pupil (every column but card and status belongs to the pupil)",
        ])
    }

    @Test func statusMayDifferAndEveryRowIsKeptWithItsBalance() throws {
        let (store, dir) = try Fixture.store(list: """
            card,pupil,entitlement,status,daily_limit,balance,message
            \(Fixture.isrn(1)),TEST-0000001,paid,hotlisted,300,1500,Halal
            \(Fixture.uid(1)),TEST-0000001,paid,active,300,1500,Halal
            \(Fixture.isrn(2)),TEST-0000002,fsm,active,,,

            """, at: now)
        let rows = try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT card, pupil, hotlisted, balance FROM list_row ORDER BY card")
                .map { "\($0[0] as String) \($0[1] as String) \($0[2] as Int) \(($0[3] as Int?).map(String.init) ?? "-")" }
        }
        #expect(rows == [
            "\(Fixture.uid(1)) TEST-0000001 0 1500",
            "\(Fixture.isrn(1)) TEST-0000001 1 1500",
            "\(Fixture.isrn(2)) TEST-0000002 0 -",
        ])
        // Every card of every pupil, by pupil.
        let pupils = try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT pupil, card FROM list_pupil ORDER BY pupil, card")
                .map { "\($0[0] as String) \($0[1] as String)" }
        }
        #expect(pupils == [
            "TEST-0000001 \(Fixture.uid(1))", "TEST-0000001 \(Fixture.isrn(1))", "TEST-0000002 \(Fixture.isrn(2))",
        ])
        // A replaced list's pupils go with its rows.
        try store.importList(path: dir + "/list.csv", at: now)
        try store.importList(path: dir + "/list.csv", at: now)
        let kept = try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(DISTINCT list_id) FROM list_pupil") }
        #expect(kept == 2)
    }

    @Test func aBalanceThatIsNotWholePenceIsRefused() throws {
        let result = try issues("""
            card,pupil,entitlement,balance
            \(Fixture.isrn(1)),TEST-0000001,paid,12.50
            \(Fixture.isrn(2)),TEST-0000002,paid,-3

            """)
        #expect(result.issues == [
            "list.csv:2: balance: must be whole pence (digits only)",
            "list.csv:3: balance: must be whole pence (digits only)",
        ])
    }

    @Test func aVersion2DatabaseIsMigratedAndItsEventsReplayAsCardEvents() throws {
        let dir = Fixture.directory()
        let path = dir + "/necd.sqlite"
        // A database as the previous release left it: schema v2 and one tap.
        do {
            let old = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(old, upTo: "v2: voids are journalled")
            try old.write { db in
                try db.execute(sql: """
                    INSERT INTO event (time_ms, class, reader, lane, isrn, media, decision, kind, pupil, list_stale)
                    VALUES (1764244800000, 'TAP', 'Till Reader 00 00', 'till-1', ?, 'desfire', 'authorised', 'lunch',
                            'TEST-0000001', 0)
                    """, arguments: [Fixture.isrn(1)])
            }
        }
        let store = try EntitlementStore(path: path)
        let events = try store.events(after: 0, limit: 10)
        #expect(events.count == 1)
        #expect(events.first?.method == .card)
        #expect(events.first?.peerUID == nil)
        #expect(events.first?.payment == nil)
        #expect(events.first?.kind == .lunch)
        #expect(events.first?.card.isrn == Fixture.isrn(1))
        // The new list column and index are there.
        let columns = try store.pool.read { db in try db.columns(in: "list_row").map(\.name) }
        #expect(columns.last == "balance")
        #expect(try store.pool.read { db in try db.tableExists("list_pupil") })
    }
}

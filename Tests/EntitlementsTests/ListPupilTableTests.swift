import Foundation
import GRDB
import Testing
@testable import Entitlements

/// `list_pupil` holds exactly each row's (pupil, card), whatever the pupil's length and
/// the card's kind, and a pupil's rows are found through it in many batches.
@Suite struct ListPupilTableTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")

    /// (pupil, card) of every row of the list in force, from `list_row` and from
    /// `list_pupil`.
    func pairs(_ store: EntitlementStore) throws -> (rows: [String], pupils: [String]) {
        try store.pool.read { db in
            let id = try Int64.fetchOne(db, sql: "SELECT id FROM list_version WHERE state = 'current'")
            return (
                try String.fetchAll(
                    db, sql: "SELECT pupil || ' ' || card FROM list_row WHERE list_id = ? ORDER BY 1", arguments: [id]),
                try String.fetchAll(
                    db, sql: "SELECT pupil || ' ' || card FROM list_pupil WHERE list_id = ? ORDER BY 1", arguments: [id]))
        }
    }

    @Test func shortLongAndBoundaryPupilsWithEveryKindOfCard() throws {
        // 16 bytes, 17 bytes, 64 characters (and multi-byte ones), one byte; ISRNs with
        // spaces, 7- and 4-byte UIDs in lower case.
        let sixteen = "ABCDEFGHIJKLMNOP", seventeen = "ABCDEFGHIJKLMNOPQ"
        let long = String(repeating: "é", count: 64)
        let spaced = Fixture.isrn(3).enumerated().map { $0.offset % 4 == 3 ? " \($0.element)" : "\($0.element)" }.joined()
        let (store, _) = try Fixture.store(list: """
            card,pupil,entitlement,status
            \(Fixture.isrn(1)),\(sixteen),fsm,
            \(Fixture.uid(1).lowercased()),\(sixteen),fsm,hotlisted
            \(Fixture.isrn(2)),\(seventeen),paid,
            1a2b3c4d,\(seventeen),paid,
            \(spaced),\(long),fsm,
            \(Fixture.uid(4)),\(long),fsm,
            0badcafe,X,fsm+paid,
            \(Fixture.isrn(9)),  \(sixteen)  ,fsm,

            """, at: now)
        let (rows, pupils) = try pairs(store)
        #expect(rows.count == 8)
        #expect(pupils == rows)
        #expect(pupils.contains("\(long) \(Fixture.isrn(3))"))
        #expect(pupils.contains("\(seventeen) 1A2B3C4D"))
        #expect(pupils.contains("X 0BADCAFE"))
        #expect(pupils.contains("\(sixteen) \(Fixture.uid(1))"))
        // Served by hand through list_pupil: each pupil's rows, both of the long one.
        #expect(try store.lookup(pupil: long, at: now, policy: Fixture.policy).decision == .authorised)
        #expect(try store.lookup(pupil: seventeen, at: now, policy: Fixture.policy).kind == .payment)
        #expect(try store.lookup(pupil: sixteen, at: now, policy: Fixture.policy).kind == .lunch)
    }

    @Test func manyBatchesOfPupilsAndRows() throws {
        // 3,001 pupils of two rows, one in ten with a pupil longer than 16 bytes: more
        // than one transaction's rows, pupils read again from the file among the others.
        var text = "card,pupil,entitlement\n"
        for n in 1...3001 {
            let p = n % 10 == 0 ? "LONG-PUPIL-REFERENCE-\(n)" : Fixture.pupil(n)
            text += "\(Fixture.isrn(n)),\(p),fsm\n\(Fixture.uid(n)),\(p),fsm\n"
        }
        let (store, dir) = try Fixture.store(list: text, at: now)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (rows, pupils) = try pairs(store)
        #expect(rows.count == 6002)
        #expect(pupils == rows)
        #expect(try store.lookup(pupil: "LONG-PUPIL-REFERENCE-3000", at: now, policy: Fixture.policy).kind == .lunch)
    }
}

import Foundation
import GRDB
import NECCard
import Testing
@testable import Entitlements

/// Spaces around a value are not part of it: `TEST-0000001` and `TEST-0000001 ` are one
/// pupil, with one lunch a day.
@Suite struct ImportTrimTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")

    @Test func spacesAroundFieldsAreTrimmed() throws {
        let (store, dir) = try Fixture.store()
        let text = "card,pupil,entitlement,status,valid_until,daily_limit,message\n"
            // A pupil's columns agree on all its rows (only status is the card's).
            + "\(Fixture.isrn(1)),TEST-0000001,fsm,,2027-06-30,,\n"
            + "  \(Fixture.uid(1)) ,TEST-0000001 , fsm ,active , 2027-06-30,,\n"
            + "\(Fixture.isrn(2)),\u{A0}TEST-0000002\u{3000},\tpaid, hotlisted,, 250 , Halal \n"
        Fixture.write(text, to: dir + "/list.csv")
        var issues: [String] = []
        let summary = try store.importList(path: dir + "/list.csv", at: now, report: { issues.append($0.description) })
        #expect(issues == [])
        #expect(summary.status.rows == 3)
        let byISRN = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: nil, role: .till, at: now, policy: Fixture.policy)
        #expect(byISRN.verdict.kind == .lunch && byISRN.verdict.pupil == "TEST-0000001")
        let byUID = store.decide(Fixture.identity(uid: Fixture.uid(1)), reader: "R", lane: nil, role: .till, at: now, policy: Fixture.policy)
        #expect(byUID.verdict.reason == .alreadyRedeemed && byUID.verdict.pupil == "TEST-0000001")
        let two = try store.lookup(card: Fixture.isrn(2), at: now, policy: Fixture.policy).verdict
        #expect(two.reason == .hotlisted && two.pupil == "TEST-0000002")
        let stored = try store.pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT \(EntitlementStore.listRowColumns) FROM list_row WHERE card = ?
                """, arguments: [Fixture.isrn(2)])
        }
        let row = EntitlementStore.listRow(try #require(stored))
        #expect(row.pupil == "TEST-0000002" && row.dailyLimit == 250 && row.message == "Halal")
    }

    @Test func pupilWithControlOrInvisibleCharactersIsRefused() throws {
        let (store, dir) = try Fixture.store()
        let text = "card,pupil,entitlement\n"
            + "\(Fixture.isrn(1)),TEST-0000001\u{1},fsm\n"
            + "\(Fixture.isrn(2)),TEST-000\u{200B}0002,fsm\n"
            + "\(Fixture.isrn(3)),TEST-0000003\u{202E},fsm\n"
            + "\(Fixture.isrn(4)),TEST\u{A0}0000004,fsm\n"
            + "\(Fixture.isrn(5)),\"TEST-00\r00005\",fsm\n"
            + "\(Fixture.isrn(6)),\"  \",fsm\n"
        Fixture.write(text, to: dir + "/list.csv")
        var issues: [String] = []
        #expect(throws: ListImportError.rejected(file: dir + "/list.csv", errorCount: 6)) {
            try store.importList(path: dir + "/list.csv", at: now, report: { issues.append($0.description) })
        }
        #expect(issues.map { $0.replacingOccurrences(of: dir + "/", with: "") } == [
            "list.csv:2: pupil: control characters are not allowed",
            "list.csv:3: pupil: invisible formatting characters are not allowed (U+200B)",
            "list.csv:4: pupil: invisible formatting characters are not allowed (U+202E)",
            "list.csv:5: pupil: only plain spaces are allowed (U+00A0 is another space)",
            "list.csv:6: pupil: control characters are not allowed",
            "list.csv:7: pupil: empty",
        ])
        #expect(try store.listStatus() == nil)
    }
}

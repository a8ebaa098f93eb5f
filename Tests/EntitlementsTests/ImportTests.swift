import Foundation
import GRDB
import NECCard
import Testing
@testable import Entitlements

@Suite struct ImportTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")

    /// Imports `text` into a store that already has a good list; returns the issues
    /// and checks that the old list still answers.
    func rejected(_ bytes: [UInt8], name: String = "bad.csv") throws -> [String] {
        let (store, dir) = try Fixture.store(list: Fixture.twoCardList(pupils: 3), at: now)
        let path = dir + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        var issues: [String] = []
        #expect(throws: ListImportError.self) {
            try store.importList(path: path, at: now, report: { issues.append($0.description) })
        }
        #expect(try store.lookup(card: Fixture.isrn(2), at: now, policy: Fixture.policy).verdict.pupil == Fixture.pupil(2))
        #expect(try store.listStatus()?.rows == 6)
        return issues.map { $0.replacingOccurrences(of: dir + "/", with: "") }
    }

    func rejected(_ text: String, name: String = "bad.csv") throws -> [String] {
        try rejected(Array(text.utf8), name: name)
    }

    let good1 = "\(Fixture.isrn(10)),TEST-0000010,fsm"
    let good2 = "\(Fixture.isrn(11)),TEST-0000011,paid"

    @Test func wrongHeader() throws {
        let issues = try rejected("cardnumber,pupil,entitlement\n\(good1)\n")
        #expect(issues == [
            "bad.csv:1: warning: unknown column \"cardnumber\" ignored",
            "bad.csv:1: header: missing required column card",
        ])
    }

    @Test func missingColumn() throws {
        #expect(try rejected("card,pupil\n\(Fixture.isrn(10)),TEST-0000010\n") == ["bad.csv:1: header: missing required column entitlement"])
    }

    @Test func badLuhnBadDateAllReported() throws {
        let badLuhn = String(Fixture.isrn(12).dropLast()) + String((Fixture.isrn(12).last!.wholeNumberValue! + 1) % 10)
        let issues = try rejected("""
            card,pupil,entitlement,valid_from
            \(good1),
            \(badLuhn),TEST-0000012,fsm,
            \(good2),2026-02-30
            \(Fixture.isrn(13)),TEST-0000013,lunch,2026-13-01

            """)
        #expect(issues.count == 4)
        #expect(issues[0].hasPrefix("bad.csv:3: card: ISRN check digit is"))
        #expect(issues[1] == "bad.csv:4: valid_from: \"2026-02-30\" is not a date (YYYY-MM-DD)")
        #expect(issues[2] == "bad.csv:5: entitlement: must be fsm, paid or fsm+paid")
        #expect(issues[3] == "bad.csv:5: valid_from: \"2026-13-01\" is not a date (YYYY-MM-DD)")
    }

    @Test func aRandomIDIsRefusedAsACard() throws {
        // 08 then 3 bytes is a random ID (ISO/IEC 14443-3): it can never be a list key.
        let issues = try rejected("card,pupil,entitlement\n\(good1)\n08a1b2c3,TEST-0000098,fsm\n1AA1B2C3,TEST-0000097,fsm\n")
        #expect(issues == [
            "bad.csv:3: card: 08A1B2C3 is a random ID (4 bytes starting 08): it changes at every tap and cannot identify a card",
        ])
    }

    @Test func aRandomIDLooksUpUnreadableAndIsNotShown() throws {
        let (store, _) = try Fixture.store(list: Fixture.twoCardList(pupils: 3), at: now)
        let r = try store.lookup(card: "08a1b2c3", at: now, policy: Fixture.policy)
        #expect(r.verdict.reason == .unreadable)
        #expect(r.card.uid == nil)
        #expect(try store.lookup(card: "1AA1B2C3", at: now, policy: Fixture.policy).card.uid == "1AA1B2C3")
    }

    @Test func duplicateCard() throws {
        let issues = try rejected("card,pupil,entitlement\n\(good1)\n\(good2)\n\(good1)\n")
        #expect(issues == ["bad.csv:4: card: duplicate, first on line 2"])
        // The same ISRN written with spaces is the same card.
        let spaced = ISRN(unchecked: Fixture.isrn(10)).grouped
        #expect(try rejected("card,pupil,entitlement\n\(good1)\n\(spaced),TEST-0000099,fsm\n") == ["bad.csv:3: card: duplicate, first on line 2"])
    }

    @Test func truncatedLastLine() throws {
        #expect(try rejected("card,pupil,entitlement\n\(good1)\n\(Fixture.isrn(11)),TEST-00") == [
            "bad.csv:3: row has 2 fields, the header has 3 (truncated or unquoted comma?)",
        ])
        #expect(try rejected("card,pupil,entitlement,message\n\(good1),ok\n\(good2),\"Halal, no") == [
            "bad.csv:3: quoted field never closed before the end of the file (file truncated?)",
        ])
    }

    @Test func binaryJunk() throws {
        var rng = SystemRandomNumberGenerator()
        var junk: [UInt8] = [0x00, 0xFF, 0xFE, 0x89, 0x50, 0x4E, 0x47]
        for _ in 0..<4000 { junk.append(UInt8.random(in: 0...255, using: &rng)) }
        let issues = try rejected(junk, name: "junk.bin")
        #expect(!issues.isEmpty)
        #expect(issues.allSatisfy { $0.hasPrefix("junk.bin:") })
        #expect(issues.contains { $0.hasPrefix("junk.bin:1: ") && !$0.contains("warning") })
    }

    @Test func emptyFiles() throws {
        #expect(try rejected("") == ["bad.csv:1: empty file: no header row"])
        #expect(try rejected("\u{FEFF}\r\n\n") == ["bad.csv:1: empty file: no header row"])
        #expect(try rejected("card,pupil,entitlement\r\n") == ["bad.csv:2: no rows after the header: a list with no pupils is refused"])
    }

    @Test func otherRowRules() throws {
        let issues = try rejected("""
            card,pupil,entitlement,status,valid_from,valid_until,daily_limit,allergens
            ,TEST-1,fsm,,,,,
            12345,TEST-2,fsm,,,,,
            \(Fixture.isrn(20)),,fsm,,,,,
            \(Fixture.isrn(21)),\(String(repeating: "X", count: 65)),fsm,,,,,
            \(Fixture.isrn(22)),TEST-5,fsm,lost,,,,
            \(Fixture.isrn(23)),TEST-6,paid,,2026-09-01,2026-08-01,12.50,
            \(Fixture.isrn(24)),TEST-7,fsm,,,,,milk;bacon
            \(Fixture.isrn(25)),"TEST\u{7}8",fsm,,,,,

            """)
        #expect(issues == [
            "bad.csv:2: card: empty",
            "bad.csv:3: card: must be an 18-digit ISRN or a UID of 8 or 14 hex digits, not 5 characters",
            "bad.csv:4: pupil: empty",
            "bad.csv:5: pupil: longer than 64 characters",
            "bad.csv:6: status: must be active or hotlisted",
            "bad.csv:7: valid_until is before valid_from",
            "bad.csv:7: daily_limit: must be whole pence (digits only)",
            "bad.csv:8: allergens: \"bacon\" is not one of the FSA 14 (celery, gluten, crustaceans, eggs, fish, lupin, milk, molluscs, mustard, nuts, peanuts, sesame, soya, sulphites)",
            "bad.csv:9: pupil: control characters are not allowed",
        ])
    }

    @Test func rfc4180File() throws {
        // BOM, CRLF, columns in another order, quoted commas and quotes, a line break
        // inside quotes moving the line count, an unknown column, no final line end.
        let text = "\u{FEFF}pupil,notes,card,entitlement,message,allergens\r\n"
            + "TEST-0000001,\"two\r\nlines\",\(Fixture.isrn(1)),fsm,\"Halal, \"\"no pork\"\"\", Milk ; eggs;\r\n"
            + "TEST-0000002,,\(Fixture.uid(2).lowercased()),fsm+paid,,\r\n"
            + "TEST-0000003,,\(ISRN(unchecked: Fixture.isrn(3)).grouped),paid,,"
        let (store, dir) = try Fixture.store()
        Fixture.write(text, to: dir + "/good.csv")
        var issues: [String] = []
        let summary = try store.importList(path: dir + "/good.csv", at: now, report: { issues.append($0.description) })
        #expect(issues == ["\(dir)/good.csv:1: warning: unknown column \"notes\" ignored"])
        #expect(summary.status.rows == 3 && summary.warnings == 1)
        let one = try store.lookup(card: Fixture.isrn(1), at: now, policy: Fixture.policy).verdict
        #expect(one.message == "Halal, \"no pork\"" && one.allergens == ["milk", "eggs"])
        #expect(try store.lookup(card: Fixture.uid(2), at: now, policy: Fixture.policy).verdict.kind == .lunch)
        #expect(try store.lookup(card: Fixture.isrn(3), at: now, policy: Fixture.policy).verdict.kind == .payment)
        // Errors after a multi-line field name the line the record starts on.
        let bad = "card,pupil,entitlement,notes\n\(good1),\"a\nb\nc\"\n\(Fixture.isrn(11)),TEST-11,free,\n"
        #expect(try rejected(bad) == ["bad.csv:1: warning: unknown column \"notes\" ignored", "bad.csv:5: entitlement: must be fsm, paid or fsm+paid"])
    }

    @Test func statusRollbackAndRecord() throws {
        let (store, dir) = try Fixture.store()
        Fixture.write(Fixture.twoCardList(pupils: 2, prefix: "OLD"), to: dir + "/a.csv")
        Fixture.write(Fixture.twoCardList(pupils: 3, prefix: "NEW"), to: dir + "/b.csv")
        try store.importList(path: dir + "/a.csv", at: now)
        let first = try #require(try store.listStatus())
        #expect(first.rows == 4 && first.file == "a.csv" && first.signer == nil && !first.previousAvailable)
        #expect(first.sha256.count == 64)
        #expect(first.importedAt == now)
        try store.importList(path: dir + "/b.csv", at: now.addingTimeInterval(60))
        #expect(try store.lookup(card: Fixture.isrn(1), at: now, policy: Fixture.policy).verdict.pupil == "NEW-0000001")
        #expect(try store.listStatus()?.previousAvailable == true)
        let back = try store.rollbackList()
        #expect(back.file == "a.csv" && back.rows == 4 && back.generation == first.generation)
        #expect(try store.lookup(card: Fixture.isrn(1), at: now, policy: Fixture.policy).verdict.pupil == "OLD-0000001")
        #expect(try store.lookup(card: Fixture.isrn(3), at: now, policy: Fixture.policy).verdict.reason == .unknownCard)
        // A third import discards the oldest list; only one previous is kept.
        try store.importList(path: dir + "/b.csv", at: now)
        try store.importList(path: dir + "/a.csv", at: now)
        let lists = try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM list_version") }
        #expect(lists == 2)
        let rows = try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM list_row") }
        #expect(rows == 10)
        let (empty, _) = try Fixture.store()
        #expect(throws: ListImportError.noPreviousList) { try empty.rollbackList() }
    }

    @Test func signedLists() throws {
        let (store, dir) = try Fixture.store()
        let key = ListSigningKey.Private()
        let other = ListSigningKey.Private()
        let text = Fixture.twoCardList(pupils: 5)
        Fixture.write(text, to: dir + "/list.csv")
        let signature = try key.sign(Data(text.utf8))
        Fixture.write(signature.base64EncodedString() + "\n", to: dir + "/list.csv.sig")
        let trust = ListTrust(trustedKeys: [other.publicKey, key.publicKey], requireSigned: true)

        #expect(throws: ListImportError.signatureRequired(file: dir + "/list.csv")) {
            try store.importList(path: dir + "/list.csv", trust: trust, at: now)
        }
        #expect(throws: ListImportError.badSignature(file: dir + "/list.csv", trustedKeyCount: 0)) {
            try store.importList(path: dir + "/list.csv", signaturePath: dir + "/list.csv.sig", trust: ListTrust(), at: now)
        }
        let ok = try store.importList(path: dir + "/list.csv", signaturePath: dir + "/list.csv.sig", trust: trust, at: now)
        #expect(ok.status.signer == key.publicKey.base64)
        #expect(try store.listStatus()?.signer == key.publicKey.base64)

        // One byte changed: refused, the signed list stays in force.
        var bytes = Array(text.utf8)
        // A digit of the first pupil reference (the header is 23 bytes, the ISRN 18).
        bytes[50] = bytes[50] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1")
        _ = FileManager.default.createFile(atPath: dir + "/list.csv", contents: Data(bytes))
        #expect(throws: ListImportError.badSignature(file: dir + "/list.csv", trustedKeyCount: 2)) {
            try store.importList(path: dir + "/list.csv", signaturePath: dir + "/list.csv.sig", trust: trust, at: now)
        }
        #expect(try store.listStatus()?.generation == ok.status.generation)
        // Raw 64-byte signatures are accepted too; garbage is not a signature.
        _ = FileManager.default.createFile(atPath: dir + "/raw.sig", contents: try key.sign(Data(bytes)))
        try store.importList(path: dir + "/list.csv", signaturePath: dir + "/raw.sig", trust: trust, at: now)
        Fixture.write("hello", to: dir + "/junk.sig")
        #expect(throws: ListImportError.unreadableSignature(file: dir + "/junk.sig")) {
            try store.importList(path: dir + "/list.csv", signaturePath: dir + "/junk.sig", trust: trust, at: now)
        }
        // Keys round-trip through their base64 text.
        #expect(try ListSigningKey.Private(base64: key.base64).publicKey == key.publicKey)
        #expect(throws: ListSigningKey.Invalid.self) { try ListSigningKey.Public(base64: "AAAA") }
    }

    /// A lookup running during an import sees the old list or the new one, never none
    /// and never a mix.
    @Test func importIsAtomicForReaders() throws {
        let pupils = 20_000
        let (store, dir) = try Fixture.store(list: Fixture.twoCardList(pupils: pupils, prefix: "OLD"), at: now)
        Fixture.write(Fixture.twoCardList(pupils: pupils, prefix: "NEW"), to: dir + "/new.csv")
        let (go, done) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
        DispatchQueue.global().async {
            // The import starts with the lookups' first turn, so it cannot be over before they begin.
            go.wait()
            _ = try? store.importList(path: dir + "/new.csv", at: now)
            done.signal()
        }
        var seen: Set<String> = []
        var n = 0
        repeat {
            if n == 0 { go.signal() }
            n += 1
            // Two cards in one read transaction: both from one list.
            let pair = try store.pool.read { db in
                try [1, pupils].map { i in try store.lookup(Fixture.identity(isrn: Fixture.isrn(i)), db: db, at: now, policy: Fixture.policy) }
            }
            let prefixes = Set(pair.map { $0.pupil.map { String($0.prefix(3)) } ?? "none" })
            #expect(prefixes.count == 1)
            seen.formUnion(prefixes)
        } while done.wait(timeout: .now()) == .timedOut
        // Lookups ran while the import did (the first as it began), else this proved nothing.
        #expect(n > 0)
        #expect(!seen.contains("none"))
        #expect(try store.lookup(card: Fixture.isrn(7), at: now, policy: Fixture.policy).verdict.pupil == "NEW-0000007")
    }
}

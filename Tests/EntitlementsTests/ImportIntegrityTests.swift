import Foundation
import GRDB
import NECCard
import Testing
@testable import Entitlements

/// What is installed is exactly what was checked, hashed and verified: a file edited
/// between the import's two passes installs nothing.
@Suite struct ImportIntegrityTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")

    /// A list whose first row's pupil and valid_until an attacker would like to change.
    static func list(pupils: Int) -> String {
        var out = "card,pupil,entitlement,valid_until\n"
        for n in 1...pupils { out += "\(Fixture.isrn(n)),\(Fixture.pupil(n)),fsm,2027-06-30\n" }
        return out
    }

    /// Overwrites `old` with `new` (same length) where it first occurs in the file at `path`.
    static func overwrite(_ path: String, _ old: String, with new: String) {
        precondition(old.utf8.count == new.utf8.count)
        let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
        let needle = Array(old.utf8)
        guard let at = (0...(bytes.count - needle.count)).first(where: { Array(bytes[$0..<$0 + needle.count]) == needle })
        else { Issue.record("\(old) is not in \(path)"); return }
        let fd = open(path, O_WRONLY)
        defer { close(fd) }
        let written = Array(new.utf8).withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(at)) }
        #expect(written == needle.count)
    }

    func changedBetweenPasses(signed: Bool) throws {
        let (store, dir) = try Fixture.store(list: Fixture.twoCardList(pupils: 3, prefix: "OLD"), at: now)
        let before = try #require(try store.listStatus())
        let path = dir + "/new.csv"
        let text = Self.list(pupils: 50)
        Fixture.write(text, to: path)
        var trust = ListTrust()
        var signaturePath: String?
        if signed {
            let key = ListSigningKey.Private()
            Fixture.write(try key.sign(Data(text.utf8)).base64EncodedString(), to: dir + "/new.csv.sig")
            trust = ListTrust(trustedKeys: [key.publicKey], requireSigned: true)
            signaturePath = dir + "/new.csv.sig"
        }
        var hookRan = false
        let hooks = ImportHooks(betweenPasses: {
            hookRan = true
            // Another pupil served on card 1, and card 2's row valid a year longer: both
            // rows still valid, the file the same length.
            Self.overwrite(path, "\(Fixture.isrn(1)),\(Fixture.pupil(1))", with: "\(Fixture.isrn(1)),\(Fixture.pupil(9))")
            Self.overwrite(path, "\(Fixture.pupil(2)),fsm,2027-06-30", with: "\(Fixture.pupil(2)),fsm,2028-06-30")
        })
        #expect(throws: ListImportError.fileChanged(file: path)) {
            try store.importList(
                path: path, signaturePath: signaturePath, trust: trust, at: now, progress: nil, report: { _ in },
                hooks: hooks)
        }
        #expect(hookRan)
        // The list in force is the old one, and nothing of the new one is left staged.
        let after = try #require(try store.listStatus())
        #expect(after == before)
        #expect(try store.lookup(card: Fixture.isrn(1), at: now, policy: Fixture.policy).verdict.pupil == "OLD-0000001")
        let (lists, rows) = try store.pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM list_version"),
             try Int.fetchOne(db, sql: "SELECT count(*) FROM list_row"))
        }
        #expect(lists == 1 && rows == 6)
    }

    @Test func unsignedListChangedBetweenPassesIsRefused() throws {
        try changedBetweenPasses(signed: false)
    }

    @Test func signedListChangedBetweenPassesIsRefused() throws {
        try changedBetweenPasses(signed: true)
    }

    /// The same import with the file left alone installs it, and records the hash of the
    /// bytes installed.
    @Test func unchangedFileIsInstalledWithItsHash() throws {
        let (store, dir) = try Fixture.store()
        let text = Self.list(pupils: 50)
        Fixture.write(text, to: dir + "/new.csv")
        var hookRan = false
        let summary = try store.importList(
            path: dir + "/new.csv", signaturePath: nil, trust: ListTrust(), at: now, progress: nil, report: { _ in },
            hooks: ImportHooks(betweenPasses: { hookRan = true }))
        #expect(hookRan)
        #expect(summary.status.rows == 50)
        #expect(summary.status.sha256 == (try Self.sha256sum(dir + "/new.csv")))
        #expect(try store.lookup(card: Fixture.isrn(1), at: now, policy: Fixture.policy).verdict.pupil == Fixture.pupil(1))
    }

    /// The file's SHA-256 as sha256sum(1) computes it.
    static func sha256sum(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(String(decoding: data, as: UTF8.self).prefix(64))
    }

    /// SipHash-2-4's published test vectors (key 00..0f, messages 00, 00 01, ...).
    @Test func sipHashVectors() {
        let k0: UInt64 = 0x0706_0504_0302_0100, k1: UInt64 = 0x0f0e_0d0c_0b0a_0908
        func hash(_ n: Int, split: Int? = nil) -> UInt64 {
            let message = (0..<n).map { UInt8($0) }
            var h = SipHash24(k0: k0, k1: k1)
            message.withUnsafeBufferPointer { all in
                let cut = split ?? n
                h.update(UnsafeBufferPointer(rebasing: all[0..<cut]))
                h.update(UnsafeBufferPointer(rebasing: all[cut..<n]))
            }
            return h.finalize()
        }
        #expect(hash(0) == 0x726f_db47_dd0e_0e31)
        #expect(hash(1) == 0x74f8_39c5_93dc_67fd)
        #expect(hash(15) == 0xa129_ca61_49be_45e5)
        #expect(hash(15, split: 3) == 0xa129_ca61_49be_45e5)
        #expect(hash(63, split: 13) == hash(63))
    }
}

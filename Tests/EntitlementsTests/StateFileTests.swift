import Foundation
import Testing
@testable import Entitlements

/// The database holds pupil references: whoever creates it, it is readable by its owner only.
@Suite(.serialized) struct StateFileTests {
    func permissions(_ path: String) -> mode_t? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    @Test func aNewDatabaseAndItsWALAndSHMAre0600UnderAnOpenUmask() throws {
        let dir = Fixture.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A login's usual umask (necctl run by hand); the store must not rely on it.
        let saved = umask(0o022)
        defer { umask(saved) }
        let path = dir + "/necd.sqlite"
        let store = try EntitlementStore(path: path)
        Fixture.write("card,pupil,entitlement\n\(Fixture.isrn(1)),\(Fixture.pupil(1)),fsm\n", to: dir + "/list.csv")
        try store.importList(path: dir + "/list.csv")
        _ = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: nil, role: .till, at: Date(), policy: Fixture.policy)
        for file in [path, path + "-wal", path + "-shm"] {
            #expect(permissions(file) == 0o600, "\(file)")
        }
    }

    @Test func anExistingDatabaseKeepsItsMode() throws {
        let dir = Fixture.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/necd.sqlite"
        _ = try EntitlementStore(path: path)
        // A technician chose 0640 for a reporting group: opening it again changes nothing.
        chmod(path, 0o640)
        _ = try EntitlementStore(path: path)
        #expect(permissions(path) == 0o640)
    }
}

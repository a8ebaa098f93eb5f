import Foundation
import Glibc
import NECTestSupport
import Testing
import VirtualCard

/// What docs/configuration.md ("Reloading"), necd(8) and necd.toml(5) say of SIGHUP,
/// `stale_list_policy`, `event_retention` and STATUS, against a real necd: its
/// configuration file, SIGHUP, its SQLite journal, its socket, and taps through pcscd.
/// The list's or events' age is made by moving their stored times back (python3's
/// sqlite3, while necd is stopped or before it starts), not by a clock.
@Suite(.serialized, .needsRig)
struct ReloadEndToEndTests {
    /// Rows in `DaemonFixture.listCSV`.
    static let listRows = 11

    @Test func sighupAppliesTheListsAgeRulesToTheNextTapAndToStatus() async throws {
        let d = try DaemonFixture(extraConfiguration: #"stale_list_policy = "allow""#)
        // Eight days old: past the default max_list_age of 7.
        try d.sql("UPDATE list_version SET imported_at_ms = imported_at_ms - 8 * 86400000")
        try await d.start()
        let watch = try d.watcher()
        let before = try d.status()
        #expect(before["list_stale"] as? Bool == true, "\(before)")
        #expect((before["list_age"] as? Double).map { $0 >= 8 * 86_400 } == true, "\(before)")
        try await d.layAndLift(DaemonFixture.card(DaemonFixture.lunchCard))
        let allowed = try d.decision(watch)
        #expect(allowed["decision"] as? String == "authorised")
        #expect(allowed["list_stale"] as? Bool == true)

        try d.configure(#"stale_list_policy = "decline""#)
        try await d.reload()
        try await d.layAndLift(DaemonFixture.card(DaemonFixture.paidCard))
        let declined = try d.decision(watch)
        #expect(declined["decision"] as? String == "declined")
        #expect(declined["reason"] as? String == "list_stale")
        #expect(declined["list_stale"] as? Bool == true)
        #expect(try d.status()["list_stale"] as? Bool == true)
        let lookup = try d.ask(#"{"cmd":"lookup","card":"\#(DaemonFixture.secondLunchCard.digits)"}"#)
        #expect(lookup["reason"] as? String == "list_stale", "\(lookup)")

        // Thirty days allow the eight-day-old list: fresh again, for STATUS and the next tap.
        try d.configure("stale_list_policy = \"decline\"\nmax_list_age = 30")
        try await d.reload()
        #expect(try d.status()["list_stale"] as? Bool == false)
        try await d.layAndLift(DaemonFixture.card(DaemonFixture.secondLunchCard))
        let fresh = try d.decision(watch)
        #expect(fresh["kind"] as? String == "lunch")
        #expect(fresh["list_stale"] == nil)
    }

    @Test func aBadFileOnSighupKeepsTheSettingsInForceAndTheLogSaysWhy() async throws {
        let d = try DaemonFixture(extraConfiguration: #"stale_list_policy = "decline""#)
        try d.sql("UPDATE list_version SET imported_at_ms = imported_at_ms - 8 * 86400000")
        try await d.start()
        let watch = try d.watcher()

        try d.configure(#"stale_list_policy = "refuse""#)
        try await d.reload()
        try "stale_list_policy = \n".write(toFile: d.configPath, atomically: true, encoding: .utf8)
        try await d.reload()
        let refusals = (d.daemon?.stderr ?? "").split(separator: "\n").filter { $0.contains("keeping the settings in force") }
        #expect(refusals.count == 2, "\(d.daemon?.stderr ?? "")")
        #expect(refusals.first?.contains("stale_list_policy") == true, "\(refusals)")
        #expect(d.logCount("configuration reloaded") == 0)

        // Still declining: the settings of the start stay.
        try await d.layAndLift(DaemonFixture.card(DaemonFixture.lunchCard))
        #expect(try d.decision(watch)["reason"] as? String == "list_stale")
        #expect(try d.status()["list_stale"] as? Bool == true)
        #expect(d.daemon?.isRunning == true)
    }

    @Test func theSocketAndTheDatabaseChangeOnlyAtRestart() async throws {
        let d = try DaemonFixture()
        try await d.start()
        let other = (socket: d.directory + "/other.sock", database: d.directory + "/other.sqlite")
        try d.configure("", database: other.database, socket: other.socket)
        try await d.reload()
        #expect(d.logCount("take effect at the next restart") == 1)
        #expect(!FileManager.default.fileExists(atPath: other.socket))
        #expect(!FileManager.default.fileExists(atPath: other.database))
        // The socket and the database of the start: the list is there, taps are decided from it.
        #expect(try d.status()["list_rows"] as? Int == Self.listRows)
        let watch = try d.watcher()
        try await d.layAndLift(DaemonFixture.card(DaemonFixture.lunchCard))
        #expect(try d.decision(watch)["pupil"] as? String == "TEST-0001")

        #expect(await d.stopDaemon() == 0)
        try await d.start(socket: other.socket)
        #expect(!FileManager.default.fileExists(atPath: d.socketPath))
        // A new, empty database: no list, no events.
        let status = try d.ask(#"{"cmd":"status"}"#, socket: other.socket)
        #expect(status["list_rows"] == nil && status["last_seq"] == nil, "\(status)")
        #expect(FileManager.default.fileExists(atPath: other.database))
    }

    @Test func eventRetentionReachesThePruneAndOlderEventsAreNotReplayed() async throws {
        let d = try DaemonFixture(extraConfiguration: "event_retention = 30")
        try await d.start()
        var watch = try d.watcher()
        for card in [DaemonFixture.unknownCard, DaemonFixture.hotlistedCard] {
            try await d.layAndLift(DaemonFixture.card(card))
            _ = try d.decision(watch)
        }
        #expect(await d.stopDaemon() == 0)
        // Ten days old: kept by 30 days (necd prunes at start), pruned by 5.
        try d.sql("UPDATE event SET time_ms = time_ms - 10 * 86400000")
        try await d.start()
        watch = try d.watcher(since: 0)
        #expect(try received(watch).compactMap { $0["seq"] as? Int } == [1, 2])
        try await d.layAndLift(DaemonFixture.card(DaemonFixture.paidCard))
        #expect(try d.decision(watch)["seq"] as? Int == 3)

        try d.configure("event_retention = 5")
        try await d.reload()
        try await d.waitForLog("pruned 2 events older than event_retention", count: 1)
        let replay = try d.watcher(since: 0)
        #expect(try received(replay).compactMap { $0["seq"] as? Int } == [3])
        #expect(try d.status()["last_seq"] as? Int == 3)
        #expect(try d.ask(#"{"cmd":"void","seq":1}"#)["message"] as? String == "no event 1 (never written, or pruned)")
    }

    /// STATUS as docs/protocol.md describes it, from necd itself: the list's keys when
    /// there is a list, `last_seq` once there is an event, and neither otherwise; and
    /// `void`'s refusals.
    @Test func statusAndVoidFromTheRealDaemon() async throws {
        let d = try DaemonFixture()
        try await d.start()
        let first = try d.status()
        #expect(first["list_rows"] as? Int == Self.listRows, "\(first)")
        #expect(first["list_stale"] as? Bool == false)
        #expect((first["list_age"] as? Double).map { $0 >= 0 } == true, "\(first)")
        #expect(first["last_seq"] == nil)
        #expect(first["pcscd_connected"] as? Bool == true)
        // At least the fixture's two (the rig's others may still be arriving).
        #expect((first["reader_count"] as? Int).map { $0 >= 2 } == true, "\(first)")
        #expect(first["release"] is String && first["uptime"] is Double && first["clients"] is Int, "\(first)")

        let watch = try d.watcher()
        try await d.layAndLift(DaemonFixture.card(DaemonFixture.unknownCard))
        #expect(try d.decision(watch)["seq"] as? Int == 1)
        #expect(try d.status()["last_seq"] as? Int == 1)
        #expect(try d.ask(#"{"cmd":"void","seq":1}"#)["message"] as? String
            == "event 1 holds no lunch to release (not a lunch, or already voided)")
        #expect(try d.ask(#"{"cmd":"void","seq":2}"#)["message"] as? String == "no event 2 (never written, or pruned)")

        // No list and no events: those keys are absent, not zero or false.
        #expect(await d.stopDaemon() == 0)
        try d.configure("", database: d.directory + "/empty.sqlite")
        try await d.start()
        let empty = try d.status()
        #expect(Set(empty.keys) == ["class", "release", "uptime", "pcscd_connected", "reader_count", "clients"], "\(empty)")
    }
}

extension DaemonFixture {
    /// The answer to one request on a new connection (to the fixture's socket, or `socket`).
    func ask(_ request: String, socket: String? = nil) throws -> [String: Any] {
        let client = try LineSocket(path: socket ?? socketPath)
        guard client.readObject()?["class"] as? String == "VERSION" else { throw LineSocket.Failure(description: "no VERSION banner") }
        try client.send(request)
        return try #require(client.readObject(), "no answer to \(request)")
    }

    /// necd's STATUS answer.
    func status() throws -> [String: Any] { try ask(#"{"cmd":"status"}"#) }

    /// Runs one SQL statement on the fixture's database with python3's sqlite3 module.
    func sql(_ statement: String) throws {
        let script = "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute(sys.argv[2]); db.commit()"
        try Shell.run("/usr/bin/python3", "-c", script, databasePath, statement)
    }
}

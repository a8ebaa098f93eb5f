import Foundation
import GRDB
import NECTestSupport
import Testing
@testable import Entitlements

/// A child process recording decisions is killed with SIGKILL at random moments; a
/// disk fills up under a store. Both run `necd-store-torture`, built with the tests.
@Suite(.serialized) struct CrashTests {
    static let torture = Fixture.builtExecutable("necd-store-torture")

    func run(_ path: String, _ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        try p.run()
        return p
    }

    @Test(.needs("needs necd-store-torture built next to the tests (swift build --build-tests)") { torture != nil })
    func sigkillNeverGivesTwoLunches() throws {
        let exe = try #require(Self.torture)
        let pupils = 40
        let (store, dir) = try Fixture.store(
            list: Fixture.twoCardList(pupils: pupils), at: Fixture.utc("2026-11-23T08:00:00Z"))
        Fixture.write((1...pupils).flatMap { [Fixture.isrn($0), Fixture.uid($0)] }.joined(separator: "\n"), to: dir + "/cards")
        var rng = SystemRandomNumberGenerator()
        var killed = 0
        for _ in 0..<30 {
            let child = try run(exe, ["redeem-loop", store.path, dir + "/cards", "20000"])
            // Pacing, not a wait: the kill lands at a random moment of the loop.
            usleep(UInt32.random(in: 20_000...250_000, using: &rng))
            if child.isRunning {
                kill(child.processIdentifier, SIGKILL)
                killed += 1
            }
            child.waitUntilExit()
            if child.terminationReason == .exit { #expect(child.terminationStatus == 0) }
        }
        #expect(killed > 0)
        try checkInvariants(store)
    }

    /// No pupil has two lunches on one day; every redemption has its lunch event and
    /// every lunch event at a till its redemption.
    func checkInvariants(_ store: EntitlementStore) throws {
        let (lunchEvents, redemptions) = try store.pool.read { db in
            (
                try Row.fetchAll(db, sql: "SELECT seq, pupil, time_ms FROM event WHERE class = 'TAP' AND kind = 'lunch'"),
                try Row.fetchAll(db, sql: "SELECT pupil, day, seq FROM redemption")
            )
        }
        #expect(!lunchEvents.isEmpty)
        var perDay: [String: Int] = [:]
        var eventBySeq: [Int64: (String, Int)] = [:]
        for row in lunchEvents {
            let pupil: String = row[1]
            let day = Fixture.policy.localDate(of: Date(timeIntervalSince1970: Double(row[2] as Int64) / 1000)).daysSinceUnixEpoch
            perDay["\(pupil)/\(day)", default: 0] += 1
            eventBySeq[row[0]] = (pupil, day)
        }
        #expect(perDay.values.allSatisfy { $0 == 1 })
        #expect(redemptions.count == lunchEvents.count)
        for r in redemptions {
            let e = eventBySeq[r[2] as Int64]
            #expect(e?.0 == r[0] as String && e?.1 == r[1] as Int)
        }
    }

    @Test(
        .needs("needs necd-store-torture built next to the tests (swift build --build-tests)") { torture != nil },
        .needsRoot("mount a small tmpfs in a private namespace"), .needs(tool: "unshare", package: "util-linux"))
    func fullDiskDeclinesUnavailableAndLosesNothing() throws {
        let exe = try #require(Self.torture)
        let dir = Fixture.directory()
        Fixture.write(Fixture.twoCardList(pupils: 300), to: dir + "/list.csv")
        let mount = dir + "/small"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        // The tmpfs exists only in the child's mount namespace.
        p.arguments = ["-m", "sh", "-c", "mount -t tmpfs -o size=16m tmpfs \"$1\" && exec \"$2\" disk-full \"$1\" \"$3\"", "sh", mount, exe, dir + "/list.csv"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let report = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var fields: [String: String] = [:]
        for pair in report.split(separator: " ") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        #expect(fields["before"] == "150", "\(report)")
        #expect(Int(fields["unavailable"] ?? "0")! > 0, "\(report)")
        #expect(fields["lost"] == "0", "\(report)")
        #expect(fields["recovered"] == "lunch", "\(report)")
    }
}

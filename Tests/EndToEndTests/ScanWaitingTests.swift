import Foundation
import Glibc
import NECCard
import NECTestSupport
import Testing
import VirtualCard

/// `necctl scan` with no reader to watch says it is waiting, and says when a reader
/// comes. Part of `ScanEndToEndTests`, so it shares that suite's rig and runs one test
/// at a time.
extension ScanEndToEndTests {
    @Test func aReaderFilterMatchingNothingSaysItWaits() async throws {
        let filter = "No Such Reader*"
        let scan = try ChildProcess(BuiltProducts.executable("necctl"), ["scan", "--json", "--reader", filter])
        defer { scan.stop() }
        let names = (VirtualReaders.environment["NECD_VPCD_READERS"] ?? "").split(separator: "\n").map(String.init)
        let waiting = "Waiting for a reader matching '\(filter)'... (pcscd has: \(names.joined(separator: ", ")))\n"
        #expect(await scan.waitForStandardError(containing: waiting, timeout: .seconds(10)), "stderr: \(scan.stderr)")
        // The monitor's own report of each reader, marked as left out.
        let last = try #require(names.last)
        #expect(await scan.waitForStandardError(
            containing: "reader added: \(last) (does not match --reader '\(filter)': ignored)\n", timeout: .seconds(10)),
            "stderr: \(scan.stderr)")
        kill(scan.pid, SIGTERM)
        #expect(await scan.wait(timeout: .seconds(10)).status == 0)
        #expect(scan.outputLines.isEmpty)
        #expect(scan.stderr.components(separatedBy: "Waiting for a reader").count - 1 == 1)
        #expect(!scan.stderr.contains("waiting for cards"))
    }

    @Test func aPcscdWithNoReaderIsWaitedOnUntilOneAppears() async throws {
        let ctl = try #require(VirtualReaders.environment["NECD_PCSCD_CTL"])
        let pcscdPath = VirtualReaders.environment["NECD_PCSCD"] ?? "/usr/sbin/pcscd"
        try await VirtualReaders.waitUntilEmpty([reader])  // as scanOnce: the last card has gone
        // Swap the rig's pcscd for one with no reader configured at all.
        try Shell.run(ctl, "kill")
        var restarted = false
        defer { if !restarted { try? Shell.run(ctl, "start") } }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("necd-scan-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let emptyConfig = directory + "/reader.conf"
        try "".write(toFile: emptyConfig, atomically: true, encoding: .utf8)
        for leftover in ["/run/pcscd/pcscd.comm", "/run/pcscd/pcscd.pid"] { unlink(leftover) }
        let bare = try ChildProcess(pcscdPath, ["--foreground", "--config", emptyConfig])
        defer { bare.stop() }
        let deadline = ContinuousClock.now + .seconds(10)
        while !FileManager.default.fileExists(atPath: "/run/pcscd/pcscd.comm"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try #require(FileManager.default.fileExists(atPath: "/run/pcscd/pcscd.comm"), "pcscd: \(bare.stderr)")

        let scan = try ChildProcess(BuiltProducts.executable("necctl"), ["scan", "--reader", reader])
        defer { scan.stop() }
        let waiting = "Waiting for a reader matching '\(reader)'... (pcscd sees no reader)\n"
        #expect(await scan.waitForStandardError(containing: waiting, timeout: .seconds(10)), "stderr: \(scan.stderr)")

        // The rig's pcscd, with its readers, takes over: scan says the reader has come.
        kill(bare.pid, SIGKILL)
        _ = await bare.wait(timeout: .seconds(5)).status
        try Shell.run(ctl, "start")
        restarted = true
        let found = "reader added: \(reader)\nwaiting for cards (Ctrl-C to stop)\n"
        #expect(await scan.waitForStandardError(containing: found, timeout: .seconds(15)), "stderr: \(scan.stderr)")
        #expect(scan.stderr.components(separatedBy: "Waiting for a reader").count - 1 == 1,
                "stderr: \(scan.stderr)")

        // And it reads cards there.
        let isrn = syntheticISRN(13)
        try await VirtualCardRunner.tap(
            card: .desfireITSO(shell: VirtualShell(isrn: isrn, expiry: CivilDate(iso: "2031-03-31")!)), port: port,
            hold: .milliseconds(600))
        let shown = ContinuousClock.now + .seconds(10)
        while !scan.outputLines.contains("  ISRN    \(isrn.grouped)"), ContinuousClock.now < shown {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(scan.outputLines.contains("  ISRN    \(isrn.grouped)"), "stdout: \(scan.outputLines)")
        #expect(scan.outputLines.first?.hasPrefix("\(reader): card at ") == true, "stdout: \(scan.outputLines)")
    }
}

import Foundation
import NECCard
import NECTestSupport
import Testing
import VirtualCard

/// A synthetic ISRN (OID 9999) that passes Luhn: fixtures must not look like a real card.
func syntheticISRN(_ serial: Int) -> ISRN {
    var digits = "6335979999"
    let s = String(serial)
    digits += String(repeating: "0", count: 7 - s.count) + s
    let check = Luhn.checkDigit(for: digits.utf8.map { $0 - 48 })
    return ISRN(unchecked: digits + String(check))
}

/// `necctl scan` through a real pcscd and vpcd, tapped by VirtualCard.
@Suite(.serialized, .needsRig)
struct ScanEndToEndTests {
    let port = VirtualReaders.ports.first ?? 40960
    let reader = ProcessInfo.processInfo.environment["NECD_VPCD_READERS"]?.split(separator: "\n").first.map(String.init) ?? "Virtual Reader 00 00"

    /// Runs `necctl scan --once --json` on the first reader, taps `card`, and returns the
    /// JSON object printed and the exit status.
    func scanOnce(_ card: VirtualCardModel, hold: Duration = .milliseconds(600)) async throws -> ([String: Any], Int32) {
        // pcscd polls vpcd every 0.4 s: it may not yet have seen the previous test's card go.
        try await VirtualReaders.waitUntilEmpty([reader])
        let scan = try ChildProcess(BuiltProducts.executable("necctl"), ["scan", "--once", "--json", "--reader", reader])
        defer { scan.stop() }
        #expect(await scan.waitForStandardError(containing: "reader added: \(reader)", timeout: .seconds(10)))
        try await VirtualCardRunner.tap(card: card, port: port, hold: hold)
        let status = await scan.wait(timeout: .seconds(10)).status
        let lines = scan.outputLines
        try #require(lines.count == 1, "scan printed \(lines) stderr: \(scan.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        return (try #require(object), try #require(status))
    }

    func checks(_ json: [String: Any]) -> [String: Bool] {
        var out: [String: Bool] = [:]
        for c in json["checks"] as? [[String: Any]] ?? [] {
            if let n = c["name"] as? String, let ok = c["ok"] as? Bool { out[n] = ok }
        }
        return out
    }

    /// scan reads the Directory too: 3 APDUs for the identity, then file 0x00 (the standard
    /// geometry's 59 bytes and its InstanceID take two frames).
    @Test func desfireITSOIsIdentifiedAndItsDirectoryRead() async throws {
        let isrn = syntheticISRN(1)
        let shell = VirtualShell(isrn: isrn, expiry: CivilDate(iso: "2031-03-31")!)
        let (json, status) = try await scanOnce(.desfireITSO(uid: [0x04, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60], shell: shell))
        #expect(status == 0)
        #expect(json["reader"] as? String == reader)
        #expect(json["atr"] as? String == "3B8180018080")
        #expect(json["media"] as? String == "desfire")
        #expect(json["uid"] as? String == "04102030405060")
        #expect(json["uid_random"] as? Bool == false)
        #expect(json["isrn"] as? String == isrn.digits)
        #expect(json["isrn_grouped"] as? String == isrn.grouped)
        #expect(json["oid"] as? String == "9999")
        #expect(json["expiry"] as? String == "2031-03-31")
        #expect(json["apdus"] as? Int == 5)
        #expect(json["readable"] as? Bool == true)
        #expect(json["card_blocked"] as? Bool == false)
        #expect(json["directory"] as? String == "DESFire file 0x00")
        #expect(json["directory_sequence"] as? Int == 1)
        #expect(json["ins"] as? Int == 1)
        #expect(json["directory_error"] == nil)
        let c = checks(json)
        #expect(c["secrc"] == true && c["luhn"] == true && c["uid"] == true)
        #expect(!c.values.contains(false))
    }

    @Test func cmd2ITSOCard() async throws {
        let isrn = syntheticISRN(2)
        let shell = VirtualShell(isrn: isrn, expiry: CivilDate(iso: "2032-01-15")!)
        let (json, status) = try await scanOnce(.cmd2ITSO(shell: shell))
        #expect(status == 0)
        #expect(json["media"] as? String == "iso7816")
        #expect(json["isrn"] as? String == isrn.digits)
        #expect(json["expiry"] as? String == "2032-01-15")
        #expect(json["readable"] as? Bool == true)
    }

    @Test func mcrnIsShown() async throws {
        let isrn = syntheticISRN(3)
        let shell = VirtualShell(isrn: isrn, expiry: CivilDate(iso: "2033-06-30")!, mcrn: "99990000000000000042")
        let (json, status) = try await scanOnce(.desfireITSO(shell: shell))
        #expect(status == 0)
        #expect(json["mcrn"] as? String == "99990000000000000042")
        #expect(json["isrn"] as? String == isrn.digits)
    }

    @Test func classicGivesUIDOnly() async throws {
        let (json, status) = try await scanOnce(.classic1K(uid: [0x9A, 0x01, 0x02, 0x03]))
        #expect(status == 0)
        #expect(json["media"] as? String == "classic")
        #expect(json["uid"] as? String == "9A010203")
        #expect(json["isrn"] == nil)
        #expect(json["readable"] as? Bool == true)
        #expect(json["apdus"] as? Int == 1)
        #expect((json["atr_meaning"] as? String)?.contains("Classic 1K") == true)
    }

    @Test func randomUIDIsFlaggedAndUnreadable() async throws {
        let (json, status) = try await scanOnce(.desfireRandomUID())
        #expect(status == 0)
        #expect(json["uid_random"] as? Bool == true)
        #expect((json["uid"] as? String)?.hasPrefix("08") == true)
        #expect(json["isrn"] == nil)
        #expect(json["readable"] as? Bool == false)
    }

    @Test func desfireWithoutITSOIsIdentifiedByUID() async throws {
        let (json, status) = try await scanOnce(.desfireWithoutITSO(uid: [0x04, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22]))
        #expect(status == 0)
        #expect(json["uid"] as? String == "04776655443322")
        #expect(json["isrn"] == nil)
        #expect(json["readable"] as? Bool == true)
    }

    @Test func badSECRCFailsTheCheck() async throws {
        let shell = VirtualShell(isrn: syntheticISRN(4), expiry: CivilDate(iso: "2031-03-31")!)
        let (json, _) = try await scanOnce(VirtualCardModel.desfireITSO(shell: shell).with(.badSECRC))
        #expect(checks(json)["secrc"] == false)
        #expect(json["isrn"] == nil)
        #expect(json["readable"] as? Bool == false)
    }

    @Test func badLuhnFailsTheCheck() async throws {
        let shell = VirtualShell(isrn: syntheticISRN(5), expiry: CivilDate(iso: "2031-03-31")!)
        let (json, _) = try await scanOnce(VirtualCardModel.desfireITSO(shell: shell).with(.badLuhn))
        #expect(checks(json)["luhn"] == false)
        #expect(json["readable"] as? Bool == false)
    }

    @Test func garbageAnswersGiveNoISRN() async throws {
        let shell = VirtualShell(isrn: syntheticISRN(6), expiry: CivilDate(iso: "2031-03-31")!)
        let (json, _) = try await scanOnce(VirtualCardModel.desfireITSO(shell: shell).with(.garbage(seed: 42)))
        #expect(json["isrn"] == nil)
        #expect(json["readable"] as? Bool == false)
    }

    @Test func slowCardStillReads() async throws {
        let isrn = syntheticISRN(7)
        let shell = VirtualShell(isrn: isrn, expiry: CivilDate(iso: "2031-03-31")!)
        let (json, status) = try await scanOnce(
            VirtualCardModel.desfireITSO(shell: shell).with(.delay(.milliseconds(80))), hold: .seconds(1))
        #expect(status == 0)
        #expect(json["isrn"] as? String == isrn.digits)
        #expect((json["read_ms"] as? Double ?? 0) >= 160)
    }

    @Test func cardRemovedAfterOneAPDUGivesAnErrorAndNoIdentity() async throws {
        let shell = VirtualShell(isrn: syntheticISRN(8), expiry: CivilDate(iso: "2031-03-31")!)
        let (json, status) = try await scanOnce(VirtualCardModel.desfireITSO(shell: shell).with(.removeAfter(apdus: 1)))
        #expect(status == 1)
        #expect(json["error"] is String)
        #expect(json["isrn"] == nil)
        #expect(json["uid"] == nil)
        #expect(json["checks"] == nil)
    }

    @Test func scanSurvivesAPcscdRestart() async throws {
        let ctl = try #require(VirtualReaders.environment["NECD_PCSCD_CTL"])
        try await VirtualReaders.waitUntilEmpty([reader])
        let scan = try ChildProcess(BuiltProducts.executable("necctl"), ["scan", "--json", "--reader", reader])
        defer { scan.stop() }
        #expect(await scan.waitForStandardError(containing: "reader added: \(reader)", timeout: .seconds(10)))
        try Shell.run(ctl, "kill")
        #expect(await scan.waitForStandardError(containing: "pcscd unreachable", timeout: .seconds(10)))
        try Shell.run(ctl, "start")
        #expect(await scan.waitForStandardError(containing: "pcscd reachable again", timeout: .seconds(15)))
        // The reader is listed again once the new context has it.
        let added = scan.stderr.components(separatedBy: "reader added: \(reader)").count - 1
        let deadline = ContinuousClock.now + .seconds(10)
        while scan.stderr.components(separatedBy: "reader added: \(reader)").count - 1 < 2,
              ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(added >= 1)
        let isrn = syntheticISRN(9)
        let shell = VirtualShell(isrn: isrn, expiry: CivilDate(iso: "2031-03-31")!)
        try await VirtualCardRunner.tap(card: .desfireITSO(shell: shell), port: port, hold: .milliseconds(600))
        // The line for this card (a card left over from an earlier test may come first).
        let deadline2 = ContinuousClock.now + .seconds(10)
        var found = false
        while !found, ContinuousClock.now < deadline2 {
            found = scan.outputLines.contains { $0.contains(#""isrn":"\#(isrn.digits)""#) }
            if !found { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(found, "scan printed \(scan.outputLines); stderr: \(scan.stderr)")
        #expect(scan.isRunning)
    }
}

/// Runs a command and waits for it. posix_spawn and waitpid: Foundation's Process left
/// the rig's pcscd control command a zombie with waitUntilExit hanging.
enum Shell {
    struct Failed: Error { let status: Int32 }

    static func run(_ command: String, _ arguments: String...) throws {
        let args = [command] + arguments
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, command, nil, nil, argv, environ)
        guard spawned == 0 else { throw Failed(status: spawned) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        if status != 0 { throw Failed(status: status) }
    }
}

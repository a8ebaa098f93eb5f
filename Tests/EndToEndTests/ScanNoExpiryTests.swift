import Foundation
import NECCard
import NECTestSupport
import Testing
import VirtualCard

/// `necctl scan` of a card whose ITSO shell stores expiry day 0 ("no expiry"). Part of
/// `ScanEndToEndTests`, so it shares that suite's rig and runs one test at a time.
extension ScanEndToEndTests {
    /// Runs `necctl scan --once` (text) on the first reader, taps `card`, returns stdout.
    func scanOnceText(_ card: VirtualCardModel) async throws -> (String, Int32) {
        try await VirtualReaders.waitUntilEmpty([reader])  // as scanOnce: the last card has gone
        let scan = try ChildProcess(BuiltProducts.executable("necctl"), ["scan", "--once", "--reader", reader])
        defer { scan.stop() }
        #expect(await scan.waitForStandardError(containing: "reader added: \(reader)", timeout: .seconds(10)))
        try await VirtualCardRunner.tap(card: card, port: port, hold: .milliseconds(600))
        let status = await scan.wait(timeout: .seconds(10)).status
        return (scan.outputLines.joined(separator: "\n"), try #require(status))
    }

    @Test func aNoExpiryCardSaysSoInJSON() async throws {
        let isrn = syntheticISRN(10)
        let (json, status) = try await scanOnce(.desfireITSO(shell: VirtualShell(isrn: isrn, expiry: nil)))
        #expect(status == 0)
        #expect(json["isrn"] as? String == isrn.digits)
        #expect(json["expiry"] == nil)
        #expect(json["no_expiry"] as? Bool == true)
        #expect(json["expired"] as? Bool == false)
        #expect(json["readable"] as? Bool == true)
        #expect(!checks(json).values.contains(false))
    }

    @Test func aDateBehindTheReservedBitsIsStillTheDate() async throws {
        let isrn = syntheticISRN(11)
        let shell = VirtualShell(isrn: isrn, expiry: CivilDate(iso: "2031-03-31")!, reservedBits: 3)
        let (json, status) = try await scanOnce(.desfireITSO(shell: shell))
        #expect(status == 0)
        #expect(json["expiry"] as? String == "2031-03-31")
        #expect(json["expired"] as? Bool == false)
        #expect(json["no_expiry"] == nil)
    }

    @Test func aNoExpiryCardSaysSoInText() async throws {
        let isrn = syntheticISRN(12)
        let (text, status) = try await scanOnceText(.cmd2ITSO(shell: VirtualShell(isrn: isrn, expiry: nil)))
        #expect(status == 0)
        #expect(text.contains("\n  ISRN    \(isrn.grouped)\n"), "scan printed:\n\(text)")
        #expect(text.contains("\n  expiry  none (ITSO day 0: no expiry)\n"), "scan printed:\n\(text)")
        #expect(text.contains("\n  verdict readable\n"), "scan printed:\n\(text)")
    }
}

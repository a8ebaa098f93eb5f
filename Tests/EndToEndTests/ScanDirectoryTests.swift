import Foundation
import NECCard
import NECTestSupport
import Testing
import VirtualCard

/// `necctl scan` and the ITSO Directory, MIFARE Classic and random IDs, through pcscd and vpcd.
extension ScanEndToEndTests {
    @Test func blockedCMD2CardTakesTheNewerCopyAcrossTheWrap() async throws {
        let isrn = syntheticISRN(21)
        let model = VirtualCardModel.cmd2ITSO(shell: VirtualShell(isrn: isrn, expiry: CivilDate(iso: "2031-03-31")!))
            .withDirectory(VirtualDirectory(sequence: 0xFF), otherCopy: VirtualDirectory(blocked: true, sequence: 0x00, shellIteration: 3))
        let (json, status) = try await scanOnce(model)
        #expect(status == 0)
        #expect(json["card_blocked"] as? Bool == true)
        #expect(json["directory"] as? String == "CMD2 sector 14")
        #expect(json["directory_sequence"] as? Int == 0)
        #expect(json["ins"] as? Int == 3)
        #expect(json["apdus"] as? Int == 8)
        // scan reports; it does not decide.
        #expect(json["readable"] as? Bool == true)
    }

    @Test func aMissingDirectoryIsReportedAndTheCardStaysReadable() async throws {
        let model = VirtualCardModel.desfireITSO(shell: VirtualShell(isrn: syntheticISRN(22), expiry: nil)).withDirectory(nil)
        let (json, status) = try await scanOnce(model)
        #expect(status == 0)
        #expect(json["card_blocked"] == nil)
        #expect(json["directory_error"] as? String == "reading directory file 0x00: file not found (91 F0)")
        #expect(json["readable"] as? Bool == true)
        #expect(json["apdus"] as? Int == 4)
    }

    @Test func largeGeometryCMD2Card() async throws {
        var truth = VirtualCardTruth()
        truth.largeGeometry = true
        truth.blocked = true
        let model = truth.apply(to: .cmd2ITSO(shell: VirtualShell(isrn: syntheticISRN(23), expiry: nil)))
        let (json, status) = try await scanOnce(model)
        #expect(status == 0)
        #expect(json["card_blocked"] as? Bool == true)
        #expect(json["directory"] as? String == "CMD2 sector 63")
        #expect(json["directory_sequence"] as? Int == 1)
    }

    @Test func classic4KSaysItsITSODataIsNotRead() async throws {
        let (json, status) = try await scanOnce(.classic4K(uid: [0x9A, 0x04, 0x05, 0x06]))
        #expect(status == 0)
        #expect(json["media"] as? String == "classic")
        #expect(json["uid"] as? String == "9A040506")
        #expect((json["atr_meaning"] as? String)?.contains("Classic 4K") == true)
        #expect(json["itso_not_read"] as? String == "not read: MIFARE Classic ITSO sectors need keys necd does not have; the UID is all it reads")
        #expect(json["card_blocked"] == nil)
        #expect(json["apdus"] as? Int == 1)
    }

    @Test func classicTextSaysItsITSODataIsNotRead() async throws {
        try await VirtualReaders.waitUntilEmpty([reader])
        let scan = try ChildProcess(BuiltProducts.executable("necctl"), ["scan", "--once", "--reader", reader])
        defer { scan.stop() }
        #expect(await scan.waitForStandardError(containing: "reader added: \(reader)", timeout: .seconds(10)))
        try await VirtualCardRunner.tap(card: .classic1K(), port: port, hold: .milliseconds(600))
        #expect(await scan.wait(timeout: .seconds(10)).status == 0)
        let text = scan.outputLines.joined(separator: "\n")
        #expect(text.contains("  ITSO    not read: MIFARE Classic ITSO sectors need keys necd does not have; the UID is all it reads"), "\(text)")
        #expect(!text.contains("blocked"), "\(text)")
    }

    @Test func blockedDESFireTextShowsBlockedINSAndSequence() async throws {
        try await VirtualReaders.waitUntilEmpty([reader])
        let scan = try ChildProcess(BuiltProducts.executable("necctl"), ["scan", "--once", "--reader", reader])
        defer { scan.stop() }
        #expect(await scan.waitForStandardError(containing: "reader added: \(reader)", timeout: .seconds(10)))
        let model = VirtualCardModel.desfireITSO(shell: VirtualShell(isrn: syntheticISRN(24), expiry: nil))
            .withDirectory(VirtualDirectory(blocked: true, sequence: 0x2A, shellIteration: 5))
        try await VirtualCardRunner.tap(card: model, port: port, hold: .milliseconds(600))
        #expect(await scan.wait(timeout: .seconds(10)).status == 0)
        let text = scan.outputLines.joined(separator: "\n")
        #expect(text.contains("  blocked YES: the issuer has blocked this card"), "\(text)")
        #expect(text.contains("  INS#    5"), "\(text)")
        #expect(text.contains("  DIRS#   42   (directory in DESFire file 0x00)"), "\(text)")
    }

    @Test func randomIDOfEachGenerationIsNeverShownAsTheIdentity() async throws {
        for generation in VirtualCardModel.DESFireGeneration.allCases {
            let isrn = syntheticISRN(30 + Int(generation.rawValue))
            let model = VirtualCardModel.desfireRandomUID(shell: VirtualShell(isrn: isrn, expiry: nil), generation: generation)
            let (json, status) = try await scanOnce(model)
            #expect(status == 0)
            #expect(json["uid_random"] as? Bool == true)
            #expect(json["isrn"] as? String == isrn.digits)
            #expect(json["readable"] as? Bool == true)
        }
    }
}

import Foundation
import NECCard
import NECTestSupport
import Testing
import VirtualCard

// Card numbers, UIDs and pupil references belong to children: necd's own output, at every
// level down to trace, holds card numbers and UIDs only masked and pupil references not at
// all (necd(8), LOGGING).
extension DaemonEndToEndTests {
    @Test func necdsOutputAtTraceLevelHoldsNoCardNumberUIDOrPupilReference() async throws {
        let m = try MoneyFixture()
        try await m.base.start(environment: ["NECD_LOG_LEVEL": "trace"])
        let watch = try m.base.watcher()
        let till = try m.till()

        // Cards with UIDs of their own, so a UID found in the log can only be from a tap.
        let lunchUID: [UInt8] = [0x04, 0x4C, 0x6F, 0x67, 0x50, 0x72, 0x69]
        let hotlistedUID: [UInt8] = [0x04, 0x4C, 0x6F, 0x67, 0x48, 0x6F, 0x74]
        let unknownUID: [UInt8] = [0x04, 0x4C, 0x6F, 0x67, 0x4E, 0x6F, 0x6E]
        let classicUID: [UInt8] = [0xC1, 0x0A, 0x55, 0x7E]
        let unknownCard = syntheticISRN(298)
        let nec = { (uid: [UInt8], isrn: ISRN) in
            VirtualCardModel.desfireITSO(uid: uid, shell: VirtualShell(isrn: isrn, expiry: CivilDate(iso: "2035-07-31")))
        }
        let taps: [(VirtualCardModel, decision: String)] = [
            (nec(lunchUID, MoneyFixture.lunchOnlyCard), "authorised"),
            (nec(hotlistedUID, MoneyFixture.blockedCards[0]), "declined"),
            (nec(unknownUID, unknownCard), "declined"),
            (.classic1K(uid: classicUID), "declined"),
        ]
        for (card, decision) in taps {
            try await m.base.tap(card, port: m.tillPort)
            let event = try m.base.decision(watch)
            #expect(event["decision"] as? String == decision, "\(fields(event))")
        }
        #expect(try till.redeem(MoneyFixture.manualFirst)["decision"] as? String == "authorised")
        #expect(try till.charge(MoneyFixture.limited, 120, txn: "privacy-1")["decision"] as? String == "authorised")
        #expect(try till.charge(MoneyFixture.poor, 500, txn: "privacy-2")["decision"] as? String == "declined")
        let daemon = try #require(m.base.daemon)
        #expect(await m.base.stopDaemon() == 0)
        let output = daemon.stdout + daemon.stderr

        // The log is there, at every level: a trace or debug line, and each tap's masked card.
        #expect(output.contains("client connected"), "no debug line in: \(output)")
        for isrn in [MoneyFixture.lunchOnlyCard, MoneyFixture.blockedCards[0], unknownCard] {
            #expect(output.contains(isrn.masked), "no \(isrn.masked) in: \(output)")
        }
        #expect(output.contains(ISRN.mask(Hex.string(classicUID))), "no masked UID in: \(output)")

        // No 18- or 19-digit number (an ISRN), whole or inside a longer run of digits.
        let digitRuns = output.split { !$0.isNumber }.filter { $0.count >= 18 }
        #expect(digitRuns.isEmpty, "card numbers in necd's output: \(digitRuns)")
        // No full UID, however it is spelled.
        for uid in [lunchUID, hotlistedUID, unknownUID, classicUID] {
            let hex = Hex.string(uid)
            for spelling in [hex.uppercased(), hex.lowercased(), uid.map { String(format: "%02X", $0) }.joined(separator: " ")] {
                #expect(!output.localizedCaseInsensitiveContains(spelling), "UID \(spelling) in necd's output")
            }
        }
        // No pupil reference, not even masked (as the `pupil=` metadata once had it).
        #expect(!output.contains("pupil="), "a pupil in necd's output")
        let pupils = MoneyFixture.listCSV.split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[1]) }
        #expect(pupils.count > 10)
        for pupil in Set(pupils) {
            #expect(!output.contains(pupil), "pupil reference \(pupil) in necd's output")
        }
    }
}

import Foundation
import NECCard
import NECTestSupport
import Testing
import VirtualCard

/// The whole path through a real pcscd and its vpcd driver, checked with pcsc-tools'
/// `scriptor`. Runs only where `NECD_TEST_PCSCD` is set, meaning a pcscd with a vpcd
/// reader (the first of `NECD_VPCD_READERS`) listening on the first port of
/// `NECD_VPCD_PORTS` is running for this test alone.
@Suite(.serialized, .needsRig)
struct PCSCDEndToEndTests {
    let environment = ProcessInfo.processInfo.environment
    // The rig (scripts/with-virtual-readers) exports its ports and reader names.
    var port: UInt16 {
        environment["NECD_VPCD_PORTS"]?.split(separator: ",").first.flatMap { UInt16($0) } ?? 40960
    }
    var reader: String {
        environment["NECD_VPCD_READERS"]?.split(separator: "\n").first.map(String.init) ?? "Virtual Reader 00 00"
    }

    @Test func scriptorReadsTheShellThroughPcscd() async throws {
        let session = try await VirtualCardSession.insert(.desfireITSO(shell: exampleShell), port: port)
        try await waitUntilPowered(session)
        let output = try await runScriptor([
            "FF CA 00 00 00", "90 5A 00 00 03 16 02 A0 00", "90 BD 00 00 07 0F 00 00 00 00 00 00 00",
        ])
        let stats = await session.remove()
        #expect(output.contains("04 11 22 33 44 55 66 90 00"), "\(output)")
        #expect(output.contains("< 91 00"), "\(output)")
        #expect(output.contains("70 0D 00 00"), "\(output)")
        #expect(stats.apdusAnswered == 3)
        if let first = stats.firstCommandAt, let last = stats.lastAnsweredAt {
            print("vcard e2e: 3 APDUs through pcscd, first command to last answer \(last.instant - first.instant)")
        }
    }

    @Test func cmd2AndClassicATRsAreAccepted() async throws {
        for model in [VirtualCardModel.cmd2ITSO(shell: exampleShell), .classic1K()] {
            let session = try await VirtualCardSession.insert(model, port: port)
            try await waitUntilPowered(session)
            let output = try await runScriptor(["FF CA 00 00 00", "00 A4 04 00 0B A0 00 00 02 16 49 54 53 4F 2D 31 00"])
            await session.remove()
            let uid = model.chip == .classic1K ? "11 22 33 44 90 00" : "04 11 22 33 44 55 66 90 00"
            #expect(output.contains(uid), "\(output)")
            #expect(output.contains(model.chip == .classic1K ? "< 6D 00" : "6F 2D 84 0B"), "\(output)")
        }
    }

    @Test func removalFaultReachesTheApplication() async throws {
        let session = try await VirtualCardSession.insert(
            VirtualCardModel.desfireITSO(shell: exampleShell).with(.removeAfter(apdus: 1)), port: port)
        try await waitUntilPowered(session)
        let output = try await runScriptor(["FF CA 00 00 00", "90 5A 00 00 03 16 02 A0 00"])
        let stats = await session.ended()
        #expect(stats.ending == .removalFault(afterAPDUs: 1))
        #expect(!output.contains("< 91 00"), "\(output)")
        print("vcard e2e: scriptor after removal fault: \(output.split(separator: "\n").suffix(2))")
    }

    /// pcscd polls vpcd every 400 ms and powers the card on when it sees it. The deadline
    /// only stops a hung test: on a loaded 2-core machine pcscd has been seen to take over
    /// 5 s to notice a card laid right after the previous one was lifted.
    private func waitUntilPowered(_ session: VirtualCardSession) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while session.statistics.poweredAt == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        try #require(session.statistics.poweredAt != nil, "pcscd never powered the virtual card on")
    }

    /// Runs scriptor on a thread of its own: waiting for it must not hold a cooperative thread.
    private func runScriptor(_ commands: [String]) async throws -> String {
        let reader = self.reader
        return try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/usr/bin/scriptor")
                    process.arguments = ["-r", reader]
                    let input = Pipe()
                    let output = Pipe()
                    process.standardInput = input
                    process.standardOutput = output
                    process.standardError = output
                    try process.run()
                    input.fileHandleForWriting.write(Data((commands.joined(separator: "\n") + "\n").utf8))
                    try input.fileHandleForWriting.close()
                    let data = output.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    return String(decoding: data, as: UTF8.self)
                })
            }.start()
        }
    }
}

import PropertyBased
import Testing
@testable import NECCard

/// The reader's Directory reads, against scripted cards: exact commands, and what a
/// Directory that cannot be had does with each policy.
@Suite struct DirectoryReadTests {
    static let ok: [UInt8] = [0x91, 0x00]
    /// Flipso's demo geometry (E# 8, SCTL 7): 50 bytes, 55 with the InstanceID, one frame.
    static let readDirectory = DESFire.readData(file: 0x00, length: 55)
    static let reselect = hex("00 A4 04 0C 0B A0 00 00 02 16 49 54 53 4F 2D 31")
    static let readBinary = hex("00 B0 81 00 00")

    func desfire(shell: [UInt8], directory: [UInt8: [[UInt8]]]) -> ScriptedTransport {
        var answers: [[UInt8]: [[UInt8]]] = [
            Commands.getUID: [nxpUID + [0x90, 0x00]], Commands.selectITSO: [Self.ok], Commands.readShell: [shell + Self.ok],
        ]
        for (length, queue) in directory { answers[DESFire.readData(file: 0x00, length: Int(length))] = queue }
        return ScriptedTransport(answers)
    }

    @Test func desfireReadsTheDirectoryInOneCommandOnlyWhenAsked() throws {
        var card = desfire(shell: FlipsoDemo.activeShell, directory: [55: [FlipsoDemo.activeDirectory + Self.ok]])
        let plain = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(card.sent == [Commands.getUID, Commands.selectITSO, Commands.readShell])
        #expect(plain.directory == .notRead)
        #expect(plain.cardBlocked == nil)
        for policy in [CardReader.DirectoryPolicy.require, .inform] {
            var card = desfire(shell: FlipsoDemo.activeShell, directory: [55: [FlipsoDemo.activeDirectory + Self.ok]])
            let id = try CardReader.read(atr: ATRs.desfire, transport: &card, directory: policy)
            #expect(card.sent == [Commands.getUID, Commands.selectITSO, Commands.readShell, Self.readDirectory])
            #expect(id.apduCount == 4)
            #expect(id.cardBlocked == false)
            #expect(id.isReadable)
            guard case .read(let directory, let location) = id.directory else {
                Issue.record("\(id.directory)")
                continue
            }
            #expect(location == "DESFire file 0x00")
            #expect(directory.shellIteration == 0)
        }
    }

    @Test func aShortFileIsReadToItsEnd() throws {
        // The blocked demo has no InstanceID: asking for 55 bytes is a boundary error.
        var card = desfire(shell: FlipsoDemo.blockedShell, directory: [
            55: [[0x91, 0xBE]], 0: [FlipsoDemo.blockedDirectory + Self.ok],
        ])
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card, directory: .require)
        #expect(card.sent.suffix(2) == [Self.readDirectory, DESFire.readData(file: 0x00)])
        #expect(id.cardBlocked == true)
        #expect(id.isReadable)
    }

    @Test func aDirectoryThatCannotBeReadFailsOnlyARequiredCheck() throws {
        for (answer, reason) in [
            ([UInt8]([0x91, 0xF0]), "reading directory file 0x00: file not found (91 F0)"),
            (Array(FlipsoDemo.activeDirectory.prefix(20)) + Self.ok, "directory in file 0x00: directory is truncated: the shell's geometry needs 50 bytes, it has 20"),
        ] {
            var informed = desfire(shell: FlipsoDemo.activeShell, directory: [55: [answer]])
            let scan = try CardReader.read(atr: ATRs.desfire, transport: &informed, directory: .inform)
            #expect(scan.directory == .failed(reason))
            #expect(scan.isReadable)
            #expect(scan.cardBlocked == nil)
            var required = desfire(shell: FlipsoDemo.activeShell, directory: [55: [answer]])
            let tap = try CardReader.read(atr: ATRs.desfire, transport: &required, directory: .require)
            #expect(tap.unreadableReason == reason)
            #expect(tap.checks.last == Check("directory", ok: false, reason: reason))
        }
    }

    @Test func aShellThatFailsItsChecksIsNotFollowedToItsDirectory() throws {
        var bad = FlipsoDemo.activeShell
        bad[23] ^= 0xFF
        var card = desfire(shell: bad, directory: [55: [FlipsoDemo.activeDirectory + Self.ok]])
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card, directory: .require)
        #expect(card.sent.count == 3)
        #expect(id.directory == .absent)
    }

    @Test func cmd2FallsBackToTheCopyThatDecodes() throws {
        // Sector 14 (S-2) has the newer DIRS# but is truncated: sector 15's copy is used.
        var newer = FlipsoDemo.blockedDirectory
        newer[49] = 0x12
        var card = ScriptedTransport([
            Commands.getUID: [nxpUID + [0x90, 0x00]], Commands.selectITSO: [[0x6E, 0x00]],
            Commands.selectCMD2: [fci(shell: FlipsoDemo.activeShell, parameters: hex("C3 01 02")) + [0x90, 0x00]],
            CMD2.selectSector(14): [[0x90, 0x00]], CMD2.selectSector(15): [[0x90, 0x00]],
            CMD2.readStorage(sfi: 2): [Array(newer.prefix(30)) + [0x90, 0x00], FlipsoDemo.activeDirectory + [0x90, 0x00]],
            Self.reselect: [[0x90, 0x00]],
        ])
        let id = try CardReader.read(atr: ATRs.contactT1, transport: &card, directory: .require)
        // The FCI's parameters name SFI 2 (tag C3): READ BINARY 00 B0 82 00 00.
        #expect(card.sent == [Commands.getUID, Commands.selectITSO, Commands.selectCMD2, CMD2.selectSector(14),
                              hex("00 B0 82 00 00"), Self.reselect, CMD2.selectSector(15), hex("00 B0 82 00 00")])
        #expect(id.cardBlocked == false)
        guard case .read(_, let location) = id.directory else {
            Issue.record("\(id.directory)")
            return
        }
        #expect(location == "CMD2 sector 15")
    }

    @Test func hostileCMD2SectorAnswersNeverCrash() async {
        await propertyCheck(count: 400, input: cardAnswer, cardAnswer) { first, second in
            var card = ScriptedTransport([
                Commands.getUID: [nxpUID + [0x90, 0x00]], Commands.selectITSO: [[0x6E, 0x00]],
                Commands.selectCMD2: [fci(shell: FlipsoDemo.activeShell) + [0x90, 0x00]],
                CMD2.selectSector(14): [[0x90, 0x00]], CMD2.selectSector(15): [second],
                CMD2.readStorage(): [first, second], Self.reselect: [first],
            ])
            for policy in [CardReader.DirectoryPolicy.inform, .require] {
                if let id = try? CardReader.read(atr: ATRs.contactT1, transport: &card, directory: policy) {
                    #expect(id.apduCount <= 3 + 5 * 2)
                    #expect(id.isrn != nil)
                }
            }
        }
    }
}

import NECCard
import Testing
import VirtualCard

/// The worked example of nec-cards.md, as bytes.
let workedExample: [UInt8] = [
    0x18, 0x11, 0x63, 0x35, 0x97, 0x01, 0x30, 0x12, 0x34, 0x56, 0x74, 0x0F, 0x01, 0x01, 0x2F, 0xE8,
    0x20, 0x10, 0x08, 0x10, 0x00, 0x00, 0x70, 0x0D,
] + [UInt8](repeating: 0, count: 8)

let exampleShell = VirtualShell(isrn: try! ISRN("633597013012345674"), expiry: VirtualShell.exampleExpiry)

func hex(_ text: String) -> [UInt8] { Hex.bytes(text)! }

@Suite struct ShellEncoderTests {
    @Test func reproducesTheWorkedExample() {
        #expect(exampleShell.fileBytes() == workedExample)
        #expect(exampleShell.shellBytes() == Array(workedExample.prefix(24)))
        #expect(exampleShell.shellLengthBlocks == 6)
        #expect(CRCB.checksum(workedExample.prefix(22)) == 0x0D70)
    }

    @Test func mcrnSetsBitmapLengthAndDigits() {
        var shell = exampleShell
        shell.mcrn = "1234567890"
        let bytes = shell.fileBytes()
        #expect(bytes.count == 32)
        #expect(Array(bytes[0..<2]) == [0x20, 0x31])  // ShellLength 8, bitmap 3, revision 1
        #expect(Array(bytes[2..<20]) == Array(workedExample[2..<20]))
        #expect(Array(bytes[20..<30]) == hex("12 34 56 78 90 FF FF FF FF FF"))
        let crc = CRCB.checksum(bytes[0..<30])
        #expect(bytes[30] == UInt8(crc & 0xFF) && bytes[31] == UInt8(crc >> 8))
    }

    @Test func badSECRCChangesOnlyTheCRC() {
        let bytes = exampleShell.fileBytes(corruptSECRC: true)
        #expect(Array(bytes[0..<22]) == Array(workedExample[0..<22]))
        #expect(Array(bytes[22..<24]) != [0x70, 0x0D])
        #expect(Array(bytes[24...]) == Array(workedExample[24...]))
    }

    @Test func badLuhnKeepsAValidSECRC() {
        let bytes = exampleShell.shellBytes(corruptCheckDigit: true)
        #expect(bytes[10] == 0x75)  // check digit 4 became 5
        #expect(!Luhn.isValid("633597013012345675"))
        let crc = CRCB.checksum(bytes[0..<22])
        #expect(bytes[22] == UInt8(crc & 0xFF) && bytes[23] == UInt8(crc >> 8))
    }

    @Test func expiryIsClampedTo14Bits() {
        var shell = exampleShell
        shell.expiry = CivilDate(year: 2060, month: 1, day: 1)!
        #expect(Array(shell.shellBytes()[14..<16]) == [0x3F, 0xFF])
        // Day 0 means "no expiry", so the earliest date stored is day 1, 1997-01-02.
        shell.expiry = CivilDate(year: 1990, month: 1, day: 1)!
        #expect(Array(shell.shellBytes()[14..<16]) == [0x00, 0x01])
        shell.expiry = CivilDate.itsoEpoch
        #expect(Array(shell.shellBytes()[14..<16]) == [0x00, 0x01])
        shell.expiry = CivilDate(itsoDay: 0x2FE8)
        #expect(Array(shell.shellBytes()[14..<16]) == [0x2F, 0xE8])
    }

    @Test func longerFileIsPaddedWithZeros() {
        var shell = exampleShell
        shell.fileLength = 48
        #expect(shell.fileBytes() == workedExample + [UInt8](repeating: 0, count: 16))
        shell.fileLength = 10  // never shorter than the shell
        #expect(shell.fileBytes() == Array(workedExample.prefix(24)))
    }
}

@Suite struct ATRTests {
    @Test func knownATRs() {
        #expect(ContactlessATR.desfire == hex("3B 81 80 01 80 80"))
        #expect(ContactlessATR.classic1K == hex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A"))
    }

    @Test func cmd2ATRIsA14443Part4ATR() {
        let atr = VirtualCardModel.cmd2ITSO(shell: exampleShell).atr
        #expect(Array(atr.prefix(4)) == [0x3B, 0x8D, 0x80, 0x01])
        #expect(atr.count == 4 + 13 + 1)
        #expect(atr.dropFirst().reduce(0, ^) == 0)  // TCK
    }
}

@Suite struct DESFireITSOTests {
    let card = VirtualCardModel.desfireITSO(shell: exampleShell)
    static let getUID = hex("FF CA 00 00 00")
    static let select = hex("90 5A 00 00 03 16 02 A0 00")
    static let readShell = hex("90 BD 00 00 07 0F 00 00 00 00 00 00 00")
    static let more = hex("90 AF 00 00 00")

    @Test func theThreeAPDUsOfAnIdentityRead() {
        let answers = card.respond(to: [Self.getUID, Self.select, Self.readShell])
        #expect(answers[0] == hex("04 11 22 33 44 55 66 90 00"))
        #expect(answers[1] == hex("91 00"))
        #expect(answers[2] == workedExample + [0x91, 0x00])
        #expect(card.atr == hex("3B 81 80 01 80 80"))
        #expect(card.media == .desfire)
    }

    @Test func readWithOffsetAndLength() {
        let answers = card.respond(to: [
            Self.select,
            hex("90 BD 00 00 07 0F 04 00 00 08 00 00 00"),
            hex("90 BD 00 00 07 0F 00 00 00 20 00 00 00"),
            hex("90 BD 00 00 07 0F 1F 00 00 00 00 00 00"),
        ])
        #expect(answers[1] == Array(workedExample[4..<12]) + [0x91, 0x00])
        #expect(answers[2] == workedExample + [0x91, 0x00])
        #expect(answers[3] == [0x00, 0x91, 0x00])
    }

    @Test func readErrors() {
        let answers = card.respond(to: [
            Self.readShell,  // PICC level: no files
            Self.select,
            hex("90 BD 00 00 07 0F 20 00 00 00 00 00 00"),  // offset at end
            hex("90 BD 00 00 07 0F 00 00 00 21 00 00 00"),  // past the end
            hex("90 BD 00 00 07 01 00 00 00 00 00 00 00"),  // no such file
            hex("90 BD 00 00 03 0F 00 00 00"),  // wrong length
            hex("90 F5 00 00 01 03 00"),
        ])
        #expect(answers == [
            hex("91 9D"), hex("91 00"), hex("91 BE"), hex("91 BE"), hex("91 F0"), hex("91 7E"), hex("91 F0"),
        ])
    }

    @Test func fileSettingsAndApplicationIDs() {
        let answers = card.respond(to: [
            hex("90 6A 00 00 00"),
            hex("90 F5 00 00 01 0F 00"),
            Self.select,
            hex("90 F5 00 00 01 0F 00"),
            hex("90 6A 00 00 00"),
            hex("90 5A 00 00 03 00 00 00 00"),
            hex("90 6A 00 00 00"),
        ])
        #expect(answers == [
            hex("16 02 A0 91 00"), hex("91 9D"), hex("91 00"), hex("00 00 00 E0 20 00 00 91 00"),
            hex("91 9D"), hex("91 00"), hex("16 02 A0 91 00"),
        ])
    }

    @Test func getVersionInThreeFrames() {
        let answers = card.respond(to: [hex("90 60 00 00 00"), Self.more, Self.more, Self.more])
        #expect(answers[0] == hex("04 01 01 01 00 18 05 91 AF"))
        #expect(answers[1] == hex("04 01 01 01 04 18 05 91 AF"))
        #expect(Array(answers[2].prefix(7)) == VirtualCardModel.sampleUID7)
        #expect(answers[2].count == 14 + 2)
        #expect(Array(answers[2].suffix(2)) == [0x91, 0x00])
        #expect(answers[3] == hex("91 1C"))  // nothing left to continue
    }

    @Test func unknownAndMalformedCommands() {
        let answers = card.respond(to: [
            hex("90 C7 00 00 00"),  // a DESFire command the card does not emulate
            hex("90 5A 00 00 02 16 02 00"),
            [0x90, 0x5A],
            hex("00 A4 04 00 0B A0 00 00 02 16 49 54 53 4F 2D 31 00"),
            hex("00 B0 00 00 00"),
            hex("80 CA 9F 7F 00"),
            [],
            [0x00, 0xA4, 0x04],
            hex("90 5A 00 00 05 16 02 A0 00"),  // Lc says more than there is
            hex("FF 99 00 00 00"),
            hex("FF CA 07 00 00"),
        ])
        #expect(answers == [
            hex("91 1C"), hex("91 7E"), hex("91 7E"), hex("6A 82"), hex("6D 00"), hex("6E 00"),
            hex("67 00"), hex("67 00"), hex("91 7E"), hex("6D 00"), hex("6A 81"),
        ])
    }

    @Test func getDataHonoursLe() {
        let answers = card.respond(to: [hex("FF CA 00 00 04"), hex("FF CA 00 00 07"), hex("FF CA 00 00"),
                                        hex("FF CA 01 00 00")])
        #expect(answers == [hex("6C 07"), hex("04 11 22 33 44 55 66 90 00"), hex("04 11 22 33 44 55 66 90 00"),
                            hex("80 90 00")])
    }

    @Test func chainsLongReadsIn59ByteFrames() {
        var shell = exampleShell
        shell.fileLength = 150
        let file = shell.fileBytes()
        let long = VirtualCardModel.desfireITSO(shell: shell)
        let answers = long.respond(to: [Self.select, Self.readShell, Self.more, Self.more, Self.more])
        #expect(answers[1].count == 59 + 2 && Array(answers[1].suffix(2)) == [0x91, 0xAF])
        #expect(answers[2].count == 59 + 2 && Array(answers[2].suffix(2)) == [0x91, 0xAF])
        #expect(answers[3].count == 32 + 2 && Array(answers[3].suffix(2)) == [0x91, 0x00])
        #expect(answers[4] == hex("91 1C"))
        let joined = answers[1].dropLast(2) + answers[2].dropLast(2) + answers[3].dropLast(2)
        #expect(Array(joined) == file)
    }

    @Test func anotherCommandAbandonsAChain() {
        var shell = exampleShell
        shell.fileLength = 100
        let long = VirtualCardModel.desfireITSO(shell: shell)
        let answers = long.respond(to: [Self.select, Self.readShell, hex("90 6A 00 00 00"), Self.more])
        #expect(Array(answers[1].suffix(2)) == [0x91, 0xAF])
        #expect(answers[2] == hex("91 9D"))
        #expect(answers[3] == hex("91 1C"))
    }

    @Test func exactlyOneFrameAt59Bytes() {
        var shell = exampleShell
        shell.fileLength = 59
        let answers = VirtualCardModel.desfireITSO(shell: shell).respond(to: [Self.select, Self.readShell])
        #expect(answers[1].count == 61 && Array(answers[1].suffix(2)) == [0x91, 0x00])
    }

    @Test func powerCycleReturnsToPICCLevel() {
        var emulated = EmulatedCard(model: card)
        #expect(emulated.respond(to: Self.select) == hex("91 00"))
        emulated.resetState()
        #expect(emulated.respond(to: Self.readShell) == hex("91 9D"))
    }
}

@Suite struct OtherModelTests {
    @Test func desfireWithoutITSO() {
        let answers = VirtualCardModel.desfireWithoutITSO().respond(to: [
            DESFireITSOTests.getUID, DESFireITSOTests.select, hex("90 6A 00 00 00"), DESFireITSOTests.readShell,
        ])
        #expect(answers == [hex("04 11 22 33 44 55 66 90 00"), hex("91 A0"), hex("91 00"), hex("91 9D")])
    }

    @Test func randomUIDIsNewPerTapAndRepeatsUnderASeed() {
        let model = VirtualCardModel.desfireRandomUID()
        let a = EmulatedCard(model: model, seed: 1)
        let b = EmulatedCard(model: model, seed: 1)
        let c = EmulatedCard(model: model, seed: 2)
        #expect(a.uid.count == 4 && a.uid[0] == 0x08)
        #expect(a.uid == b.uid)
        #expect(a.uid != c.uid)
        #expect(EmulatedCard(model: model).uid != EmulatedCard(model: model).uid)
        let answers = model.respond(to: [DESFireITSOTests.getUID, DESFireITSOTests.select, hex("90 60 00 00 00"),
                                         DESFireITSOTests.more, DESFireITSOTests.more], seed: 1)
        #expect(answers[0] == a.uid + [0x90, 0x00])
        #expect(answers[1] == hex("91 A0"))
        #expect(Array(answers[4].prefix(7)) == [UInt8](repeating: 0, count: 7))
    }

    @Test func randomUIDWithAShellStillReadsIt() {
        let answers = VirtualCardModel.desfireRandomUID(shell: exampleShell)
            .respond(to: [DESFireITSOTests.select, DESFireITSOTests.readShell])
        #expect(answers[1] == workedExample + [0x91, 0x00])
    }

    @Test func cmd2AnswersSelectWithTheFCI() {
        let model = VirtualCardModel.cmd2ITSO(shell: exampleShell)
        let select = hex("00 A4 04 00 0B A0 00 00 02 16 49 54 53 4F 2D 31 00")
        let answers = model.respond(to: [
            DESFireITSOTests.getUID, select,
            hex("00 A4 04 0C 0B A0 00 00 02 16 49 54 53 4F 2D 31"),
            hex("00 A4 04 00 05 A0 00 00 02 16 00"),
            DESFireITSOTests.select, hex("00 B0 00 00 00"), hex("FF 86 00 00 05 01 00 04 60 00"),
        ])
        let shell = Array(workedExample.prefix(24))
        let fci = hex("6F 2D 84 0B A0 00 00 02 16 49 54 53 4F 2D 31 A5 1E C0 18") + shell + hex("E0 02 00 00")
        #expect(answers[0] == hex("04 11 22 33 44 55 66 90 00"))
        #expect(answers[1] == fci + [0x90, 0x00])
        #expect(answers[2] == hex("90 00"))
        #expect(answers[3] == hex("6A 82"))
        #expect(answers[4] == hex("6E 00"))
        // READ BINARY of the current EF, with only the ITSO DF selected: no current EF.
        #expect(answers[5] == hex("69 86"))
        #expect(answers[6] == hex("6A 81"))
        #expect(model.media == .iso7816)
    }

    @Test func cmd2WithoutShellFindsNoApplication() {
        let model = VirtualCardModel(chip: .iso7816, uid: .fixed(VirtualCardModel.sampleUID7), shell: nil)
        #expect(model.respond(to: [hex("00 A4 04 00 0B A0 00 00 02 16 49 54 53 4F 2D 31 00")]) == [hex("6A 82")])
    }

    @Test func classicAnswersOnlyTheReaderCommands() {
        let model = VirtualCardModel.classic1K()
        let answers = model.respond(to: [
            DESFireITSOTests.getUID, DESFireITSOTests.select,
            hex("00 A4 04 00 0B A0 00 00 02 16 49 54 53 4F 2D 31 00"),
            hex("FF 82 00 00 06 FF FF FF FF FF FF"), hex("FF 86 00 00 05 01 00 04 60 00"),
            hex("FF B0 00 04 10"), hex("FF CA 01 00 00"),
        ])
        #expect(answers == [hex("11 22 33 44 90 00"), hex("6A 81"), hex("6D 00"), hex("90 00"), hex("63 00"),
                            hex("69 82"), hex("6A 81")])
        #expect(model.atr == ContactlessATR.classic1K)
        #expect(model.media == .classic)
    }

    @Test func hostileBytesNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        for model in [VirtualCardModel.desfireITSO(shell: exampleShell), .cmd2ITSO(shell: exampleShell),
                      .classic1K(), .desfireRandomUID()] {
            var card = EmulatedCard(model: model, seed: 7)
            for _ in 0..<2000 {
                let count = Int.random(in: 0..<300, using: &rng)
                var command = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if count > 0, Bool.random(using: &rng) { command[0] = [0x90, 0x00, 0xFF][Int.random(in: 0..<3, using: &rng)] }
                let answer = card.respond(to: command)
                #expect(answer.count >= 2)
            }
        }
    }
}

@Suite struct FaultTests {
    @Test func badSECRCAndBadLuhnReachTheCard() {
        let model = VirtualCardModel.desfireITSO(shell: exampleShell).with(.badSECRC, .badLuhn)
        let file = model.respond(to: [DESFireITSOTests.select, DESFireITSOTests.readShell])[1].dropLast(2)
        #expect(file[10] == 0x75)
        let crc = CRCB.checksum(file.prefix(22))
        #expect([file[22], file[23]] != [UInt8(crc & 0xFF), UInt8(crc >> 8)])
        let cmd2 = VirtualCardModel.cmd2ITSO(shell: exampleShell).with(.badLuhn)
        #expect(cmd2.shellFile == exampleShell.shellBytes(corruptCheckDigit: true))
    }

    @Test func garbageIsRandomLengthAndRepeatsUnderASeed() {
        let model = VirtualCardModel.desfireITSO(shell: exampleShell).with(.garbage(seed: 42))
        let commands = [[UInt8]](repeating: DESFireITSOTests.getUID, count: 50)
        let first = model.respond(to: commands)
        #expect(first == model.respond(to: commands))
        #expect(first.allSatisfy { (1...64).contains($0.count) })
        #expect(Set(first.map(\.count)).count > 5)
        #expect(!first.contains(hex("04 11 22 33 44 55 66 90 00")))
        let unseeded = VirtualCardModel.classic1K().with(.garbage(seed: nil))
        #expect(unseeded.respond(to: commands) != unseeded.respond(to: commands))
    }

    @Test func removalAfterNAPDUs() {
        var card = EmulatedCard(model: .desfireITSO(shell: exampleShell).with(.removeAfter(apdus: 2)))
        #expect(card.receive(DESFireITSOTests.getUID) == .answer(hex("04 11 22 33 44 55 66 90 00")))
        #expect(card.receive(DESFireITSOTests.select) == .answer(hex("91 00")))
        #expect(card.receive(DESFireITSOTests.readShell) == .remove)
        #expect(card.receivedAPDUs == 3)
        var immediately = EmulatedCard(model: .classic1K().with(.removeAfter(apdus: 0)))
        #expect(immediately.receive(DESFireITSOTests.getUID) == .remove)
    }

    @Test func expiredIsAModelField() throws {
        let model = try VirtualCardModel.from(isrn: "633597 9999 0000 0019", expired: true)
        let file = try #require(model.shellFile)
        let day = Int(file[14] & 0x3F) << 8 | Int(file[15])
        #expect(CivilDate(itsoDay: day) == VirtualCardModel.pastExpiry)
    }
}

@Suite struct ModelFromOptionsTests {
    @Test func buildsEachMedia() throws {
        let desfire = try VirtualCardModel.from(isrn: "633597013012345674")
        #expect(desfire.chip == .desfire && desfire.uid == .fixed(VirtualCardModel.sampleUID7))
        let file = try #require(desfire.shellFile)
        #expect(Array(file[0..<14]) == Array(workedExample[0..<14]))
        #expect(CivilDate(itsoDay: Int(file[14]) << 8 | Int(file[15])) == VirtualCardModel.futureExpiry)

        let cmd2 = try VirtualCardModel.from(isrn: "633597013012345674", uid: "04A1B2C3D4E5F6", media: .iso7816)
        #expect(cmd2.chip == .iso7816 && cmd2.uid == .fixed(hex("04 A1 B2 C3 D4 E5 F6")))
        let classic = try VirtualCardModel.from(isrn: nil, media: .classic)
        #expect(classic == .classic1K())
        let random = try VirtualCardModel.from(isrn: nil, uid: "random")
        #expect(random == .desfireRandomUID())
        #expect(try VirtualCardModel.from(isrn: nil) == .desfireWithoutITSO())
        let faulty = try VirtualCardModel.from(isrn: "633597013012345674", badCRC: true, badLuhn: true)
        #expect(faulty.faults == [.badSECRC, .badLuhn])
    }

    @Test func rejectsBadOptionsByName() {
        #expect(throws: VirtualCardModel.Invalid.isrn(.badCheckDigit(expected: 4, found: 5))) {
            try VirtualCardModel.from(isrn: "633597013012345675")
        }
        #expect(throws: VirtualCardModel.Invalid.uid("zz")) { try VirtualCardModel.from(isrn: nil, uid: "zz") }
        #expect(throws: VirtualCardModel.Invalid.uid("0102")) { try VirtualCardModel.from(isrn: nil, uid: "0102") }
        #expect(throws: VirtualCardModel.Invalid.unsupportedMedia(.ultralight)) {
            try VirtualCardModel.from(isrn: nil, media: .ultralight)
        }
        #expect(throws: VirtualCardModel.Invalid.shellOnClassic) {
            try VirtualCardModel.from(isrn: "633597013012345674", media: .classic)
        }
    }

    @Test func descriptionMasksTheISRN() {
        let text = VirtualCardModel.desfireITSO(shell: exampleShell).description
        #expect(!text.contains("633597013012345674"))
        #expect(text.contains("633597******5674"))
    }
}

/// The Directory a virtual card carries, where real cards keep it.
@Suite struct VirtualDirectoryTests {
    @Test func desfireKeepsItInTheFileOfSectorSMinus1() {
        let model = VirtualCardModel.desfireITSO(shell: exampleShell).withDirectory(.blockedCard)
        #expect(model.desfireFile(sector: 15) == 0x00)
        let answers = model.respond(to: [
            DESFireITSOTests.select, hex("90 BD 00 00 07 00 00 00 00 00 00 00 00"), hex("90 AF 00 00 00"),
            hex("90 BD 00 00 07 0E 00 00 00 00 00 00 00"),
        ])
        // Standard geometry (E# 8, SCTL 16): 59 bytes, DIRS# 1, then the InstanceID 11 00 00 99 99.
        let expected = [0x00, 0x31] + [UInt8](repeating: 0, count: 56) + [0x01, 0x11, 0x00, 0x00, 0x99, 0x99]
        #expect(answers[1] == Array(expected.prefix(59)) + [0x91, 0xAF])
        #expect(answers[2] == Array(expected.dropFirst(59)) + [0x91, 0x00])
        // Sector 1 (file 0x0E) is not on the virtual card: nothing but the shell and the Directory is.
        #expect(answers[3] == hex("91 F0"))
    }

    @Test func flipsoVectorsAreHeldByteForByte() {
        let geometry = VirtualShell.Geometry(sectorSize: 64, sectorCount: 16, directoryEntries: 8, sctl: 7)
        #expect(VirtualDirectory.flipsoBlocked.bytes(geometry: geometry).count == 50)
        #expect(VirtualDirectory.flipsoNotBlocked.bytes(geometry: geometry).count == 55)
        #expect(VirtualDirectory.flipsoBlocked.bytes(geometry: geometry)[1] == 0x31)
    }

    @Test func cmd2SectorsAreDFsOfTheITSODF() {
        let model = VirtualCardModel.cmd2ITSO(shell: exampleShell)
            .withDirectory(VirtualDirectory(sequence: 7, shellIteration: nil), otherCopy: VirtualDirectory(sequence: 6, shellIteration: nil))
        let select = hex("00 A4 04 00 0B A0 00 00 02 16 49 54 53 4F 2D 31 00")
        let answers = model.respond(to: [
            hex("00 A4 00 00 02 01 0F 00"),  // before the application: not found
            select, hex("00 A4 00 00 02 01 0F 00"), hex("00 B0 81 00 00"),
            hex("00 A4 00 00 02 01 0E 00"),  // a sibling of sector 15's DF: not found
            hex("00 A4 04 0C 0B A0 00 00 02 16 49 54 53 4F 2D 31"), hex("00 A4 00 00 02 01 0E 00"), hex("00 B0 81 00 00"),
            hex("00 A4 00 00 02 01 0D 00"),
        ])
        let copy: (UInt8) -> [UInt8] = { [0x00, 0x21] + [UInt8](repeating: 0, count: 56) + [$0] }
        #expect(answers[0] == hex("6A 82"))
        #expect(answers[2] == hex("62 04 80 02 00 3B 90 00"))
        #expect(answers[3] == copy(7) + [0x90, 0x00])
        #expect(answers[4] == hex("6A 82"))
        #expect(answers[5] == hex("90 00"))
        #expect(answers[7] == copy(6) + [0x90, 0x00])
        #expect(answers[8] == hex("6A 82"))
    }

    @Test func randomIDGenerationsAndClassic4K() {
        for generation in VirtualCardModel.DESFireGeneration.allCases {
            let answers = VirtualCardModel.desfireRandomUID(generation: generation)
                .respond(to: [DESFireITSOTests.getUID, hex("90 60 00 00 00"), hex("90 AF 00 00 00"), hex("90 AF 00 00 00")], seed: 9)
            #expect(answers[0].count == 6)
            #expect(answers[0].first == 0x08)
            #expect(answers[2][3] == generation.rawValue)
            // GET VERSION's UID field: seven zero bytes on a random-ID card.
            #expect(Array(answers[3].prefix(7)) == [UInt8](repeating: 0, count: 7))
        }
        let classic = VirtualCardModel.classic4K()
        #expect(classic.atr == hex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 02 00 00 00 00 69"))
        #expect(classic.media == .classic)
        #expect(classic.respond(to: [DESFireITSOTests.getUID, DESFireITSOTests.select]) == [hex("11 22 33 44 90 00"), hex("6A 81")])
    }
}

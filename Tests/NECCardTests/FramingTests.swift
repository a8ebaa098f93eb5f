import Testing
@testable import NECCard

@Suite struct StatusWordTests {
    @Test(arguments: [
        (UInt16(0x9100), "OPERATION_OK", "ok"),
        (0x91AF, "ADDITIONAL_FRAME", "more data follows"),
        (0x91A0, "APPLICATION_NOT_FOUND", "application not found"),
        (0x91F0, "FILE_NOT_FOUND", "file not found"),
        (0x91BE, "BOUNDARY_ERROR", "read or write beyond the end of the file"),
        (0x919D, "PERMISSION_DENIED", "permission denied"),
        (0x91AE, "AUTHENTICATION_ERROR", "authentication error"),
        (0x911C, "ILLEGAL_COMMAND_CODE", "command code not supported"),
        (0x917E, "LENGTH_ERROR", "length of command string invalid"),
        (0x9000, "SUCCESS", "ok"),
        (0x6A82, "FILE_NOT_FOUND", "file or application not found"),
        (0x6D00, "INS_NOT_SUPPORTED", "instruction not supported"),
        (0x6E00, "CLA_NOT_SUPPORTED", "class not supported"),
        (0x6700, "WRONG_LENGTH", "wrong length"),
        (0x6982, "SECURITY_STATUS_NOT_SATISFIED", "security status not satisfied"),
        (0x6A81, "FUNCTION_NOT_SUPPORTED", "function not supported"),
        (0x6283, "FILE_DEACTIVATED", "selected file or application is deactivated"),
        (0x6110, "BYTES_REMAINING", "16 more bytes available (GET RESPONSE)"),
        (0x6C20, "WRONG_LE", "wrong Le: 32 bytes available"),
        (0x63C2, "COUNTER", "verification failed, 2 tries left"),
        (0x1234, "UNKNOWN", "unknown status"),
        (0x91FF, "UNKNOWN", "unknown DESFire status"),
    ])
    func namesAndMeanings(value: UInt16, name: String, meaning: String) {
        let sw = StatusWord(value)
        #expect(sw.name == name)
        #expect(sw.meaning == meaning)
        #expect(sw.value == value)
    }

    @Test func fromResponses() {
        #expect(StatusWord(response: []) == nil)
        #expect(StatusWord(response: [0x91]) == nil)
        #expect(StatusWord(response: hex("01 02 91 A0")) == .desfireApplicationNotFound)
        #expect(StatusWord.desfireApplicationNotFound.description == "91 A0 APPLICATION_NOT_FOUND")
        #expect(StatusWord.success.isSuccess && StatusWord.desfireOK.isSuccess)
        #expect(!StatusWord.desfireAdditionalFrame.isSuccess)
        #expect(StatusWord.claNotSupported.isISOError && !StatusWord.desfireOK.isISOError)
        #expect(StatusWord.desfireFileNotFound.isDESFire && !StatusWord.fileNotFound.isDESFire)
    }
}

@Suite struct DESFireFramingTests {
    @Test func commandBytes() {
        #expect(DESFire.selectITSO == Commands.selectITSO)
        #expect(DESFire.readShell == Commands.readShell)
        #expect(DESFire.additionalFrame == Commands.more)
        #expect(DESFire.getVersion == hex("90 60 00 00 00"))
        #expect(DESFire.getApplicationIDs == hex("90 6A 00 00 00"))
        #expect(DESFire.getFileSettings(file: 0x0F) == hex("90 F5 00 00 01 0F 00"))
        #expect(DESFire.readData(file: 0x01, offset: 0x123456, length: 32) == hex("90 BD 00 00 07 01 56 34 12 20 00 00 00"))
        #expect(CMD2.selectITSO == Commands.selectCMD2)
        #expect(CMD2.getResponse(0x20) == hex("00 C0 00 00 20"))
    }

    @Test func chainingConcatenatesFrames() throws {
        var card = ScriptedTransport([
            DESFire.getVersion: [hex("04 01 01 01 00 18 05 91 AF")],
            Commands.more: [hex("04 01 01 01 04 18 05 91 AF"), hex("04 A1 B2 C3 D4 E5 80 BA 55 EE 00 11 22 23 91 00")],
        ])
        let answer = try DESFire.transceive(DESFire.getVersion, over: &card)
        #expect(answer.frames == 3)
        #expect(answer.status == .desfireOK)
        #expect(answer.data.count == 28)
        #expect(card.sent == [DESFire.getVersion, Commands.more, Commands.more])
    }

    @Test func chainingStopsAtTheLimit() {
        var card = ScriptedTransport([
            Commands.readShell: [hex("00 91 AF")],
            Commands.more: [hex("00 91 AF")],
        ])
        #expect(throws: ExchangeError.tooManyFrames(limit: 4)) {
            try DESFire.transceive(Commands.readShell, over: &card, frameLimit: 4)
        }
        #expect(card.sent.count == 4)
    }

    @Test func chainingRejectsAnswersWithoutStatus() {
        var card = ScriptedTransport([Commands.readShell: [hex("91 AF")], Commands.more: [[0x91]]])
        #expect(throws: ExchangeError.noStatusWord(frame: 2, length: 1)) {
            try DESFire.transceive(Commands.readShell, over: &card)
        }
    }

    @Test func chainingPassesTransportErrorsThrough() {
        var card = ScriptedTransport([Commands.readShell: [hex("91 AF")]], failAt: 1)
        #expect(throws: ScriptedTransport.Removed()) { try DESFire.transceive(Commands.readShell, over: &card) }
    }

    @Test func getResponseChaining() throws {
        var card = ScriptedTransport([
            Commands.selectCMD2: [hex("61 04")],
            CMD2.getResponse(4): [hex("6F 02 84 00 61 01")],
            CMD2.getResponse(1): [hex("AA 90 00")],
        ])
        let answer = try CMD2.transceive(Commands.selectCMD2, over: &card)
        #expect(answer.data == hex("6F 02 84 00 AA"))
        #expect(answer.status == .success)
        #expect(answer.frames == 3)
    }

    @Test func getResponseChainingStopsAtTheLimit() {
        var card = ScriptedTransport([Commands.selectCMD2: [hex("61 02")], CMD2.getResponse(2): [hex("AA 61 02")]])
        #expect(throws: ExchangeError.tooManyFrames(limit: 3)) {
            try CMD2.transceive(Commands.selectCMD2, over: &card, frameLimit: 3)
        }
        #expect(card.sent == [Commands.selectCMD2, CMD2.getResponse(2), CMD2.getResponse(2)])
    }

    @Test func getVersionParses() throws {
        var card = ScriptedTransport([
            DESFire.getVersion: [hex("04 01 01 01 00 18 05 91 AF")],
            Commands.more: [hex("04 01 01 01 04 18 05 91 AF"), hex("04 A1 B2 C3 D4 E5 80 BA 55 EE 00 11 22 23 91 00")],
        ])
        let version = try #require(try DESFireVersion.read(over: &card))
        #expect(version.hardware.vendor == 0x04)
        #expect(version.software.major == 0x01)
        #expect(version.generation == "DESFire EV1")
        #expect(version.hardware.storageSize == 0x18)
        #expect(version.uid == nxpUID)
        #expect(version.batch == hex("BA 55 EE 00 11"))
        #expect(version.productionWeek == 0x22)
        #expect(version.productionYear == 0x23)
        #expect(DESFireVersion(data: [UInt8](repeating: 0, count: 27)) == nil)

        var refusing = ScriptedTransport([DESFire.getVersion: [hex("91 1C")]])
        #expect(try DESFireVersion.read(over: &refusing) == nil)
    }
}

@Suite struct FCITests {
    @Test func itsoFCIYieldsTheShell() throws {
        let bytes = fci(shell: Array(workedShell.prefix(24)))
        let parsed = try ITSOApplicationFCI(fci: bytes)
        #expect(parsed.dfName == CMD2.itsoAID)
        #expect(parsed.shell == Array(workedShell.prefix(24)))
        #expect(Array(bytes[parsed.shellOffset..<parsed.shellOffset + 24]) == parsed.shell)
        #expect(parsed.parameters == [0x01, 0x02])
        #expect(try ShellEnvironment(decoding: parsed.shell).isrn?.digits == "633597013012345674")
    }

    @Test func junkInsideTheParametersDoesNotHideTheShell() throws {
        // E0 is a constructed tag; its contents are not needed and are not parsed.
        let parsed = try ITSOApplicationFCI(fci: fci(shell: Array(workedShell.prefix(24)), parameters: [0x01, 0x05]))
        #expect(parsed.parameters == [0x01, 0x05])
        #expect(parsed.shell.count == 24)
    }

    @Test func tlvForms() throws {
        // Long length form, a two-byte tag, filler bytes, nested constructed objects.
        let bytes = hex("00 6F 81 09 9F 38 01 AA A5 03 C0 01 BB FF")
        let objects = try TLV.parse(bytes)
        #expect(objects.count == 1)
        #expect(objects[0].tag == 0x6F)
        #expect(objects[0].isConstructed)
        #expect(try objects[0].children().map(\.tag) == [0x9F38, 0xA5])
        #expect(try objects[0].child(0x9F38)?.value == [0xAA])
        #expect(try objects[0].child(0xA5)?.child(0xC0)?.value == [0xBB])
        #expect(try objects[0].child(0xA5)?.child(0xC0)?.valueOffset == 12)
        #expect(try !objects[0].child(0x9F38)!.isConstructed)
        #expect(try TLV.parse(hex("82 82 00 02 01 02"))[0].value == [1, 2])
    }

    @Test func malformedTLV() {
        #expect(throws: TLVError.truncatedLength(offset: 1)) { try TLV.parse([0x6F]) }
        #expect(throws: TLVError.truncatedTag(offset: 0)) { try TLV.parse([0x9F]) }
        #expect(throws: TLVError.truncatedTag(offset: 0)) { try TLV.parse(hex("9F 81")) }
        #expect(throws: TLVError.tagTooLong(offset: 0)) { try TLV.parse(hex("9F 81 82 83 01 00")) }
        #expect(throws: TLVError.valueOverrun(tag: 0x6F, declared: 5, available: 2)) { try TLV.parse(hex("6F 05 84 00")) }
        #expect(throws: TLVError.unsupportedLength(offset: 1)) { try TLV.parse(hex("6F 80 00 00")) }
        #expect(throws: TLVError.unsupportedLength(offset: 1)) { try TLV.parse(hex("6F 84 00 00 00 01 00")) }
        #expect(throws: TLVError.truncatedLength(offset: 1)) { try TLV.parse(hex("6F 82 01")) }
        // A child that runs past its parent, though not past the input.
        #expect(throws: TLVError.valueOverrun(tag: 0xC0, declared: 4, available: 1)) {
            try TLV.parse(hex("A5 03 C0 04 AA"))[0].children()
        }
        #expect(throws: TLVError.truncatedTag(offset: 3)) { try TLV.parse(hex("A5 02 00 1F"))[0].children() }
    }

    @Test func fciRejections() {
        #expect(throws: FCIError.malformed(.truncatedLength(offset: 1))) { try ITSOApplicationFCI(fci: [0x6F]) }
        #expect(throws: FCIError.missingTemplate) { try ITSOApplicationFCI(fci: []) }
        #expect(throws: FCIError.missingTemplate) { try ITSOApplicationFCI(fci: hex("62 02 84 00")) }
        #expect(throws: FCIError.wrongApplication([0xA0, 0x00])) { try ITSOApplicationFCI(fci: hex("6F 04 84 02 A0 00")) }
        #expect(throws: FCIError.missingShell) { try ITSOApplicationFCI(fci: hex("6F 00")) }
        #expect(throws: FCIError.missingShell) { try ITSOApplicationFCI(fci: hex("6F 04 A5 02 E0 00")) }
        // C0 outside A5 is not the shell.
        #expect(throws: FCIError.missingShell) { try ITSOApplicationFCI(fci: hex("6F 03 C0 01 18")) }
        // A5 that is not well-formed inside.
        #expect(throws: FCIError.malformed(.valueOverrun(tag: 0xC0, declared: 9, available: 1))) {
            try ITSOApplicationFCI(fci: hex("6F 05 A5 03 C0 09 18"))
        }
        #expect(throws: FCIError.malformed(.truncatedLength(offset: 3))) { try ITSOApplicationFCI(fci: hex("6F 01 84")) }
    }
}

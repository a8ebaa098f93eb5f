import Testing
@testable import NECCard

/// A DESFire NEC with the ITSO application and the worked-example shell.
func desfireITSOCard(shell: [UInt8] = workedShell, uid: [UInt8] = nxpUID) -> ScriptedTransport {
    ScriptedTransport([
        Commands.getUID: [uid + [0x90, 0x00]],
        Commands.selectITSO: [hex("91 00")],
        Commands.readShell: [shell + [0x91, 0x00]],
    ])
}

@Suite struct CardReaderTests {
    @Test func desfireITSOCardInThreeAPDUs() throws {
        var card = desfireITSOCard()
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(id.apduCount == 3)
        #expect(card.sent == [Commands.getUID, Commands.selectITSO, Commands.readShell])
        #expect(id.media == .desfire)
        #expect(id.uid == nxpUID)
        #expect(!id.uidRandom)
        #expect(id.isrn?.digits == "633597013012345674")
        #expect(id.expiry?.description == "2030-07-31")
        #expect(id.mcrn == nil)
        #expect(id.atr == ATRs.desfire)
        #expect(id.isReadable)
        #expect(id.checks.allSatisfy { $0.ok })
        #expect(id.checks.map(\.name) == ["uid", "itso_application", "shell_read", "shell_length", "iin", "bcd", "geometry", "secrc", "luhn"])
    }

    @Test func desfireShellSplitOverFrames() throws {
        var card = ScriptedTransport([
            Commands.getUID: [nxpUID + [0x90, 0x00]],
            Commands.selectITSO: [hex("91 00")],
            Commands.readShell: [Array(workedShell.prefix(10)) + [0x91, 0xAF]],
            Commands.more: [Array(workedShell.dropFirst(10)) + [0x91, 0x00]],
        ])
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(id.apduCount == 4)
        #expect(id.isrn?.digits == "633597013012345674")
        #expect(id.isReadable)
    }

    @Test func desfireWithMCRNShell() throws {
        var card = desfireITSOCard(shell: mcrnShell)
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(id.isrn?.digits == "633597999900000019")
        #expect(id.mcrn == "99990001")
        #expect(id.isReadable)
    }

    @Test func cmd2CardAfterNotDESFire() throws {
        var card = ScriptedTransport([
            Commands.getUID: [hex("6A 81")],
            Commands.selectITSO: [hex("6E 00")],
            Commands.selectCMD2: [fci(shell: Array(workedShell.prefix(24))) + [0x90, 0x00]],
        ])
        let id = try CardReader.read(atr: ATRs.contactT1, transport: &card)
        #expect(id.apduCount == 3)
        #expect(id.media == .iso7816)
        #expect(id.uid == nil)
        #expect(id.isrn?.digits == "633597013012345674")
        #expect(id.isReadable)
        // No UID is no problem when the shell gave an ISRN.
        #expect(id.checks.first?.name == "uid")
        #expect(id.checks.first?.ok == true)
    }

    @Test func cmd2WithGetResponse() throws {
        let body = fci(shell: Array(workedShell.prefix(24)))
        var card = ScriptedTransport([
            Commands.getUID: [nxpUID + [0x90, 0x00]],
            Commands.selectITSO: [hex("6D 00")],
            Commands.selectCMD2: [[0x61, UInt8(body.count)]],
            CMD2.getResponse(UInt8(body.count)): [body + [0x90, 0x00]],
        ])
        let id = try CardReader.read(atr: ATRs.iso14443NoHistorical, transport: &card)
        #expect(id.apduCount == 4)
        #expect(id.media == .iso7816)
        #expect(id.isrn?.digits == "633597013012345674")
    }

    @Test func classicIsUIDOnly() throws {
        var card = ScriptedTransport([Commands.getUID: [hex("9A 12 34 56 90 00")]])
        let id = try CardReader.read(atr: ATRs.classic1K, transport: &card)
        #expect(id.apduCount == 1)
        #expect(id.media == .classic)
        #expect(id.uid == hex("9A 12 34 56"))
        #expect(id.isrn == nil)
        #expect(id.isReadable)
        #expect(id.checks.contains(Check("itso_application", ok: true, reason: CardReader.classicNote)))
        #expect(CardReader.classicNote == "MIFARE Classic: ITSO sectors need keys; identified by UID only")
    }

    @Test func ultralightIsUIDOnly() throws {
        var card = ScriptedTransport([Commands.getUID: [nxpUID + [0x90, 0x00]]])
        let id = try CardReader.read(atr: ATRs.ultralightEV1, transport: &card)
        #expect(id.apduCount == 1)
        #expect(id.media == .ultralight)
        #expect(id.isReadable)
    }

    @Test func randomUIDClassicIsUnreadable() throws {
        var card = ScriptedTransport([Commands.getUID: [hex("08 12 34 56 90 00")]])
        let id = try CardReader.read(atr: ATRs.classic1K, transport: &card)
        #expect(id.uidRandom)
        #expect(id.checks.allSatisfy { $0.ok })
        #expect(!id.isReadable)
        #expect(id.unreadableReason == "random UID and no ISRN")
    }

    @Test func randomUIDWithITSOShellIsReadable() throws {
        var card = desfireITSOCard(uid: hex("08 AB CD EF"))
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(id.uidRandom)
        #expect(id.isrn != nil)
        #expect(id.isReadable)
    }

    @Test func desfireWithoutITSOIsUIDOnly() throws {
        var card = ScriptedTransport([
            Commands.getUID: [nxpUID + [0x90, 0x00]],
            Commands.selectITSO: [hex("91 A0")],
            Commands.selectCMD2: [hex("6A 82")],
        ])
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(id.apduCount == 3)
        #expect(id.media == .desfire)
        #expect(id.isrn == nil)
        #expect(id.checks.allSatisfy { $0.ok })
        #expect(id.isReadable)
        let note = try #require(id.checks.first { $0.name == "itso_application" }?.reason)
        #expect(note.contains("91 A0") && note.contains("6A 82") && note.contains("UID only"))
    }

    @Test func desfireWithoutITSOAndNoUIDIsUnreadable() throws {
        var card = ScriptedTransport([
            Commands.getUID: [hex("63 00")],
            Commands.selectITSO: [hex("91 A0")],
            Commands.selectCMD2: [hex("6A 82")],
        ])
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(id.firstFailure?.name == "uid")
        #expect(!id.isReadable)
    }

    @Test func badSECRCIsAFailedCheck() throws {
        var card = desfireITSOCard(shell: with(workedShell, 22, 0x71))
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(id.isrn == nil)
        #expect(id.firstFailure?.name == "secrc")
        #expect(!id.isReadable)
        #expect(id.checks.filter { !$0.ok }.count == 1)
        #expect(id.checks.map(\.name).suffix(5) == ["shell_length", "iin", "bcd", "geometry", "secrc"])
    }

    @Test func badLuhnShowsTheISRNButIsUnreadable() throws {
        var card = desfireITSOCard(shell: resealed(with(workedShell, 10, 0x75)))
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(id.isrn?.digits == "633597013012345675")
        #expect(id.firstFailure?.name == "luhn")
        #expect(!id.isReadable)
    }

    @Test func wrongIINIsAFailedCheck() throws {
        var card = desfireITSOCard(shell: resealed(with(workedShell, 3, 0x36)))
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(id.isrn == nil)
        #expect(id.firstFailure?.name == "iin")
    }

    @Test func unreadableShellFileIsAFailedCheck() throws {
        var card = ScriptedTransport([
            Commands.getUID: [nxpUID + [0x90, 0x00]],
            Commands.selectITSO: [hex("91 00")],
            Commands.readShell: [hex("91 9D")],
        ])
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(id.firstFailure?.name == "shell_read")
        #expect(id.firstFailure?.reason?.contains("91 9D") == true)
        #expect(!id.isReadable)
    }

    @Test(arguments: [
        // select answers with a wrong length, data, or an unexpected status
        [Commands.selectITSO: [[0x91]]],
        [Commands.selectITSO: [hex("FF FF FF 91 00")]],
        [Commands.selectITSO: [hex("90 00")]],
        [Commands.selectITSO: [hex("91 AE")]],
        // ITSO selected, but the read answers garbage
        [Commands.selectITSO: [hex("91 00")], Commands.readShell: [hex("12 34 56 91 00")]],
        [Commands.selectITSO: [hex("91 00")], Commands.readShell: [[]]],
        [Commands.selectITSO: [hex("91 00")], Commands.readShell: [hex("91 AF")], Commands.more: [hex("91 AF")]],
        // CMD2 selected, but the FCI is garbage
        [Commands.selectITSO: [hex("6E 00")], Commands.selectCMD2: [hex("6F 09 A5 03 90 00")]],
        [Commands.selectITSO: [hex("6E 00")], Commands.selectCMD2: [hex("6F 05 A5 03 C0 01 18 90 00")]],
        [Commands.selectITSO: [hex("6E 00")], Commands.selectCMD2: [hex("01")]],
        [Commands.selectITSO: [hex("6E 00")], Commands.selectCMD2: [hex("91 00")]],
    ] as [[[UInt8]: [[UInt8]]]])
    func garbageAnswersGiveNoISRNAndAFailedCheck(script: [[UInt8]: [[UInt8]]]) throws {
        var answers = script
        answers[Commands.getUID] = [nxpUID + [0x90, 0x00]]
        var card = ScriptedTransport(answers)
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(id.isrn == nil)
        #expect(id.firstFailure != nil)
        #expect(!id.isReadable)
        #expect(id.apduCount == card.sent.count)
        #expect(id.apduCount <= 3 + DESFire.defaultFrameLimit)
    }

    @Test func garbageEverywhereLeavesNoIdentity() throws {
        var card = ScriptedTransport([
            Commands.getUID: [hex("01")],
            Commands.selectITSO: [hex("02")],
        ])
        let id = try CardReader.read(atr: [0x00, 0x01], transport: &card)
        #expect(id.uid == nil)
        #expect(id.isrn == nil)
        #expect(id.media == .unknown)
        #expect(!id.isReadable)
        #expect(id.checks.first?.name == "uid")
        #expect(id.checks.first?.ok == false)
    }

    @Test func transportErrorAfterOneAPDUThrows() {
        var card = desfireITSOCard()
        card.failAt = 1
        let error = #expect(throws: CardReadError.self) {
            _ = try CardReader.read(atr: ATRs.desfire, transport: &card)
        }
        guard case .transport(let underlying, let after)? = error else { return }
        #expect(after == 1)
        #expect(underlying is ScriptedTransport.Removed)
        #expect(card.sent.count == 2)
    }

    @Test func transportErrorMidChainThrows() {
        var card = ScriptedTransport([
            Commands.getUID: [nxpUID + [0x90, 0x00]],
            Commands.selectITSO: [hex("91 00")],
            Commands.readShell: [Array(workedShell.prefix(10)) + [0x91, 0xAF]],
        ], failAt: 3)
        let error = #expect(throws: CardReadError.self) {
            _ = try CardReader.read(atr: ATRs.desfire, transport: &card)
        }
        guard case .transport(_, let after)? = error else { return }
        #expect(after == 3)
    }

    @Test func transportStateComesBack() throws {
        // The transport is passed inout: what it recorded is visible to the caller.
        var card = desfireITSOCard()
        _ = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(card.sent.count == 3)
    }
}

@Suite struct TraceTests {
    @Test func tracingRecordsEveryExchangeWithMeaning() throws {
        var traced = TracingTransport(desfireITSOCard())
        let id = try CardReader.read(atr: ATRs.desfire, transport: &traced)
        #expect(id.apduCount == 3)
        #expect(traced.exchanges.map(\.meaning) == [
            "GET DATA (UID): ok",
            "select ITSO application A0 02 16: ok",
            "read file 0x0F (shell): ok",
        ])
        #expect(traced.exchanges.map(\.command) == [Commands.getUID, Commands.selectITSO, Commands.readShell])
        #expect(traced.exchanges.allSatisfy { $0.duration >= .zero && $0.error == nil })
        // The shell's OID and ISSN digits are hidden in the redacted hex; the IIN and last four stay.
        let redacted = traced.exchanges[2].redactedResponseHex
        #expect(redacted.hasPrefix("18 11 63 35 97 ** ** ** ** 56 74 0F"))
        #expect(redacted.hasSuffix("91 00"))
        #expect(traced.base.sent.count == 3)
    }

    @Test func tracingRecordsTransportErrors() {
        var traced = TracingTransport(ScriptedTransport([:], failAt: 0))
        #expect(throws: ScriptedTransport.Removed()) { try traced.transmit(Commands.getUID) }
        #expect(traced.exchanges.count == 1)
        #expect(traced.exchanges[0].response == nil)
        #expect(traced.exchanges[0].meaning == "GET DATA (UID): transport error")
        #expect(traced.exchanges[0].redactedResponseHex == "-")
        traced.clear()
        #expect(traced.exchanges.isEmpty)
    }

    @Test(arguments: [
        ("FF CA 00 00 00", "04 A1 B2 C3 D4 E5 80 90 00", "GET DATA (UID): ok"),
        ("FF CA 00 00 00", "6A 81", "GET DATA (UID): function not supported (6A 81)"),
        ("90 5A 00 00 03 16 02 A0 00", "91 00", "select ITSO application A0 02 16: ok"),
        ("90 5A 00 00 03 16 02 A0 00", "91 A0", "select ITSO application: application not found (91 A0)"),
        ("90 5A 00 00 03 16 02 A0 00", "6E 00", "select ITSO application: class not supported (6E 00)"),
        ("90 5A 00 00 03 00 00 00 00", "91 00", "select DESFire card level: ok"),
        ("90 5A 00 00 03 56 34 12 00", "91 00", "select DESFire application 12 34 56: ok"),
        ("90 BD 00 00 07 0F 00 00 00 00 00 00 00", "91 00", "read file 0x0F (shell): ok"),
        ("90 BD 00 00 07 0F 00 00 00 00 00 00 00", "01 91 AF", "read file 0x0F (shell): ok, more data follows (91 AF)"),
        ("90 BD 00 00 07 01 00 00 00 00 00 00 00", "91 F0", "read file 0x01 (log): file not found (91 F0)"),
        ("90 BD 00 00 07 05 00 00 00 00 00 00 00", "91 BE", "read file 0x05 (product): read or write beyond the end of the file (91 BE)"),
        ("90 AF 00 00 00", "91 00", "additional frame: ok"),
        ("90 60 00 00 00", "91 AF", "get version: ok, more data follows (91 AF)"),
        ("90 6A 00 00 00", "91 00", "list applications: ok"),
        ("90 F5 00 00 01 0F 00", "91 9D", "get file settings 0x0F: permission denied (91 9D)"),
        ("00 A4 04 00 0B A0 00 00 02 16 49 54 53 4F 2D 31 00", "6A 82", "select ITSO-1 application (CMD2): file or application not found (6A 82)"),
        ("00 A4 04 00 0B A0 00 00 02 16 49 54 53 4F 2D 31 00", "61 20", "select ITSO-1 application (CMD2): ok, 32 more bytes available (GET RESPONSE) (61 20)"),
        ("00 A4 04 00 02 A0 00 00", "90 00", "select application A0 00: ok"),
        ("00 C0 00 00 20", "90 00", "GET RESPONSE: ok"),
        ("90 5A 00 00 03 16 02 A0 00", "91", "select ITSO application A0 02 16: malformed response (1 bytes)"),
        ("01 02", "90 00", "malformed command (2 bytes): ok"),
        ("80 CA 9F 7F 00", "90 00", "command 80 CA 9F 7F: ok"),
        ("90 5A 00 00 FF 16", "91 00", "select DESFire application 16: ok"),
    ])
    func meanings(command: String, response: String, meaning: String) {
        #expect(APDUMeaning.describe(command: hex(command), response: hex(response)) == meaning)
    }

    @Test func cmd2ShellIsRedactedInsideTheFCI() {
        let response = fci(shell: Array(workedShell.prefix(24))) + [0x90, 0x00]
        let text = APDUMeaning.redact(command: Commands.selectCMD2, response: response)
        #expect(text.contains("18 11 63 35 97 ** ** ** ** 56 74"))
        #expect(!text.contains("01 30 12 34"))
        // Other exchanges are shown as they are.
        #expect(APDUMeaning.redact(command: Commands.getUID, response: nxpUID + [0x90, 0x00]) == "04 A1 B2 C3 D4 E5 80 90 00")
    }
}

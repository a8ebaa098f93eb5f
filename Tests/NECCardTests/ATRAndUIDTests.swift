import Testing
@testable import NECCard

@Suite struct ATRTests {
    @Test func classic1KIsTakenApart() throws {
        let atr = try ATRInfo(ATRs.classic1K)
        #expect(atr.ts == 0x3B)
        #expect(atr.t0 == 0x8F)
        #expect(atr.interfaceBytes == [.init(name: "TD1", value: 0x80), .init(name: "TD2", value: 0x01)])
        #expect(atr.protocols == [0, 1])
        #expect(atr.historicalBytes == hex("80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00"))
        #expect(atr.tck == 0x6A)
        #expect(atr.tckValid == true)
        #expect(atr.isPCSCContactless)
        #expect(atr.kind == .contactlessMemory(standard: 0x03, cardName: 0x0001))
        #expect(atr.kind.meaning == "MIFARE Classic 1K (PC/SC part 3)")
        #expect(atr.kind.media == .classic)
        #expect(atr.kind.isMemoryCard)
    }

    @Test(arguments: [
        (ATRs.classic1K, "MIFARE Classic 1K (PC/SC part 3)", Media.classic),
        (ATRs.classic4K, "MIFARE Classic 4K (PC/SC part 3)", .classic),
        (ATRs.mini, "MIFARE Mini (PC/SC part 3)", .classic),
        (ATRs.plusSL1, "MIFARE Plus SL1 2K (PC/SC part 3)", .classic),
        (ATRs.ultralight, "MIFARE Ultralight (PC/SC part 3)", .ultralight),
        (ATRs.ultralightC, "MIFARE Ultralight C (PC/SC part 3)", .ultralight),
        (ATRs.ultralightEV1, "MIFARE Ultralight EV1 (PC/SC part 3)", .ultralight),
        (ATRs.unknownMemory, "contactless memory card 99 99 (PC/SC part 3)", .unknown),
        (ATRs.desfire, "ISO 14443-4 card (DESFire EV1/EV2 likely)", .desfire),
        (ATRs.desfireWholeATS, "ISO 14443-4 card (DESFire EV1/EV2 likely)", .desfire),
        (ATRs.iso14443NoHistorical, "ISO 14443-4 card (no historical bytes)", .unknown),
        (ATRs.contactT0, "contact card (T=0)", .iso7816),
        (ATRs.contactT1, "contact card (T=1)", .iso7816),
    ])
    func classification(atr: [UInt8], meaning: String, media: Media) throws {
        let info = try ATRInfo(atr)
        #expect(info.tckValid != false)
        let kind = ATRKind(atr: atr)
        #expect(kind.meaning == meaning)
        #expect(kind.media == media)
    }

    @Test func desfireATR() throws {
        let atr = try ATRInfo(ATRs.desfire)
        #expect(atr.historicalBytes == [0x80])
        #expect(atr.tck == 0x80)
        #expect(atr.tckValid == true)
        #expect(atr.kind == .contactlessISO14443_4(historicalBytes: [0x80]))
        #expect(!atr.kind.isMemoryCard)
    }

    @Test func contactATRs() throws {
        let t0 = try ATRInfo(ATRs.contactT0)
        #expect(t0.protocols == [0])
        #expect(t0.tck == nil)
        #expect(t0.tckValid == nil)
        #expect(t0.historicalBytes == [0x14, 0x50])
        let t1 = try ATRInfo(ATRs.contactT1)
        #expect(t1.interfaceBytes.map(\.name) == ["TA1", "TD1", "TD2", "TA3", "TB3"])
        #expect(t1.interfaceByte("TA3") == 0xFE)
        #expect(t1.historicalBytes == [0xAB, 0xCD])
        #expect(!t1.isPCSCContactless)
    }

    @Test func badTCKIsFlaggedNotFatal() throws {
        var bytes = ATRs.classic1K
        bytes[bytes.count - 1] ^= 0x01
        let atr = try ATRInfo(bytes)
        #expect(atr.tckValid == false)
        #expect(atr.kind.media == .classic)
    }

    @Test func malformedATRs() {
        #expect(throws: ATRError.empty) { try ATRInfo([]) }
        #expect(throws: ATRError.badTS(0x3A)) { try ATRInfo(hex("3A 00")) }
        #expect(throws: ATRError.truncated(needed: 2, available: 1)) { try ATRInfo([0x3B]) }
        #expect(throws: ATRError.truncated(needed: 4, available: 3)) { try ATRInfo(hex("3B 8F 80")) }
        #expect(throws: ATRError.truncated(needed: 19, available: 10)) { try ATRInfo(Array(ATRs.classic1K.prefix(10))) }
        // TCK missing.
        #expect(throws: ATRError.truncated(needed: 6, available: 5)) { try ATRInfo(hex("3B 81 80 01 80")) }
        #expect(throws: ATRError.trailingBytes(2)) { try ATRInfo(ATRs.desfire + [0x00, 0x00]) }
        #expect(ATRKind(atr: [0x12]) == .malformed(.badTS(0x12)))
        #expect(ATRKind(atr: [0x12]).media == .unknown)
        #expect(ATRKind(atr: []).meaning == "unrecognised ATR: empty ATR")
    }
}

@Suite struct CardUIDTests {
    @Test func sevenByteNXP() throws {
        let uid = try CardUID(getDataResponse: nxpUID + [0x90, 0x00])
        #expect(uid.bytes == nxpUID)
        #expect(uid.kind == .double)
        #expect(uid.isNXP)
        #expect(!uid.isRandom)
        #expect(uid.hex == "04A1B2C3D4E580")
        #expect(uid.summary == "7-byte UID (NXP)")
    }

    @Test func fourByteAndRandom() throws {
        let fixed = try CardUID(getDataResponse: hex("9A 12 34 56 90 00"))
        #expect(fixed.kind == .single)
        #expect(!fixed.isRandom)
        #expect(!fixed.isNXP)
        let random = try CardUID(getDataResponse: hex("08 12 34 56 90 00"))
        #expect(random.isRandom)
        #expect(random.summary.contains("random"))
        // 08 as first byte of a 7-byte UID is a manufacturer code, not a random ID.
        #expect(try !CardUID(bytes: hex("08 01 02 03 04 05 06")).isRandom)
        #expect(try CardUID(bytes: hex("1F 01 02 03")).isNonUnique)
    }

    @Test func tenAndEightByteUIDs() throws {
        #expect(try CardUID(bytes: [UInt8](repeating: 4, count: 10)).kind == .triple)
        #expect(try CardUID(bytes: [UInt8](repeating: 1, count: 8)).kind == .eightByte)
    }

    @Test func rejections() {
        #expect(throws: UIDError.noStatusWord(length: 0)) { try CardUID(getDataResponse: []) }
        #expect(throws: UIDError.noStatusWord(length: 1)) { try CardUID(getDataResponse: [0x90]) }
        #expect(throws: UIDError.refused(.functionNotSupported)) { try CardUID(getDataResponse: hex("6A 81")) }
        #expect(throws: UIDError.refused(StatusWord(0x63, 0x00))) { try CardUID(getDataResponse: hex("04 A1 63 00")) }
        #expect(throws: UIDError.empty) { try CardUID(getDataResponse: hex("90 00")) }
        #expect(throws: UIDError.unexpectedLength(5)) { try CardUID(getDataResponse: hex("01 02 03 04 05 90 00")) }
        #expect(throws: UIDError.unexpectedLength(11)) { try CardUID(bytes: [UInt8](repeating: 4, count: 11)) }
    }
}

import Testing
@testable import NECCard

@Suite struct LuhnTests {
    @Test func knownNumbers() {
        #expect(Luhn.isValid("79927398713"))
        #expect(!Luhn.isValid("79927398710"))
        #expect(Luhn.isValid("633597013012345674"))
        #expect(!Luhn.isValid("633597013012345675"))
        #expect(Luhn.checkDigit(for: [6, 3, 3, 5, 9, 7, 0, 1, 3, 0, 1, 2, 3, 4, 5, 6, 7]) == 4)
    }

    @Test func rejectsNonDigitsAndShortInput() {
        #expect(!Luhn.isValid("63359701301234567a"))
        #expect(!Luhn.isValid(""))
        #expect(!Luhn.isValid("0"))
    }

    /// The in-place check over ASCII bytes the list import uses agrees with the others.
    @Test func asciiBytesInPlace() {
        #expect(Luhn.isValid(ascii: Array("633597013012345674".utf8)))
        #expect(!Luhn.isValid(ascii: Array("633597013012345675".utf8)))
        #expect(Luhn.isValid(ascii: "79927398713".utf8.dropFirst(0)))
        #expect(!Luhn.isValid(ascii: Array("6335970130123456 4".utf8)))
        #expect(!Luhn.isValid(ascii: [UInt8]()))
        #expect(!Luhn.isValid(ascii: Array("0".utf8)))
        #expect(Luhn.isValid(ascii: Array("00".utf8)))
    }
}

@Suite struct HexTests {
    @Test func forms() {
        let bytes: [UInt8] = [0x04, 0xA1, 0x0F, 0xFF]
        #expect(Hex.string(bytes) == "04A10FFF")
        #expect(Hex.spaced(bytes) == "04 A1 0F FF")
        #expect(Hex.lowercase(bytes) == "04a10fff")
        #expect(Hex.string([]) == "" && Hex.spaced([]) == "" && Hex.lowercase([]) == "")
        #expect(Hex.bytes("04 a1:0F-ff") == bytes)
    }
}

@Suite struct CRCBTests {
    @Test func checkValue() {
        #expect(CRCB.checksum(Array("123456789".utf8)) == 0x906E)
    }

    @Test func itsoAnnexAVectors() {
        #expect(CRCB.checksum([0x00, 0x00, 0x00]) == 0xC6CC)
        #expect(CRCB.checksum([0x0F, 0xAA, 0xFF]) == 0xD1FC)
        #expect(CRCB.checksum([0x0A, 0x12, 0x34, 0x56]) == 0xF62C)
    }
}

@Suite struct ISRNTests {
    @Test func parsesWithAndWithoutSpaces() throws {
        let a = try ISRN("633597013012345674")
        let b = try ISRN("633597 0130 1234 5674")
        #expect(a == b)
        #expect(a.oid == "0130")
        #expect(a.issn == "1234567")
        #expect(a.checkDigit == 4)
        #expect(a.grouped == "633597 0130 1234 5674")
        #expect(a.masked == "633597******5674")
    }

    @Test func rejectsWithReasons() {
        #expect(throws: ISRN.Invalid.wrongLength(17)) { try ISRN("63359701301234567") }
        #expect(throws: ISRN.Invalid.notADigit(position: 3)) { try ISRN("633x97013012345674") }
        #expect(throws: ISRN.Invalid.wrongIIN("633598")) { try ISRN("633598013012345674") }
        #expect(throws: ISRN.Invalid.badCheckDigit(expected: 4, found: 5)) { try ISRN("633597013012345675") }
    }
}

@Suite struct CivilDateTests {
    @Test func itsoEpochArithmetic() {
        #expect(CivilDate(itsoDay: 0).description == "1997-01-01")
        #expect(CivilDate(itsoDay: 0x2FE8).description == "2030-07-31")
        #expect(CivilDate(iso: "2024-02-29") != nil)
        #expect(CivilDate(iso: "2023-02-29") == nil)
        #expect(CivilDate(iso: "2023-13-01") == nil)
        #expect(CivilDate(iso: "2023-1-01") == nil)
        let d = CivilDate(iso: "2026-11-27")!
        #expect(CivilDate(daysSinceUnixEpoch: d.daysSinceUnixEpoch) == d)
    }
}

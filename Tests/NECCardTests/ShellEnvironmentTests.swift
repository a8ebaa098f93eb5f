import Testing
@testable import NECCard

@Suite struct ShellEnvironmentTests {
    @Test func workedExampleDecodesExactly() throws {
        let shell = try ShellEnvironment(decoding: workedShell)
        #expect(shell.format == .full)
        #expect(shell.shellLength == 6)
        #expect(shell.bitmap == 1)
        #expect(shell.formatRevision == 1)
        #expect(shell.isrn?.digits == "633597013012345674")
        #expect(shell.isrn?.oid == "0130")
        #expect(shell.isrn?.issn == "1234567")
        #expect(shell.fvc == 15)
        #expect(shell.ksc == 1)
        #expect(shell.kvc == 1)
        #expect(shell.expiryDay == 12264)
        #expect(shell.expiry?.description == "2030-07-31")
        #expect(shell.sectorSize == 32)
        #expect(shell.sectorCount == 16)
        #expect(shell.directoryEntries == 8)
        #expect(shell.sctl == 16)
        #expect(shell.mcrn == nil)
        #expect(!shell.hasMCRN)
        #expect(shell.secrc == 0x0D70)
        #expect(CRCB.checksum(workedShell[0..<22]) == 0x0D70)
    }

    @Test func shellExactlyShellLengthLongDecodes() throws {
        let shell = try ShellEnvironment(decoding: workedShell.prefix(24))
        #expect(shell.isrn?.digits == "633597013012345674")
    }

    @Test func mcrnShellDecodes() throws {
        #expect(mcrnShell.count == 32)
        let shell = try ShellEnvironment(decoding: mcrnShell + [0xAA, 0xBB])
        #expect(shell.shellLength == 8)
        #expect(shell.bitmap == 3)
        #expect(shell.hasMCRN)
        #expect(shell.isrn?.digits == "633597999900000019")
        #expect(Luhn.isValid("633597999900000019"))
        #expect(shell.mcrn == "99990001")
        #expect(shell.ksc == 2)
        #expect(shell.kvc == 3)
        #expect(shell.expiry?.description == "2030-07-31")
        #expect(shell.secrc == UInt16(mcrnShell[30]) | UInt16(mcrnShell[31]) << 8)
    }

    @Test func fullMCRNOfTwentyDigits() throws {
        var b = mcrnShell
        for i in 20..<30 { b[i] = 0x12 }
        let shell = try ShellEnvironment(decoding: resealed(b, length: 32))
        #expect(shell.mcrn == "12121212121212121212")
    }

    @Test func compactShellHasNoISRN() throws {
        let shell = try ShellEnvironment(decoding: hex("18 01 04"))
        #expect(shell.format == .compact)
        #expect(shell.shellLength == 6)
        #expect(shell.bitmap == 0)
        #expect(shell.formatRevision == 1)
        #expect(shell.fvc == 4)
        #expect(shell.isrn == nil)
        #expect(shell.expiry == nil)
        #expect(shell.secrc == nil)
        // Ultralight pages come in 4-byte units: a compact shell followed by other data.
        #expect(try ShellEnvironment(decoding: hex("18 01 04 00 11 22")).format == .compact)
    }

    @Test func rejectsShortInput() {
        #expect(throws: ShellError.truncated(needed: 3, available: 0)) { try ShellEnvironment(decoding: []) }
        #expect(throws: ShellError.truncated(needed: 3, available: 2)) { try ShellEnvironment(decoding: hex("18 11")) }
        #expect(throws: ShellError.truncated(needed: 24, available: 20)) {
            try ShellEnvironment(decoding: workedShell.prefix(20))
        }
        #expect(throws: ShellError.truncated(needed: 24, available: 23)) {
            try ShellEnvironment(decoding: workedShell.prefix(23))
        }
        #expect(throws: ShellError.truncated(needed: 32, available: 30)) {
            try ShellEnvironment(decoding: mcrnShell.prefix(30))
        }
        // ShellLength 60 blocks declares 240 bytes; the file has 32.
        #expect(throws: ShellError.truncated(needed: 240, available: 32)) {
            try ShellEnvironment(decoding: with(workedShell, 0, 0xF0))
        }
    }

    @Test func rejectsShellLengthTooSmallForItsFields() {
        #expect(throws: ShellError.badShellLength(blocks: 5, minimum: 6)) {
            try ShellEnvironment(decoding: with(workedShell, 0, 0x14))
        }
        #expect(throws: ShellError.badShellLength(blocks: 0, minimum: 6)) {
            try ShellEnvironment(decoding: with(workedShell, 0, 0x00))
        }
        // Bitmap 3 (MCRN) in a 6-block shell: byte 1 high nibble 3.
        #expect(throws: ShellError.badShellLength(blocks: 6, minimum: 8)) {
            try ShellEnvironment(decoding: with(workedShell, 1, 0x31))
        }
    }

    @Test func rejectsBitmapWithoutFullShellBit() {
        #expect(throws: ShellError.unsupportedBitmap(2)) { try ShellEnvironment(decoding: with(workedShell, 1, 0x21)) }
        // Compact header but byte 2 is the IIN, not FVC 4: not a compact shell.
        #expect(throws: ShellError.unsupportedBitmap(0)) { try ShellEnvironment(decoding: with(workedShell, 1, 0x01)) }
    }

    @Test func rejectsWrongIIN() {
        #expect(throws: ShellError.wrongIIN([0x64, 0x35, 0x97])) {
            try ShellEnvironment(decoding: resealed(with(workedShell, 2, 0x64)))
        }
        #expect(ShellError.wrongIIN([0x64, 0x35, 0x97]).checkName == "iin")
    }

    @Test func rejectsNonBCDDigits() {
        #expect(throws: ShellError.notBCD(field: "OID", offset: 5)) {
            try ShellEnvironment(decoding: resealed(with(workedShell, 5, 0x0A)))
        }
        #expect(throws: ShellError.notBCD(field: "OID", offset: 6)) {
            try ShellEnvironment(decoding: resealed(with(workedShell, 6, 0xB0)))
        }
        #expect(throws: ShellError.notBCD(field: "ISSN", offset: 8)) {
            try ShellEnvironment(decoding: resealed(with(workedShell, 8, 0x3F)))
        }
        #expect(throws: ShellError.notBCD(field: "ISSN", offset: 10)) {
            try ShellEnvironment(decoding: resealed(with(workedShell, 10, 0xC4)))
        }
        #expect(throws: ShellError.notBCD(field: "check digit", offset: 10)) {
            try ShellEnvironment(decoding: resealed(with(workedShell, 10, 0x7A)))
        }
        // MCRN: a digit after the F padding, and a nibble A-E.
        #expect(throws: ShellError.notBCD(field: "MCRN", offset: 24)) {
            try ShellEnvironment(decoding: resealed(with(mcrnShell, 24, 0xF1), length: 32))
        }
        #expect(throws: ShellError.notBCD(field: "MCRN", offset: 21)) {
            try ShellEnvironment(decoding: resealed(with(mcrnShell, 21, 0x9A), length: 32))
        }
    }

    @Test(arguments: [
        (16, UInt8(0)),  // B = 0
        (17, 3),  // S < 4
        (18, 0),  // E# = 0
        (19, 0),  // SCTL = 0
        (19, 65),  // SCTL > 64
    ])
    func rejectsBadGeometry(index: Int, value: UInt8) {
        let bytes = resealed(with(workedShell, index, value))
        var expected: [UInt8] = [0x20, 0x10, 0x08, 0x10]
        expected[index - 16] = value
        #expect(throws: ShellError.badGeometry(
            sectorSize: expected[0], sectorCount: expected[1], directoryEntries: expected[2], sctl: expected[3])) {
            try ShellEnvironment(decoding: bytes)
        }
    }

    @Test func acceptsGeometryAtItsLimits() throws {
        var b = workedShell
        b[16] = 1; b[17] = 4; b[18] = 1; b[19] = 64
        #expect(try ShellEnvironment(decoding: resealed(b)).sctl == 64)
        b[19] = 1
        #expect(try ShellEnvironment(decoding: resealed(b)).sctl == 1)
    }

    @Test func rejectsBadSECRC() {
        #expect(throws: ShellError.badSECRC(stored: 0x0D71, computed: 0x0D70)) {
            try ShellEnvironment(decoding: with(workedShell, 22, 0x71))
        }
        // Stored high byte first is wrong: ITSO stores the low byte first.
        #expect(throws: ShellError.badSECRC(stored: 0x700D, computed: 0x0D70)) {
            try ShellEnvironment(decoding: with(with(workedShell, 22, 0x0D), 23, 0x70))
        }
        // A changed data byte under an unchanged SECRC.
        #expect(throws: ShellError.badSECRC(stored: 0x0D70, computed: CRCB.checksum(with(workedShell, 11, 0x0E)[0..<22]))) {
            try ShellEnvironment(decoding: with(workedShell, 11, 0x0E))
        }
    }

    @Test func rejectsBadLuhnButKeepsTheISRN() {
        let bytes = resealed(with(workedShell, 10, 0x75))
        #expect(throws: ShellError.badLuhn(isrn: ISRN(unchecked: "633597013012345675"), expected: 4)) {
            try ShellEnvironment(decoding: bytes)
        }
        #expect(ShellError.badLuhn(isrn: ISRN(unchecked: "633597013012345675"), expected: 4).checkName == "luhn")
    }

    @Test func everySingleByteCorruptionOfTheShellIsRejected() {
        // Exhaustive: every byte the SECRC covers (and the SECRC itself), every other value.
        var accepted: [(Int, UInt8)] = []
        for index in 0..<24 {
            for value in UInt8.min...UInt8.max where value != workedShell[index] {
                if (try? ShellEnvironment(decoding: with(workedShell, index, value))) != nil {
                    accepted.append((index, value))
                }
            }
        }
        #expect(accepted.isEmpty, "accepted corruptions: \(accepted.prefix(5))")
    }
}

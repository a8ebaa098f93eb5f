import NECCard
import Testing
import VirtualCard

/// A card reads its shell through `EmulatedCard`, the emulator's own answers, so the
/// decoder is checked against bytes it did not write.
struct EmulatedTransport: APDUTransport {
    var card: EmulatedCard

    mutating func transmit(_ command: [UInt8]) throws -> [UInt8] { card.respond(to: command) }
}

/// The expiry-0 model ("no expiry"), shell options without an ISRN, and faults in words.
@Suite struct NoExpiryModelTests {
    @Test func noExpiryStoresDayZero() throws {
        var shell = exampleShell
        shell.expiry = nil
        let bytes = shell.shellBytes()
        #expect(Array(bytes[14..<16]) == [0x00, 0x00])
        #expect(shell.expiryDay == 0)
        // Everything else is the worked example's; the SECRC covers the new bytes.
        #expect(Array(bytes[0..<14]) == Array(workedExample[0..<14]))
        #expect(Array(bytes[16..<20]) == Array(workedExample[16..<20]))
        let crc = CRCB.checksum(bytes[0..<22])
        #expect(bytes[22] == UInt8(crc & 0xFF) && bytes[23] == UInt8(crc >> 8))
        let decoded = try ShellEnvironment(decoding: bytes)
        #expect(decoded.expiry == nil)
        #expect(decoded.hasNoExpiry)
        #expect(decoded.isrn?.digits == "633597013012345674")
    }

    @Test func reservedBitsGoInFrontOfTheDate() throws {
        var shell = exampleShell
        shell.reservedBits = 3
        #expect(Array(shell.shellBytes()[14..<16]) == [0xEF, 0xE8])
        #expect(try ShellEnvironment(decoding: shell.shellBytes()).expiry == VirtualShell.exampleExpiry)
        shell.reservedBits = 2
        shell.expiry = nil
        #expect(Array(shell.shellBytes()[14..<16]) == [0x80, 0x00])
        #expect(try ShellEnvironment(decoding: shell.shellBytes()).hasNoExpiry)
    }

    @Test func theTopOfTheRange() {
        var shell = exampleShell
        shell.expiry = CivilDate(year: 2041, month: 11, day: 9)!
        #expect(Array(shell.shellBytes()[14..<16]) == [0x3F, 0xFF])
        // The day after cannot be stored: clamped to the last day, not wrapped to 0.
        shell.expiry = CivilDate(year: 2041, month: 11, day: 10)!
        #expect(Array(shell.shellBytes()[14..<16]) == [0x3F, 0xFF])
    }

    @Test func theOptionGivesADayZeroShellThatReadsAsNoExpiry() throws {
        let model = try VirtualCardModel.from(isrn: "633597 9999 0000 0019", noExpiry: true)
        #expect(model.shell?.expiry == nil)
        let file = try #require(model.shellFile)
        #expect(Array(file[14..<16]) == [0x00, 0x00])
        for chip in [model, try VirtualCardModel.from(isrn: "633597 9999 0000 0019", media: .iso7816, noExpiry: true)] {
            var transport = EmulatedTransport(card: EmulatedCard(model: chip, seed: 1))
            let id = try CardReader.read(atr: chip.atr, transport: &transport)
            #expect(id.isrn?.digits == "633597999900000019")
            #expect(id.expiry == nil)
            #expect(id.noExpiry)
            #expect(id.isReadable)
        }
    }

    @Test func expiredAndNoExpiryTogetherAreRefused() {
        #expect(throws: VirtualCardModel.Invalid.expiredAndNoExpiry) {
            try VirtualCardModel.from(isrn: "633597 9999 0000 0019", expired: true, noExpiry: true)
        }
        #expect(VirtualCardModel.Invalid.expiredAndNoExpiry.description
            == "a virtual card cannot be both expired and without expiry")
    }

    @Test func aShellOptionWithoutAnISRNGivesTheDefaultShell() throws {
        let expired = try VirtualCardModel.from(isrn: nil, expired: true)
        #expect(expired.shell?.isrn == VirtualCardModel.defaultShellISRN)
        #expect(expired.shell?.expiry == VirtualCardModel.pastExpiry)
        #expect(VirtualCardModel.defaultShellISRN.digits == "633597999900000019")
        var transport = EmulatedTransport(card: EmulatedCard(model: expired, seed: 1))
        let id = try CardReader.read(atr: expired.atr, transport: &transport)
        #expect(id.isrn?.digits == "633597999900000019")
        #expect(id.expiry == VirtualCardModel.pastExpiry)

        let none = try VirtualCardModel.from(isrn: nil, noExpiry: true)
        #expect(none.shell?.isrn == VirtualCardModel.defaultShellISRN)
        #expect(none.shell?.expiry == nil)
        let badCRC = try VirtualCardModel.from(isrn: nil, badCRC: true)
        #expect(badCRC.shell?.isrn == VirtualCardModel.defaultShellISRN)
        #expect(badCRC.faults == [.badSECRC])
        let badLuhn = try VirtualCardModel.from(isrn: nil, uid: "04A1B2C3D4E5F6", badLuhn: true)
        #expect(badLuhn.shell?.isrn == VirtualCardModel.defaultShellISRN)
        #expect(badLuhn.uid == .fixed(hex("04 A1 B2 C3 D4 E5 F6")))
        #expect(badLuhn.faults == [.badLuhn])
        // No shell option: still a card without ITSO, known by its UID.
        #expect(try VirtualCardModel.from(isrn: nil).shell == nil)
        // A Classic card carries no shell, so a shell option is an error, not ignored.
        #expect(throws: VirtualCardModel.Invalid.shellOnClassic) {
            try VirtualCardModel.from(isrn: nil, media: .classic, expired: true)
        }
        #expect(throws: VirtualCardModel.Invalid.shellOnClassic) {
            try VirtualCardModel.from(isrn: nil, media: .classic, noExpiry: true)
        }
    }

    @Test func descriptionsAreInPeoplesWords() throws {
        let bad = try VirtualCardModel.from(isrn: "633597 9999 0000 0019", badCRC: true)
        #expect(bad.description == "desfire, uid 04112233445566, isrn 633597******0019, expiry 2040-12-31, faults: bad SECRC")
        let both = try VirtualCardModel.from(isrn: "633597 9999 0000 0019", noExpiry: true, badCRC: true, badLuhn: true)
        #expect(both.description
            == "desfire, uid 04112233445566, isrn 633597******0019, no expiry, faults: bad SECRC + bad check digit (Luhn)")
        #expect(VirtualCardFault.removeAfter(apdus: 0).description == "leaves the reader at the first APDU")
        #expect(VirtualCardFault.removeAfter(apdus: 1).description == "leaves the reader after 1 APDU")
        #expect(VirtualCardFault.removeAfter(apdus: 3).description == "leaves the reader after 3 APDUs")
        #expect(VirtualCardFault.delay(.milliseconds(80)).description == "answers 80 ms late")
        #expect(VirtualCardFault.delay(.microseconds(1500)).description == "answers 1.5 ms late")
        #expect(VirtualCardFault.garbage(seed: 42).description == "answers random bytes (seed 42)")
        #expect(VirtualCardFault.garbage(seed: nil).description == "answers random bytes")
        let all = VirtualCardModel.desfireITSO(shell: exampleShell)
            .with(.badSECRC, .badLuhn, .removeAfter(apdus: 2), .delay(.seconds(1)), .garbage(seed: 7))
        #expect(!all.description.contains("VirtualCard"))
        #expect(!all.description.contains("["))
        #expect(!all.description.contains("removeAfter"))
        #expect(!all.description.contains("badSECRC"))
    }
}

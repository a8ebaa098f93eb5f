import PropertyBased
import Testing
@testable import NECCard

/// The worked-example shell with bytes 14-15 (two reserved bits, then the 14-bit DATE)
/// replaced and the SECRC recomputed.
func shellWithExpiry(_ high: UInt8, _ low: UInt8) -> [UInt8] {
    resealed(with(with(workedShell, 14, high), 15, low))
}

/// ITSO's expiry DATE: 14 bits of days from 1997-01-01 after two reserved bits, where a
/// stored 0 means "no expiry".
@Suite struct ExpiryTests {
    @Test func dayZeroMeansNoExpiry() throws {
        let shell = try ShellEnvironment(decoding: shellWithExpiry(0x00, 0x00))
        #expect(shell.expiryDay == 0)
        #expect(shell.expiry == nil)
        #expect(shell.hasNoExpiry)
        #expect(shell.isrn?.digits == "633597013012345674")
    }

    @Test func dayZeroWithTheReservedBitsSetIsStillNoExpiry() throws {
        for high: UInt8 in [0x40, 0x80, 0xC0] {
            let shell = try ShellEnvironment(decoding: shellWithExpiry(high, 0x00))
            #expect(shell.expiryDay == 0)
            #expect(shell.expiry == nil)
            #expect(shell.hasNoExpiry)
        }
    }

    @Test func theReservedBitsAreMaskedBeforeADate() throws {
        // 0x2F | 0xC0: both reserved bits set in front of day 0x2FE8.
        let both = try ShellEnvironment(decoding: shellWithExpiry(0xEF, 0xE8))
        #expect(both.expiryDay == 0x2FE8)
        #expect(both.expiry?.description == "2030-07-31")
        #expect(!both.hasNoExpiry)
        let high = try ShellEnvironment(decoding: shellWithExpiry(0xAF, 0xE8))
        #expect(high.expiry?.description == "2030-07-31")
        let low = try ShellEnvironment(decoding: shellWithExpiry(0x6F, 0xE8))
        #expect(low.expiry?.description == "2030-07-31")
    }

    @Test func theEndsOfTheRange() throws {
        let first = try ShellEnvironment(decoding: shellWithExpiry(0x00, 0x01))
        #expect(first.expiryDay == 1)
        #expect(first.expiry?.description == "1997-01-02")
        #expect(!first.hasNoExpiry)
        let last = try ShellEnvironment(decoding: shellWithExpiry(0x3F, 0xFF))
        #expect(last.expiryDay == 0x3FFF)
        #expect(last.expiry?.description == "2041-11-09")
        #expect(ShellEnvironment.maxExpiryDay == 0x3FFF)
        // All bits set: the reserved ones are masked, the DATE is the last day.
        let allSet = try ShellEnvironment(decoding: shellWithExpiry(0xFF, 0xFF))
        #expect(allSet.expiry?.description == "2041-11-09")
        // The first test vector's 0x2B26 and the worked example's 0x2FE8.
        #expect(try ShellEnvironment(decoding: shellWithExpiry(0x2B, 0x26)).expiry?.description == "2027-03-31")
        #expect(try ShellEnvironment(decoding: workedShell).expiry?.description == "2030-07-31")
    }

    @Test func aCompactShellHasNeitherExpiryNorNoExpiry() throws {
        let shell = try ShellEnvironment(decoding: hex("18 01 04"))
        #expect(shell.expiry == nil)
        #expect(!shell.hasNoExpiry)
    }

    @Test func theReaderPassesNoExpiryOn() throws {
        var card = desfireITSOCard(shell: shellWithExpiry(0xC0, 0x00))
        let id = try CardReader.read(atr: ATRs.desfire, transport: &card)
        #expect(id.isrn?.digits == "633597013012345674")
        #expect(id.expiry == nil)
        #expect(id.noExpiry)
        #expect(id.isReadable)
        #expect(id.checks.allSatisfy { $0.ok })

        var dated = desfireITSOCard()
        let datedID = try CardReader.read(atr: ATRs.desfire, transport: &dated)
        #expect(datedID.expiry?.description == "2030-07-31")
        #expect(!datedID.noExpiry)

        // No shell read: neither a date nor "no expiry".
        var classic = ScriptedTransport([Commands.getUID: [hex("11 22 33 44 90 00")]])
        let classicID = try CardReader.read(atr: ATRs.classic1K, transport: &classic)
        #expect(classicID.expiry == nil)
        #expect(!classicID.noExpiry)
    }

    @Test func everyStoredDayAndReservedBitsDecode() async {
        await propertyCheck(count: 1000, input: Gen.int(in: 0...0x3FFF), Gen.uint8(in: 0...3)) { day, reserved in
            let bytes = shellWithExpiry(reserved << 6 | UInt8(day >> 8), UInt8(day & 0xFF))
            guard let shell = try? ShellEnvironment(decoding: bytes) else {
                Issue.record("day \(day) with reserved bits \(reserved) did not decode")
                return
            }
            #expect(shell.expiryDay == day)
            #expect(shell.hasNoExpiry == (day == 0))
            if day == 0 {
                #expect(shell.expiry == nil)
            } else {
                let expiry = shell.expiry
                #expect(expiry.map { $0.daysSinceUnixEpoch - CivilDate.itsoEpoch.daysSinceUnixEpoch } == day)
                #expect(expiry.map { $0 > CivilDate.itsoEpoch && $0 <= CivilDate(year: 2041, month: 11, day: 9)! } == true)
            }
        }
    }
}

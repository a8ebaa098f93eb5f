import Foundation
import NECCard
import NECCardRecording
import Testing
import VirtualCard

/// `necctl scan --record --redact`: the synthetic numbers, and that a redacted recording
/// decodes as the original did, fault for fault.
@Suite struct RecordingRedactorTests {
    static let shell = CardCorpus.flipsoShell

    /// A full shell (ShellLength 6) with its SECRC made wrong by `flip`, or right.
    static func shell(_ bytes: [UInt8], flip: UInt16 = 0) -> [UInt8] {
        var out = CardCorpus.sealed(bytes)
        out[22] ^= UInt8(flip & 0xFF)
        out[23] ^= UInt8(flip >> 8)
        return out
    }

    @Test func theShellGetsOID9999ARandomISSNAndRightCheckDigitAndSECRC() throws {
        var redactor = RecordingRedactor(seed: 42)
        let redacted = redactor.redactShell(Self.shell)
        // 633597 9999 3184025 0: Luhn gives 0; CRC_B of bytes 0-21 is 0x3D57.
        #expect(redacted == Hex.bytes("18 11 63 35 97 99 99 31 84 02 50 07 04 01 36 7F A0 10 08 07 00 00 57 3D"))
        let before = try ShellEnvironment(decoding: Self.shell)
        let after = try ShellEnvironment(decoding: redacted)
        #expect(after.isrn?.oid == "9999")
        #expect(after.isrn?.digits != before.isrn?.digits)
        #expect(after.expiryDay == before.expiryDay && after.fvc == before.fvc && after.ksc == before.ksc && after.kvc == before.kvc)
        #expect([after.sectorSize, after.sectorCount, after.directoryEntries, after.sctl]
                == [before.sectorSize, before.sectorCount, before.directoryEntries, before.sctl])
        // Only the ISRN's bytes (5-10) and the SECRC (22-23) changed.
        let changed = Set(redacted.indices.filter { redacted[$0] != Self.shell[$0] })
        #expect(changed.isSubset(of: Set(5...10).union([22, 23])))
    }

    @Test func theSameCardGetsTheSameNumbersInEveryTap() {
        var redactor = RecordingRedactor(seed: 3)
        #expect(redactor.redactShell(Self.shell) == redactor.redactShell(Self.shell))
        #expect(redactor.syntheticUID(for: CardCorpus.uid7) == redactor.syntheticUID(for: CardCorpus.uid7))
    }

    @Test func aBadSECRCStaysBadByTheSameBits() throws {
        var redactor = RecordingRedactor(seed: 42)
        let original = Self.shell(Self.shell, flip: 0x0100)
        #expect(throws: ShellError.badSECRC(stored: 0x832C, computed: 0x822C)) { try ShellEnvironment(decoding: original) }
        let redacted = redactor.redactShell(original)
        #expect(redacted == Hex.bytes("18 11 63 35 97 99 99 31 84 02 50 07 04 01 36 7F A0 10 08 07 00 00 57 3C"))
        #expect(throws: ShellError.badSECRC(stored: 0x3C57, computed: 0x3D57)) { try ShellEnvironment(decoding: redacted) }
    }

    @Test func aBadCheckDigitStaysWrongByAsMuch() throws {
        var bytes = Self.shell
        bytes[10] = 0x76  // check digit 9 becomes 6: Luhn says 9, 3 below it
        let original = Self.shell(bytes)
        #expect(throws: ShellError.badLuhn(isrn: ISRN(unchecked: "633597028707000076"), expected: 9)) {
            try ShellEnvironment(decoding: original)
        }
        var redactor = RecordingRedactor(seed: 42)
        let redacted = redactor.redactShell(original)
        #expect(redacted == Hex.bytes("18 11 63 35 97 99 99 31 84 02 57 07 04 01 36 7F A0 10 08 07 00 00 CF BF"))
        // 633597 9999 3184025 with check digit 7 where Luhn gives 0: 3 below it again.
        #expect(throws: ShellError.badLuhn(isrn: ISRN(unchecked: "633597999931840257"), expected: 0)) {
            try ShellEnvironment(decoding: redacted)
        }
    }

    @Test func aNonDecimalDigitStaysWhereItWas() throws {
        var bytes = Self.shell
        bytes[8] = 0xB0  // ISSN digit 4 is B
        let original = Self.shell(bytes)
        #expect(throws: ShellError.notBCD(field: "ISSN", offset: 8)) { try ShellEnvironment(decoding: original) }
        var redactor = RecordingRedactor(seed: 42)
        let redacted = redactor.redactShell(original)
        #expect(redacted[8] >> 4 == 0x0B)
        #expect(Array(redacted[5...6]) == [0x99, 0x99])
        #expect(throws: ShellError.notBCD(field: "ISSN", offset: 8)) { try ShellEnvironment(decoding: redacted) }
    }

    @Test func uidsKeepTheirLengthAndKind() {
        var redactor = RecordingRedactor(seed: 9)
        let nxp = redactor.syntheticUID(for: CardCorpus.uid7)
        #expect(nxp.count == 7 && nxp[0] == 0x04 && nxp != CardCorpus.uid7)
        let random = redactor.syntheticUID(for: [0x08, 0x12, 0x34, 0x56])
        #expect(random.count == 4 && random[0] == 0x08 && random != [0x08, 0x12, 0x34, 0x56])
        let nonUnique = redactor.syntheticUID(for: [0x3F, 0x12, 0x34, 0x56])
        #expect(nonUnique.count == 4 && nonUnique[0] & 0x0F == 0x0F)
        for _ in 0..<64 {
            let plain = redactor.syntheticUID(for: [0x9A, 0x01, 0x02, UInt8.random(in: 0...255)])
            #expect(plain.count == 4 && plain[0] != 0x08 && plain[0] != 0x88 && plain[0] & 0x0F != 0x0F)
        }
        let triple = redactor.syntheticUID(for: [0x04] + [UInt8](repeating: 0x21, count: 9))
        #expect(triple.count == 10 && triple[0] == 0x04)
    }

    /// Every corpus card, redacted, decodes to the same checks (names and results), media
    /// and APDU count; only the numbers differ, and the original ones are gone.
    @Test func everyCorpusCardDecodesTheSameWayRedacted() throws {
        for entry in CardCorpus.entries {
            var redactor = RecordingRedactor(seed: 5)
            let redacted = redactor.redact(entry.tap)
            #expect(redacted.redacted)
            var before = ReplayTransport(entry.tap), after = ReplayTransport(redacted)
            let a = Result { () throws(CardReadError) in try CardReader.read(atr: entry.tap.atr, transport: &before) }
            let b = Result { () throws(CardReadError) in try CardReader.read(atr: redacted.atr, transport: &after) }
            switch (a, b) {
            case (.success(let x), .success(let y)):
                #expect(x.checks.map(\.name) == y.checks.map(\.name), "\(entry.name)")
                #expect(x.checks.map(\.ok) == y.checks.map(\.ok), "\(entry.name)")
                #expect(x.media == y.media && x.apduCount == y.apduCount && x.uidRandom == y.uidRandom, "\(entry.name)")
                #expect(x.expiry == y.expiry && x.noExpiry == y.noExpiry, "\(entry.name)")
                #expect((x.isrn == nil) == (y.isrn == nil) && (x.mcrn == nil) == (y.mcrn == nil), "\(entry.name)")
                if let isrn = y.isrn {
                    #expect(isrn.oid == "9999" && isrn.digits != x.isrn?.digits, "\(entry.name): \(isrn.digits)")
                }
                if let uid = x.uid {
                    #expect(y.uid?.count == uid.count && y.uid != uid, "\(entry.name)")
                }
                let line = String(decoding: CardRecording.line(redacted), as: UTF8.self)
                if let uid = x.uidHex { #expect(!line.contains(uid), "\(entry.name): UID left in \(line)") }
                if let isrn = x.isrn { #expect(!line.contains(String(isrn.digits.dropFirst(6).prefix(11))), "\(entry.name): ISRN left") }
            case (.failure(.transport(_, let n)), .failure(.transport(_, let m))):
                #expect(n == m, "\(entry.name)")
            default:
                Issue.record("\(entry.name): \(a) redacted gave \(b)")
            }
        }
    }

    @Test func theUIDInGetVersionIsReplacedByTheSameSyntheticOne() {
        let uid = CardCorpus.uid7
        let third = uid + [0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x26]
        let tap = RecordedTap(necdRelease: "test", time: "2026-12-02T00:00:00.000Z", reader: "r", atr: [0x3B], exchanges: [
            RecordedExchange(command: CardUID.getDataCommand, response: uid + [0x90, 0x00]),
            RecordedExchange(command: DESFire.getVersion, response: [0x04, 0x01, 0x01, 0x01, 0x00, 0x18, 0x05, 0x91, 0xAF]),
            RecordedExchange(command: DESFire.additionalFrame, response: [0x04, 0x01, 0x01, 0x01, 0x04, 0x18, 0x05, 0x91, 0xAF]),
            RecordedExchange(command: DESFire.additionalFrame, response: third + [0x91, 0x00]),
        ])
        var redactor = RecordingRedactor(seed: 11)
        let redacted = redactor.redact(tap)
        let synthetic = Array(redacted.exchanges[0].response!.dropLast(2))
        #expect(synthetic.count == 7 && synthetic[0] == 0x04 && synthetic != uid)
        #expect(redacted.exchanges[3].response == synthetic + [0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x26, 0x91, 0x00])
        #expect(redacted.exchanges[1].response == tap.exchanges[1].response && redacted.exchanges[2].response == tap.exchanges[2].response)
    }

    @Test func theDirectorysInstanceIDIsReplacedAndNothingElseInIt() throws {
        let tap = CardCorpus.desfireTap(uid: CardCorpus.uid7, file: CardCorpus.flipsoShell + [UInt8](repeating: 0, count: 8),
                                        directory: CardCorpus.flipsoDirectory)
        var redactor = RecordingRedactor(seed: 13)
        let redacted = redactor.redact(tap)
        let before = try #require(tap.exchanges.last?.response), after = try #require(redacted.exchanges.last?.response)
        #expect(before.count == 57 && after.count == 57)
        #expect(Array(after.prefix(50)) == Array(before.prefix(50)))  // entries, SCT, DIRS# 08
        #expect(Array(after[50..<55]) != Hex.bytes("00 00 4E 30 F3"))
        #expect(Array(after.suffix(2)) == [0x91, 0x00])
        // A directory without an InstanceID (50 bytes) is left as it is.
        let blocked = CardCorpus.desfireTap(uid: CardCorpus.uid7, file: CardCorpus.flipsoBlockedShell + [UInt8](repeating: 0, count: 8),
                                            directory: CardCorpus.flipsoBlockedDirectory)
        #expect(redactor.redact(blocked).exchanges.last?.response == blocked.exchanges.last?.response)
    }

    @Test func theCMD2ShellInTagC0IsRedacted() throws {
        let entry = try #require(CardCorpus.entries.first { $0.name == "cmd2-nec" })
        var redactor = RecordingRedactor(seed: 17)
        let redacted = redactor.redact(entry.tap)
        let select = try #require(redacted.exchanges.first { $0.command == CMD2.selectITSO }?.response)
        let fci = try ITSOApplicationFCI(fci: Array(select.dropLast(2)))
        let shell = try ShellEnvironment(decoding: fci.shell)
        #expect(shell.isrn?.oid == "9999" && shell.isrn?.digits != CardCorpus.isrn(111).digits)
    }

    /// Hostile bytes where a shell, a directory or a UID should be: the redactor never
    /// traps, and keeps every answer's length and status word.
    @Test func hostileAnswersNeverTrapAndKeepTheirShape() {
        var random = SplitMix64(seed: 99)
        var redactor = RecordingRedactor(seed: 1)
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in random.nextByte() } }
        for round in 0..<2000 {
            var file = bytes(Int(random.next() % 70))
            if round % 3 == 0, file.count > 2 { file[0] = UInt8(random.next() % 64) << 2 | 0x00; file[1] = 0x10 | file[1] & 0x0F }
            let shell = redactor.redactShell(file)
            #expect(shell.count == file.count)
            let commands: [[UInt8]] = [CardUID.getDataCommand, DESFire.readShell, DESFire.additionalFrame, DESFire.readData(file: 0x00),
                                       CMD2.selectITSO, DESFire.getVersion, bytes(Int(random.next() % 8) + 1)]
            let exchanges = (0..<Int(random.next() % 8)).map { _ in
                let command = commands[Int(random.next() % UInt64(commands.count))]
                return random.next() % 9 == 0
                    ? RecordedExchange(command: command, response: nil, error: "gone")
                    : RecordedExchange(command: command, response: bytes(Int(random.next() % 66)) + [0x91, UInt8(random.next() % 2 == 0 ? 0xAF : 0x00)])
            }
            let tap = RecordedTap(necdRelease: "t", time: "t", reader: "r", atr: [0x3B], exchanges: exchanges)
            let redacted = redactor.redact(tap)
            #expect(redacted.exchanges.map(\.command) == tap.exchanges.map(\.command))
            #expect(redacted.exchanges.map { $0.response?.count } == tap.exchanges.map { $0.response?.count })
            #expect(redacted.exchanges.map { $0.response?.suffix(2) } == tap.exchanges.map { $0.response?.suffix(2) })
        }
    }
}

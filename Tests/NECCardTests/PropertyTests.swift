import PropertyBased
import Testing
@testable import NECCard

/// Status words that steer the reader down each of its paths, plus none at all.
let steeringStatuses: [[UInt8]] = [
    [0x90, 0x00], [0x91, 0x00], [0x91, 0xAF], [0x91, 0xA0], [0x91, 0x9D], [0x6E, 0x00],
    [0x6D, 0x00], [0x6A, 0x82], [0x61, 0x05], [0x62, 0x83], [],
]

/// Random bytes, often ending in a status word the reader acts on.
let cardAnswer = zip(Gen.uint8().array(of: 0...40), Gen.element(of: steeringStatuses))
    .map { (data: [UInt8], status: [UInt8]?) in data + (status ?? []) }

/// Random bytes of any short length.
let randomBytes = Gen.uint8().array(of: 0...80)

@Suite struct PropertyTests {
    @Test func atrParsingNeverCrashes() async {
        await propertyCheck(count: 500, input: randomBytes) { bytes in
            let kind = ATRKind(atr: bytes)
            #expect(!kind.meaning.isEmpty)
            if let info = try? ATRInfo(bytes) {
                #expect(info.bytes == bytes)
                #expect(info.historicalBytes.count == Int(info.t0 & 0x0F))
            }
        }
    }

    @Test func atrLikeInputNeverCrashes() async {
        // Random bytes behind a real TS and a PC/SC contactless prefix reach the deeper branches.
        let prefixes = [[0x3B], [0x3F], hex("3B 8F 80 01 80 4F"), hex("3B 81 80 01")]
        await propertyCheck(count: 500, input: Gen.element(of: prefixes), Gen.uint8().array(of: 0...30)) { prefix, tail in
            let kind = ATRKind(atr: (prefix ?? []) + tail)
            #expect(!kind.meaning.isEmpty)
        }
    }

    @Test func truncatedInputsNeverCrash() {
        for atr in [ATRs.classic1K, ATRs.desfire, ATRs.contactT1, ATRs.desfireWholeATS] {
            for n in 0..<atr.count {
                #expect(throws: ATRError.self) { try ATRInfo(Array(atr.prefix(n))) }
            }
        }
        for n in 0..<24 {
            #expect(throws: ShellError.self) { try ShellEnvironment(decoding: workedShell.prefix(n)) }
        }
        for n in 0..<32 {
            #expect(throws: ShellError.self) { try ShellEnvironment(decoding: mcrnShell.prefix(n)) }
        }
        let fciBytes = fci(shell: Array(workedShell.prefix(24)))
        for n in 0..<fciBytes.count {
            #expect(throws: FCIError.self) { try ITSOApplicationFCI(fci: Array(fciBytes.prefix(n))) }
        }
        let uidAnswer = nxpUID + [0x90, 0x00]
        for n in 0..<uidAnswer.count {
            #expect(throws: UIDError.self) { try CardUID(getDataResponse: Array(uidAnswer.prefix(n))) }
        }
    }

    @Test func shellDecodingNeverCrashesAndOnlyAcceptsSoundShells() async {
        await propertyCheck(count: 1000, input: randomBytes) { bytes in
            expectSoundIfAccepted(bytes)
        }
    }

    @Test func shellLikeInputNeverCrashes() async {
        // A real header and IIN with random fields, resealed so the SECRC passes: this
        // reaches the BCD, geometry and Luhn checks.
        await propertyCheck(count: 1000, input: Gen.uint8().array(of: 19...19)) { tail in
            var bytes = [0x18, 0x11, 0x63, 0x35, 0x97] + tail
            bytes = resealed(bytes, length: 24)
            expectSoundIfAccepted(bytes)
        }
    }

    @Test func singleByteCorruptionOfTheWorkedExampleIsRejected() async {
        await propertyCheck(count: 500, input: Gen.int(in: 0...23), Gen.uint8(in: 1...255)) { index, delta in
            let corrupted = with(workedShell, index, workedShell[index] &+ delta)
            #expect(throws: ShellError.self) { try ShellEnvironment(decoding: corrupted) }
        }
    }

    @Test func fciParsingNeverCrashes() async {
        await propertyCheck(count: 500, input: randomBytes) { bytes in
            _ = try? ITSOApplicationFCI(fci: bytes)
            _ = try? TLV.parse(bytes)
        }
        // Random bytes inside a plausible template.
        await propertyCheck(count: 500, input: Gen.uint8().array(of: 0...60)) { inner in
            let bytes = [0x6F, UInt8(inner.count)] + inner
            if let parsed = try? ITSOApplicationFCI(fci: bytes) {
                #expect(parsed.shellOffset + parsed.shell.count <= bytes.count)
            }
        }
    }

    @Test func uidParsingNeverCrashes() async {
        await propertyCheck(count: 500, input: cardAnswer) { answer in
            if let uid = try? CardUID(getDataResponse: answer) {
                #expect([4, 7, 8, 10].contains(uid.bytes.count))
                #expect(Array(answer.suffix(2)) == [0x90, 0x00])
            }
        }
    }

    @Test func cardReaderWithRandomAnswersNeverCrashesOrInventsAnISRN() async {
        await propertyCheck(
            count: 500, input: cardAnswer, cardAnswer, cardAnswer, cardAnswer, cardAnswer, Gen.int(in: -1...6)
        ) { uid, select, read, more, cmd2, failAt in
            let answers: [[UInt8]: [[UInt8]]] = [
                Commands.getUID: [uid],
                Commands.selectITSO: [select],
                Commands.readShell: [read],
                Commands.more: [more],
                Commands.selectCMD2: [cmd2],
            ]
            for atr in [ATRs.desfire, ATRs.classic1K, ATRs.contactT0, []] {
                var card = ScriptedTransport(answers, failAt: failAt >= 0 ? failAt : nil)
                do {
                    let id = try CardReader.read(atr: atr, transport: &card)
                    #expect(id.apduCount == card.sent.count)
                    #expect(id.apduCount <= 2 + 2 * DESFire.defaultFrameLimit)
                    // Random answers never make a sound shell, so never an ISRN.
                    #expect(id.isrn == nil)
                    if id.uid == nil { #expect(!id.isReadable) }
                } catch let error as CardReadError {
                    if case .transport(let underlying, let after) = error {
                        #expect(after == failAt)
                        #expect(card.sent.count == after + 1)
                        #expect(underlying is ScriptedTransport.Removed)
                    }
                } catch {
                    Issue.record("unexpected error \(error)")
                }
            }
        }
    }
}

/// If `bytes` decode as a full shell, every integrity rule holds for what came out.
func expectSoundIfAccepted(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    guard let shell = try? ShellEnvironment(decoding: bytes) else { return }
    guard shell.format == .full else {
        #expect(Array(bytes.prefix(3)) == [0x18, 0x01, 0x04], sourceLocation: sourceLocation)
        return
    }
    let length = shell.shellLength * 4
    #expect(shell.isrn.map { $0.hasValidCheckDigit && $0.digits.hasPrefix("633597") } == true, sourceLocation: sourceLocation)
    #expect(CRCB.checksum(bytes[0..<(length - 2)]) == shell.secrc, sourceLocation: sourceLocation)
    #expect((shell.sectorSize ?? 0) > 0 && (shell.sectorCount ?? 0) >= 4, sourceLocation: sourceLocation)
    #expect((1...64).contains(shell.sctl ?? 0) && (shell.directoryEntries ?? 0) > 0, sourceLocation: sourceLocation)
}

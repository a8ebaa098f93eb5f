import Foundation
import NECTestSupport
import PCSC
import Testing

@Suite struct PCSCErrorTests {
    @Test func everyNamedErrorRoundTripsThroughItsCodeAndName() {
        for error in PCSCError.allNamed {
            #expect(PCSCError(name: error.name) == error)
            #expect(error.name.hasPrefix("SCARD_"))
            #expect(!error.meaning.isEmpty)
            // SCARD_E_UNEXPECTED shares 0x8010001F with SCARD_E_UNSUPPORTED_FEATURE.
            let decoded = PCSCError(code32: error.code)
            #expect(decoded == (error == .unexpected ? .unsupportedFeature : error))
        }
    }

    @Test func namesAreUniqueAndCodesAreUniqueExceptTheSharedOne() {
        let names = PCSCError.allNamed.map(\.name)
        #expect(Set(names).count == names.count)
        let codes = PCSCError.allNamed.map(\.code)
        #expect(Set(codes).count == codes.count - 1)
        #expect(PCSCError.allNamed.count == 60)
    }

    @Test func measuredCodesHaveTheirNames() {
        #expect(PCSCError.removedCard.name == "SCARD_W_REMOVED_CARD")
        #expect(PCSCError.removedCard.hexCode == "0x80100069")
        #expect(PCSCError.resetCard.code == 0x8010_0068)
        #expect(PCSCError.noService.code == 0x8010_001D)
        #expect(PCSCError.communicationError.name == "SCARD_F_COMM_ERROR")
        #expect(PCSCError.cancelled.hexCode == "0x80100002")
        #expect(PCSCError.removedCard.description == "SCARD_W_REMOVED_CARD (0x80100069): The card left the reader during the exchange.")
    }

    @Test func returnCodesAreMaskedTo32Bits() {
        // LONG is 64 bits on Linux; a code may arrive sign-extended or zero-extended.
        #expect(PCSCError(returnCode: Int(bitPattern: 0xFFFF_FFFF_8010_0069)) == .removedCard)
        #expect(PCSCError(returnCode: 0x8010_0069) == .removedCard)
        #expect(PCSCError(returnCode: Int(bitPattern: 0x1234_5678_8010_001D)) == .noService)
        #expect(PCSCError(returnCode: 0) == nil)
        #expect(PCSCError(returnCode: Int(bitPattern: 0xFFFF_FFFF_0000_0000)) == nil)
    }

    @Test func unknownCodesArePreserved() {
        let error = PCSCError(returnCode: Int(bitPattern: 0xFFFF_FFFF_8010_0099))
        #expect(error == .unknown(0x8010_0099))
        #expect(error?.code == 0x8010_0099)
        #expect(error?.hexCode == "0x80100099")
        #expect(error?.name == "SCARD_UNKNOWN_0x80100099")
        #expect(PCSCError(code32: 0x22) == .unknown(0x22))
        #expect(PCSCError.unknown(0x22).hexCode == "0x00000022")
        #expect(PCSCError(name: "SCARD_E_NOT_A_THING") == nil)
    }

    @Test func serviceLossErrorsAreTheFourOfTheReaderLoop() {
        let lost = PCSCError.allNamed.filter(\.meansServiceLost).map(\.name).sorted()
        #expect(lost == ["SCARD_E_INVALID_HANDLE", "SCARD_E_NO_SERVICE", "SCARD_E_SERVICE_STOPPED", "SCARD_F_COMM_ERROR"])
    }

    /// Every return code pcsc-lite's header defines has its case, by name and code.
    @Test(.needs("needs \(pcscliteHeader) (apt-get install libpcsclite-dev)") { FileManager.default.fileExists(atPath: pcscliteHeader) })
    func everyCodeOfTheInstalledHeaderIsNamed() throws {
        let header = try String(contentsOfFile: pcscliteHeader, encoding: .utf8)
        var seen = 0
        for line in header.split(separator: "\n") where line.hasPrefix("#define SCARD_") && line.contains("((LONG)0x") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            let name = String(fields[1])
            guard name != "SCARD_S_SUCCESS" else { continue }
            let hex = fields[2].drop(while: { $0 != "x" }).dropFirst().prefix(8)
            let code = try #require(UInt32(hex, radix: 16))
            let error = try #require(PCSCError(name: name), "no case for \(name)")
            #expect(error.code == code, "\(name)")
            seen += 1
        }
        #expect(seen == PCSCError.allNamed.count)
    }
}

let pcscliteHeader = "/usr/include/PCSC/pcsclite.h"

@Suite struct ReaderStateFlagsTests {
    @Test func flagsKeepTheLow16BitsAndReadAsNames() {
        let flags = ReaderStateFlags(rawValue: 0x0003_0122)
        #expect(flags == [.changed, .present, .inUse])
        #expect(flags.description == "CHANGED|PRESENT|INUSE")
        #expect(ReaderStateFlags.unaware.description == "UNAWARE")
    }

    @Test func acknowledgingTakesTheReportedStateAsKnown() {
        var state = ReaderState(reader: ReaderState.plugAndPlayNotification)
        #expect(state.reader == #"\\?PnP?\Notification"#)
        #expect(state.currentState == .unaware)
        state.acknowledge()
        #expect(state.currentState == [])
        #expect(state.currentEventCount == 0)
    }
}

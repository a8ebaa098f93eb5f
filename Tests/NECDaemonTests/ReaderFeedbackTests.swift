import NECCardReading
import PCSC
import Testing

@testable import NECConfiguration

/// The pure parts of reader feedback: which bytes each reader gets for each decision, and
/// the `feedback` key of a `[[reader]]` table.
@Suite("Reader feedback")
struct ReaderFeedbackTests {
    static let acr122 = "ACS ACR122U PICC Interface 00 00"
    static let acr1252 = "ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00"
    static let acr1255 = "ACS ACR1255U-J1 PICC Reader 00 00"
    static let acr1552 = "ACS ACR1552 1S CL Reader [ACR1552 1S CL Reader PICC] 00 00"
    static let virtual = "Virtual PCD 00 00"
    static let omnikey = "HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422 CL] 00 00"

    @Test("Each reader name gets its model's bytes for each decision")
    func bytesByReaderName() {
        let biColorAuthorised: [[UInt8]] = [[0xFF, 0x00, 0x40, 0xA0, 0x04, 0x02, 0x01, 0x01, 0x01]]
        let biColorDeclined: [[UInt8]] = [[0xFF, 0x00, 0x40, 0x50, 0x04, 0x01, 0x01, 0x02, 0x01]]
        let newerAuthorised: [[UInt8]] = [[0xFF, 0x00, 0x44, 0x02, 0x00], [0xFF, 0x00, 0x52, 0x14, 0x00]]
        let newerDeclined: [[UInt8]] = [[0xFF, 0x00, 0x44, 0x01, 0x00], [0xFF, 0x00, 0x52, 0x28, 0x00]]
        let cases: [(String, ReaderFeedback.ACSModel, [[UInt8]], [[UInt8]])] = [
            (Self.acr122, .acr122, biColorAuthorised, biColorDeclined),
            (Self.acr1252, .acr1252, newerAuthorised, newerDeclined),
            (Self.acr1255, .acr1252, newerAuthorised, newerDeclined),
            (Self.acr1552, .acr1252, newerAuthorised, newerDeclined),
            // Forced to "acs" with a name that names no ACS model: the ACR122U's command.
            (Self.virtual, .acr122, biColorAuthorised, biColorDeclined),
        ]
        for (name, model, authorised, declined) in cases {
            #expect(ReaderFeedback.model(forReader: name) == model, "\(name)")
            #expect(ReaderFeedback.commands(for: .authorised, reader: name) == authorised, "\(name)")
            #expect(ReaderFeedback.commands(for: .declined, reader: name) == declined, "\(name)")
        }
    }

    @Test("Every feedback is at most two APDUs, all ACS pseudo-APDUs (class FF, instruction 00)")
    func feedbackIsSmall() {
        for model in ReaderFeedback.ACSModel.allCases {
            for signal in ReaderFeedback.Signal.allCases {
                let commands = ReaderFeedback.commands(for: signal, model: model)
                #expect((1...2).contains(commands.count))
                #expect(commands.allSatisfy { $0.count >= 5 && $0[0] == 0xFF && $0[1] == 0x00 })
            }
        }
    }

    @Test("A reader's answer counts as done only with SW1 90")
    func acceptedAnswers() {
        #expect(ReaderFeedback.accepted([0x90, 0x00]))
        #expect(ReaderFeedback.accepted([0x90, 0x02]))  // the ACR122U's LED state in SW2
        #expect(!ReaderFeedback.accepted([0x6D, 0x00]))
        #expect(!ReaderFeedback.accepted([0x63, 0x00]))
        #expect(!ReaderFeedback.accepted([0x90]))
        #expect(!ReaderFeedback.accepted([]))
    }

    @Test("What a failed feedback says in the log")
    func outcomeDescriptions() {
        #expect(ReaderFeedback.Outcome.shown(apdus: 2).description == "shown (2 APDUs)")
        #expect(
            ReaderFeedback.Outcome.refused(command: [0xFF, 0x00, 0x40, 0xA0, 0x04], status: [0x6D, 0x00]).description
                == "the reader refused FF 00 40 A0 04 with 6D 00")
        #expect(
            ReaderFeedback.Outcome.failed(apdus: 0, error: .removedCard).description
                == "not shown after 0 APDUs: \(PCSCError.removedCard)")
        #expect(ReaderFeedback.Outcome.noAnswer(apdus: 1).description == "the reader gave no status word after 1 APDU")
    }

    @Test("feedback defaults by reader name: ACS readers get acs, every other none")
    func defaultByName() throws {
        let configuration = try NECConfiguration.parse("", path: "/etc/necd/necd.toml")
        #expect(configuration.readerFeedback(for: Self.acr122) == .acs)
        #expect(configuration.readerFeedback(for: Self.acr1252) == .acs)
        #expect(configuration.readerFeedback(for: Self.virtual) == .off)
        #expect(configuration.readerFeedback(for: Self.omnikey) == .off)
        #expect(configuration.readerFeedback(for: "") == .off)
    }

    @Test("feedback in a [[reader]] table wins for its readers; a table without it leaves the name to decide")
    func perReaderTable() throws {
        let text = """
            [[reader]]
            match = "Virtual PCD 00 00"
            feedback = "acs"

            [[reader]]
            match = "ACS ACR1252*"
            feedback = "none"

            [[reader]]
            match = "ACS ACR122U*"
            lane = "till-1"
            """
        let configuration = try NECConfiguration.parse(text, path: "/etc/necd/necd.toml")
        #expect(configuration.readers.map(\.feedback) == [.acs, .off, nil])
        #expect(configuration.readerFeedback(for: Self.virtual) == .acs)
        #expect(configuration.readerFeedback(for: "Virtual PCD 00 01") == .off)
        #expect(configuration.readerFeedback(for: Self.acr1252) == .off)
        #expect(configuration.readerFeedback(for: Self.acr122) == .acs)
    }

    @Test("An invalid feedback is a configuration error naming its line")
    func invalidValue() {
        let text = """
            [[reader]]
            match = "*"
            feedback = "beep"
            """
        #expect(throws: ConfigurationError.badValue(
            path: "/etc/necd/necd.toml", line: 3, key: "reader[1].feedback",
            reason: "must be \"acs\" or \"none\", got \"beep\"")
        ) {
            try NECConfiguration.parse(text, path: "/etc/necd/necd.toml")
        }
        let wrongType = """
            [[reader]]
            match = "*"

            feedback = true
            """
        #expect(throws: ConfigurationError.wrongType(
            path: "/etc/necd/necd.toml", line: 4, key: "reader[1].feedback", expected: "a string", found: "a boolean")
        ) {
            try NECConfiguration.parse(wrongType, path: "/etc/necd/necd.toml")
        }
    }
}


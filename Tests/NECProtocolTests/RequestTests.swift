import NECProtocol
import Testing

private func parse(_ line: String) throws(Request.ParseError) -> Request {
    try Request.parse(line: Array(line.utf8))
}

@Suite("Requests parse strictly and fail with precise errors")
struct RequestTests {
    @Test func everyCommandOfTheContract() throws {
        #expect(try parse(#"{"cmd":"watch","enable":true}"#) == .watch(enable: true, since: nil))
        #expect(try parse(#"{"cmd":"watch","enable":true,"since":41}"#) == .watch(enable: true, since: 41))
        #expect(try parse(#"{"cmd":"watch","enable":false}"#) == .watch(enable: false, since: nil))
        #expect(try parse(#"{"cmd":"readers"}"#) == .readers)
        #expect(try parse(#"{"cmd":"status"}"#) == .status)
        #expect(try parse(#"{"cmd":"lookup","card":"633597999900000018"}"#) == .lookup(card: "633597999900000018"))
        #expect(try parse(#"{"cmd":"void","seq":42}"#) == .void(seq: 42))
    }

    @Test func unknownKeysAreIgnoredForForwardCompatibility() throws {
        #expect(try parse(#"{"cmd":"status","verbose":true,"nested":{"a":[null]}}"#) == .status)
    }

    @Test(arguments: [
        ("", Request.ParseError.notJSONObject),
        ("{", .notJSONObject),
        ("[1,2]", .notJSONObject),
        ("\"status\"", .notJSONObject),
        ("{}", .missingCommand),
        (#"{"cmd":7}"#, .missingCommand),
        (#"{"cmd":"frobnicate"}"#, .unknownCommand("frobnicate")),
        (#"{"cmd":"watch"}"#, .missingField(command: "watch", field: "enable")),
        (#"{"cmd":"watch","enable":"yes"}"#, .invalidField(command: "watch", field: "enable")),
        (#"{"cmd":"watch","enable":true,"since":-1}"#, .invalidField(command: "watch", field: "since")),
        (#"{"cmd":"watch","enable":true,"since":"41"}"#, .invalidField(command: "watch", field: "since")),
        (#"{"cmd":"watch","enable":true,"since":4.5}"#, .invalidField(command: "watch", field: "since")),
        (#"{"cmd":"lookup"}"#, .missingField(command: "lookup", field: "card")),
        (#"{"cmd":"lookup","card":42}"#, .invalidField(command: "lookup", field: "card")),
        (#"{"cmd":"lookup","card":""}"#, .invalidField(command: "lookup", field: "card")),
        (#"{"cmd":"void"}"#, .missingField(command: "void", field: "seq")),
        (#"{"cmd":"void","seq":null}"#, .invalidField(command: "void", field: "seq")),
    ])
    func badRequests(line: String, expected: Request.ParseError) {
        #expect(throws: expected) { try parse(line) }
    }

    @Test func invalidUTF8IsRejectedNotCrashed() {
        #expect(throws: Request.ParseError.notJSONObject) { try Request.parse(line: [0x7B, 0xFF, 0xFE, 0x7D]) }
    }

    @Test func errorTextNeverEchoesAHostilePayload() {
        let hostile = Request.ParseError.unknownCommand(String(repeating: "\u{1B}[31m\"", count: 100))
        #expect(!hostile.description.contains("\u{1B}"))
        #expect(hostile.description.count < 64)
    }

    @Test func echoedTextHasNoControlFormatOrBidiCharacters() {
        let hostile = "a\u{202E}b\u{202A}c\u{2067}d\u{200E}e\u{200D}f\u{FEFF}g\u{85}h\u{2029}i\u{E000}j\u{7F}k\u{1B}l"
        #expect(EchoedText.safe(hostile) == "abcdefghijkl")
        #expect(Request.ParseError.unknownCommand(hostile).description == "unknown cmd \"abcdefghijkl\"")
        // Letters of every script stay, and so do quotes when a whole message is cleaned.
        #expect(EchoedText.safe("Größe עברית 漢字") == "Größe עברית 漢字")
        #expect(EchoedText.safe(#"card "x\y""#, keepingQuotes: true) == #"card "x\y""#)
        #expect(EchoedText.safe(String(repeating: "z", count: 40), maxCharacters: 32) == String(repeating: "z", count: 32) + "…")
    }

    @Test(arguments: [
        Request.watch(enable: true, since: nil), .watch(enable: true, since: 9_000_000_000), .watch(enable: false, since: nil),
        .readers, .status, .lookup(card: "0400A1\"\\\n\u{01}é"), .void(seq: 1),
    ])
    func jsonLineParsesBack(request: Request) throws {
        #expect(try Request.parse(line: Array(request.jsonLine.utf8)) == request)
        #expect(!request.jsonLine.contains("\n"))
    }
}

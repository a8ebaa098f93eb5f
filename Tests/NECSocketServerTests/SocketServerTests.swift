#if canImport(Glibc)
import Glibc
#endif
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

@Suite("Socket server: requests, errors and framing", .timeLimit(.minutes(1)))
struct SocketServerRequestTests {
    @Test func answersEveryRequestOfTheContract() async throws {
        let backend = InMemoryBackend(
            readers: [ReaderInfo(name: "Test Reader 00 00", state: .empty, role: .till, lane: "till-1")],
            cards: ["633597999900000018": LookupMessage(card: CardInfo(isrn: "633597999900000018"), decision: .declined, reason: .unknownCard)])
        backend.configureVoid(of: 1)
        backend.configureVoid(of: 2, refusal: "event 2 holds no lunch to release (not a lunch, or already voided)")
        try await withSocketServer(backend: backend) { server, path in
            let client = try await connectPastBanner(path)
            try await client.send(#"{"cmd":"readers"}"#)
            #expect(await client.nextLine() == #"{"class":"READERS","readers":[{"name":"Test Reader 00 00","state":"empty","role":"till","lane":"till-1"}]}"#)
            backend.tap(1, through: server)
            try await client.send(#"{"cmd":"status"}"#)
            guard case .status(let status)? = try await client.nextMessage() else {
                Issue.record("no STATUS")
                return
            }
            #expect(status.lastSeq == 1)
            #expect(status.clients == 1)
            try await client.send(#"{"cmd":"lookup","card":"633597999900000018"}"#)
            #expect(await client.nextLine() == #"{"class":"LOOKUP","card":{"isrn":"633597999900000018"},"decision":"declined","reason":"unknown_card"}"#)
            try await client.send(#"{"cmd":"void","seq":1}"#)
            #expect(await client.nextLine() == #"{"class":"VOID","seq":1}"#)
            // A refusal from the backend is an ERROR with its message, and the connection stays.
            try await client.send(#"{"cmd":"void","seq":2}"#)
            #expect(await client.nextLine() == #"{"class":"ERROR","message":"event 2 holds no lunch to release (not a lunch, or already voided)"}"#)
            try await client.send(#"{"cmd":"lookup","card":"nonsense"}"#)
            try #require(try await nextClass(client) == "ERROR", "no ERROR for a bad card")
            await client.close()
        }
    }

    @Test func badLinesGetAnErrorAndTheConnectionStays() async throws {
        try await withSocketServer(backend: InMemoryBackend()) { _, path in
            let client = try await connectPastBanner(path)
            let bad = [
                "not json", "{", "[]", "{}", #"{"cmd":"frobnicate"}"#, #"{"cmd":"lookup"}"#,
                #"{"cmd":"void","seq":"x"}"#, #"{"cmd":"watch","enable":1}"#, "\u{7F}\u{01}",
            ]
            for line in bad {
                try await client.send(line)
                guard case .error(let error)? = try await client.nextMessage() else {
                    Issue.record("no ERROR for \(line)")
                    return
                }
                #expect(!error.message.isEmpty)
            }
            // Invalid UTF-8 too.
            try await client.send(raw: [0x7B, 0xC3, 0x28, 0x7D, 0x0A])
            try #require(try await nextClass(client) == "ERROR", "no ERROR for invalid UTF-8")
            try await client.send(#"{"cmd":"status"}"#)
            try #require(try await nextClass(client) == "STATUS", "the connection did not survive the bad lines")
            await client.close()
        }
    }

    @Test func anOversizeLineClosesOnlyThatConnection() async throws {
        try await withSocketServer(backend: InMemoryBackend()) { server, path in
            let bystander = try await connectPastBanner(path)
            let exact = try await connectPastBanner(path)
            let offender = try await connectPastBanner(path)

            // Exactly 16,384 bytes is allowed: not JSON, so an ERROR, and the connection stays.
            try await exact.send(String(repeating: "x", count: ProtocolLimits.maxLineBytes))
            try #require(try await nextClass(exact) == "ERROR", "a line of exactly the limit was not answered")

            // Over the limit (plus one byte of slack for a `\r`), sent in pieces and
            // never finished with a newline: closed without waiting for the newline.
            let half = [UInt8](repeating: 0x20, count: ProtocolLimits.maxLineBytes / 2)
            try await offender.send(raw: half)
            try await offender.send(raw: half + [0x20, 0x20])
            var closingLines: [String] = []
            while let line = await offender.nextLine() { closingLines.append(line) }
            #expect(closingLines == [#"{"class":"ERROR","message":"line longer than 16384 bytes; closing"}"#])

            for client in [bystander, exact] {
                try await client.send(#"{"cmd":"status"}"#)
                try #require(try await nextClass(client) == "STATUS", "a bystander lost its connection")
            }
            #expect(server.clientCount == 2)

            // One byte over, finished with a newline: closed too.
            let another = try await connectPastBanner(path)
            try await another.send(String(repeating: " ", count: ProtocolLimits.maxLineBytes + 1))
            try #require(try await nextClass(another) == "ERROR", "no ERROR before closing")
            #expect(await another.nextLine() == nil)
            await bystander.close()
            await exact.close()
        }
    }

    @Test func twoHundredClientsConnectAndLeave() async throws {
        try await withSocketServer(backend: InMemoryBackend()) { server, path in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let client = try await connectPastBanner(path)
                        if index.isMultiple(of: 2) {
                            try await client.send(#"{"cmd":"status"}"#)
                            guard case .status? = try await client.nextMessage() else { return false }
                        }
                        await client.close()
                        return true
                    }
                }
                var served = 0
                for try await ok in group where ok { served += 1 }
                #expect(served == 200)
            }
            try await waitUntil("every client is gone") { server.clientCount == 0 }
            // And it still serves.
            let late = try await connectPastBanner(path)
            await late.close()
        }
    }

    @Test func aRequestSplitAcrossWritesAndSeveralInOneWrite() async throws {
        try await withSocketServer(backend: InMemoryBackend()) { _, path in
            let client = try await connectPastBanner(path)
            try await client.send(raw: Array(#"{"cmd":"v"#.utf8))
            // Pacing, not a wait: the two writes are meant to reach the server as two reads.
            try await Task.sleep(for: .milliseconds(20))
            try await client.send(raw: Array("oid\",\"seq\":7}\r\n{\"cmd\":\"status\"}\n{\"cmd\":\"readers\"}\n".utf8))
            for expected in ["ERROR", "STATUS", "READERS"] {
                try #require(try await nextClass(client) == expected, "answers missing or out of order")
            }
            await client.close()
        }
    }
}

@Suite("Socket server: the line limit at end of input, and echoed text", .timeLimit(.minutes(1)))
struct SocketServerEdgeTests {
    /// A STATUS request padded with spaces to exactly `length` bytes, with what follows it.
    static func paddedStatus(_ length: Int, then tail: String = "") -> String {
        let request = #"{"cmd":"status"}"#
        return request + String(repeating: " ", count: length - request.utf8.count) + tail
    }

    @Test func theLimitHoldsForALastLineWithoutANewline() async throws {
        try await withSocketServer(backend: InMemoryBackend()) { _, path in
            let limit = ProtocolLimits.maxLineBytes
            #expect(limit == 16_384)
            // 16,384 bytes and a newline: answered.
            let withNewline = try await sendThenEOF(path, Self.paddedStatus(limit, then: "\n"))
            #expect(withNewline.count == 2 && isStatus(withNewline[1]), "\(withNewline)")
            // 16,384 bytes, no newline, end of input: answered.
            let exact = try await sendThenEOF(path, Self.paddedStatus(limit))
            #expect(exact.count == 2 && isStatus(exact[1]), "\(exact)")
            // The same with the `\r` of a `\r\n` cut short: the `\r` does not count.
            let carriageReturn = try await sendThenEOF(path, Self.paddedStatus(limit, then: "\r"))
            #expect(carriageReturn.count == 2 && isStatus(carriageReturn[1]), "\(carriageReturn)")
            // 16,385 bytes, no newline, end of input: refused and closed, never answered.
            let over = try await sendThenEOF(path, Self.paddedStatus(limit + 1))
            #expect(over.dropFirst() == [#"{"class":"ERROR","message":"line longer than 16384 bytes; closing"}"#])
            // Requests before the long one are answered first.
            let first = try await sendThenEOF(path, #"{"cmd":"status"}"# + "\n" + Self.paddedStatus(limit + 1))
            #expect(first.count == 3 && isStatus(first[1]), "\(first)")
            #expect(first.last == #"{"class":"ERROR","message":"line longer than 16384 bytes; closing"}"#)
        }
    }

    /// An unknown `cmd` is echoed without controls or bidirectional overrides: what a
    /// technician reads in a log or a terminal is what was sent, in order.
    @Test func anErrorNeverEchoesControlOrBidiCharacters() async throws {
        try await withSocketServer(backend: InMemoryBackend()) { _, path in
            let client = try await connectPastBanner(path)
            // RLO reverses what follows; the others embed, isolate, mark, join, or are C0/C1 controls.
            let hostile = "evil\u{202E}lmth.exe\u{2066}\u{200F}\u{200B}\u{FEFF}\u{061C}\u{85}\u{9B}31m\u{2028}x"
            try await client.send(#"{"cmd":"\#(hostile)"}"#)
            #expect(await client.nextLine() == #"{"class":"ERROR","message":"unknown cmd \"evillmth.exe31mx\""}"#)
            // JSON escapes decode to the same characters and are stripped the same way.
            try await client.send(#"{"cmd":"a\u202Eb\u0007c\u001B[2Jd"}"#)
            #expect(await client.nextLine() == #"{"class":"ERROR","message":"unknown cmd \"abc[2Jd\""}"#)
            await client.close()
        }
    }
}

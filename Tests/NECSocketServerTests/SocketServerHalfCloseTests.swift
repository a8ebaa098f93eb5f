import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

private let banner = versionBanner

/// A client that sends its requests and then shuts its sending side (`shutdown(SHUT_WR)`,
/// what `echo ... | socat - UNIX-CONNECT:...` does) gets every answer, then end of input.
@Suite("Socket server: half-closed connections", .timeLimit(.minutes(2)))
struct SocketServerHalfCloseTests {
    static let readers = [ReaderInfo(name: "Test Reader 00 00", state: .empty, role: .till, lane: "till-1")]
    static let cards = ["633597999900000019": LookupMessage(card: CardInfo(isrn: "633597999900000019"), decision: .declined, reason: .unknownCard)]

    @Test(arguments: [
        (#"{"cmd":"readers"}"#, #"{"class":"READERS","readers":[{"name":"Test Reader 00 00","state":"empty","role":"till","lane":"till-1"}]}"#),
        (#"{"cmd":"lookup","card":"633597999900000019"}"#, #"{"class":"LOOKUP","card":{"isrn":"633597999900000019"},"decision":"declined","reason":"unknown_card"}"#),
        (#"{"cmd":"status"}"#, "STATUS"),
    ])
    func everyAnswerArrivesBeforeTheCloseFiftyTimesOver(request: String, answer: String) async throws {
        try await withSocketServer(backend: InMemoryBackend(readers: Self.readers, cards: Self.cards)) { _, path in
            var answered = 0
            for _ in 0..<50 {
                let lines = try await sendThenEOF(path, request + "\n")
                #expect(lines.count == 2, "\(lines)")
                #expect(lines.first == banner)
                if answer == "STATUS" {
                    let message = try lines.last.map { try MessageCoding.daemonMessage(from: Array($0.utf8)) }
                    if case .status? = message { answered += 1 }
                } else if lines.last == answer {
                    answered += 1
                }
            }
            #expect(answered == 50)
        }
    }

    /// The way people try the protocol by hand: several requests, the last without its
    /// newline, then end of input. Each is answered, in order, and then the server closes.
    @Test func severalRequestsThenEndOfInputAreAllAnswered() async throws {
        let backend = InMemoryBackend(readers: Self.readers)
        try await withSocketServer(backend: backend) { server, path in
            backend.tap(2, through: server)
            for _ in 0..<20 {
                let lines = try await sendThenEOF(
                    path, "{\"cmd\":\"readers\"}\n{\"cmd\":\"frobnicate\"}\r\n\n{\"cmd\":\"void\",\"seq\":99}\n{\"cmd\":\"readers\"}")
                #expect(lines == [
                    banner,
                    #"{"class":"READERS","readers":[{"name":"Test Reader 00 00","state":"empty","role":"till","lane":"till-1"}]}"#,
                    #"{"class":"ERROR","message":"unknown cmd \"frobnicate\""}"#,
                    #"{"class":"ERROR","message":"void: no answer configured for event 99"}"#,
                    #"{"class":"READERS","readers":[{"name":"Test Reader 00 00","state":"empty","role":"till","lane":"till-1"}]}"#,
                ])
            }
        }
    }

    /// A replay asked for just before end of input is sent in full, then the connection
    /// stays open for live events: a watcher that only listens may shut its sending side.
    @Test func aWatcherThatHalfClosesKeepsReceivingEvents() async throws {
        let backend = InMemoryBackend()
        try await withSocketServer(backend: backend) { server, path in
            backend.tap(3, through: server)
            let socket = try await onOwnThread { () -> RawSocket in
                let socket = try RawSocket(path: path)
                try socket.send(#"{"cmd":"watch","enable":true,"since":1}"#)
                try socket.shutdownWrite()
                return socket
            }
            let replayed = try await onOwnThread { try (0..<4).map { _ in try socket.readLine() } }
            #expect(replayed[0] == banner)
            #expect(replayed[1] == #"{"class":"WATCH","enable":true,"since":1}"#)
            #expect(replayed[2]?.contains(#""seq":2"#) == true)
            #expect(replayed[3]?.contains(#""seq":3"#) == true)
            try await waitUntil("the half-closed watcher is live") { server.liveWatcherCount == 1 }
            backend.tap(2, through: server)
            let live = try await onOwnThread { try (0..<2).map { _ in try socket.readLine() } }
            #expect(live[0]?.contains(#""seq":4"#) == true)
            #expect(live[1]?.contains(#""seq":5"#) == true)
            #expect(server.clientCount == 1)
            socket.close()
            try await waitUntil("the closed watcher is forgotten") { server.clientCount == 0 }
        }
    }
}

@testable import NECDaemon
import NECSocketServer
import NECSocketServerTesting
import NECTestSupport
import Testing

/// Events a request journals (a void, a charge, a manual lunch) take their place in the
/// publishing order with the taps written alongside them, through ``EventRelay``.
@Suite("EventRelay: request events in seq order with taps", .timeLimit(.minutes(1)))
struct EventRelayTests {
    static func line(_ seq: Int64) -> EventLine {
        EventLine(seq: seq, line: Array(#"{"class":"TAP","seq":\#(seq)}"#.utf8) + [0x0A])
    }

    /// A server whose watcher is live, with a relay attached to it.
    static func withWatcher(_ body: (EventRelay, SocketServer, SocketTestClient) async throws -> Void) async throws {
        try await withSocketServer(backend: InMemoryBackend()) { server, path in
            server.startPublishing(after: 0)
            let relay = EventRelay()
            relay.attach(server)
            let watcher = try await connectPastBanner(path)
            try await watcher.send(#"{"cmd":"watch","enable":true}"#)
            #expect(await watcher.nextLine() == #"{"class":"WATCH","enable":true,"since":0}"#)
            try await waitUntil("the watcher is live") { server.liveWatcherCount == 1 }
            try await body(relay, server, watcher)
            await watcher.close()
        }
    }

    /// A charge commits seq 1, a tap beside it seq 2 and hands it over first: the tap's
    /// line waits for the charge's, so watchers read 1 then 2.
    @Test func aTapFinishingFirstWaitsForTheEarlierRequestEvent() async throws {
        try await Self.withWatcher { relay, server, watcher in
            await relay.writing { publish in
                let tap = server.reserve()
                server.publish(Self.line(2), for: tap)
                publish(Self.line(1))
                // A second hand-over of the same write is ignored.
                publish(Self.line(1))
            }
            #expect(await watcher.nextLine() == #"{"class":"TAP","seq":1}"#)
            #expect(await watcher.nextLine() == #"{"class":"TAP","seq":2}"#)
            server.publish(Self.line(3))
            #expect(await watcher.nextLine() == #"{"class":"TAP","seq":3}"#)
        }
    }

    /// A request that is refused stores nothing and gives its place back: a tap held
    /// behind it is published as soon as the refusal is thrown.
    @Test func aRefusedRequestGivesItsPlaceBack() async throws {
        try await Self.withWatcher { relay, server, watcher in
            await #expect(throws: RequestRefusal.self) {
                try await relay.writing { _ in
                    let tap = server.reserve()
                    // seq 2 with nothing published before it: it waits for the request's place.
                    server.publish(Self.line(2), for: tap)
                    throw RequestRefusal("refund: no charge with that txn")
                }
            }
            #expect(await watcher.nextLine() == #"{"class":"TAP","seq":2}"#)
        }
    }
}

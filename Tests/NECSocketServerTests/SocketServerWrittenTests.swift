import Glibc
import NECSocketServer
import NECSocketServerTesting
import Synchronization
import Testing

/// `publish(_:for:then:)` runs its work only once the event is in every live watcher's
/// socket: what the work sees there, without reading it, says so.
@Suite("Socket server: work after an event is written", .timeLimit(.minutes(2)))
struct SocketServerWrittenTests {
    /// What `descriptor` holds unread, without taking it.
    private static func unread(_ descriptor: CInt) -> String {
        var bytes = [UInt8](repeating: 0, count: 65536)
        let count = recv(descriptor, &bytes, bytes.count, Int32(MSG_PEEK | MSG_DONTWAIT))
        return count > 0 ? String(decoding: bytes.prefix(count), as: UTF8.self) : ""
    }

    @Test func theWorkFindsItsEventInEveryWatchersSocket() async throws {
        let backend = InMemoryBackend()
        try await withSocketServer(backend: backend) { server, path in
            let first = try RawSocket(path: path)
            let second = try RawSocket(path: path)
            for watcher in [first, second] {
                _ = try await onOwnThread { try watcher.readLine() }
                try watcher.send(#"{"cmd":"watch","enable":true}"#)
                #expect(try await onOwnThread { try watcher.readLine() } == #"{"class":"WATCH","enable":true,"since":0}"#)
            }
            let found = Mutex<[Int: [Bool]]>([:])
            let (done, finished) = AsyncStream.makeStream(of: Void.self)
            let descriptors = [first.descriptor, second.descriptor]
            for seq in 1...20 {
                let ticket = server.reserve()
                server.publish(EventLine(seq: Int64(seq), json: #"{"class":"TAP","seq":\#(seq)}"#), for: ticket) {
                    let seen = descriptors.map { Self.unread($0).contains(#"{"class":"TAP","seq":\#(seq)}"#) }
                    let all = found.withLock { found in
                        found[seq] = seen
                        return found.count == 20
                    }
                    if all { finished.finish() }
                }
            }
            for await _ in done {}
            #expect(found.withLock { $0 } == Dictionary(uniqueKeysWithValues: (1...20).map { ($0, [true, true]) }))
            first.close()
            second.close()
        }
    }

    @Test func withNoWatcherTheWorkRunsAtOnce() async throws {
        let backend = InMemoryBackend()
        try await withSocketServer(backend: backend) { server, _ in
            let ran = Mutex(false)
            let ticket = server.reserve()
            server.publish(EventLine(seq: 1, json: #"{"class":"TAP","seq":1}"#), for: ticket) { ran.withLock { $0 = true } }
            #expect(ran.withLock { $0 })
        }
    }
}

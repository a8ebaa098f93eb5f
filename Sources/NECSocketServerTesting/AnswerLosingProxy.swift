import Foundation
import Glibc
import Synchronization

/// A Unix socket in front of a server that loses the answers of its first connections, as a
/// dropped connection or a restart does to a till: it passes on the banner and the first
/// request, reads the server's answer, keeps it to itself, and closes both ends. Later
/// connections are passed through whole. Plain blocking sockets, each connection on threads
/// of its own, so a client under test meets a real socket that really drops.
public final class AnswerLosingProxy: Sendable {
    /// Where clients connect.
    public let path: String
    private let upstream: String
    private let listening: CInt
    private let state: Mutex<State>

    private struct State {
        var losing: Int
        var lost: [String] = []
        var connections = 0
    }

    /// Listens at `path`, in front of the server at `upstream`.
    /// - Parameters:
    ///   - path: the proxy's socket.
    ///   - upstream: the server's socket.
    ///   - losing: how many connections (the first ones) lose their answer.
    /// - Throws: ``RawSocket/Failure`` when the socket cannot be bound.
    public init(path: String, upstream: String, losing: Int) throws {
        self.path = path
        self.upstream = upstream
        listening = try boundUnixSocket(at: path, listening: true)
        state = Mutex(State(losing: losing))
        let thread = Thread { [self] in acceptConnections() }
        thread.start()
    }

    /// The answers the server sent that the proxy did not pass on, oldest first.
    public var lostAnswers: [String] { state.withLock { $0.lost } }

    /// How many connections clients made through the proxy.
    public var connections: Int { state.withLock { $0.connections } }

    /// Stops accepting; connections already made run to their end.
    public func stop() {
        shutdown(listening, Int32(SHUT_RDWR))
    }

    deinit {
        shutdown(listening, Int32(SHUT_RDWR))
        close(listening)
    }

    private func acceptConnections() {
        while true {
            let accepted = accept(listening, nil, nil)
            if accepted < 0 {
                if errno == EINTR { continue }
                return
            }
            let client = RawSocket(adopting: accepted)
            let loses = state.withLock { state -> Bool in
                state.connections += 1
                guard state.losing > 0 else { return false }
                state.losing -= 1
                return true
            }
            let thread = Thread { [self] in
                guard let server = try? RawSocket(path: upstream) else {
                    client.close()
                    return
                }
                if loses { loseAnswer(client: client, server: server) } else { pass(client: client, server: server) }
            }
            thread.start()
        }
    }

    /// Banner and one request through, the answer kept back, both ends closed.
    private func loseAnswer(client: RawSocket, server: RawSocket) {
        defer {
            client.close()
            server.close()
        }
        guard let banner = try? server.readLine(), (try? client.send(banner)) != nil,
            let request = try? client.readLine(), (try? server.send(request)) != nil,
            let answer = try? server.readLine()
        else { return }
        state.withLock { $0.lost.append(answer) }
    }

    /// Every line both ways until either side closes; each socket is closed when the
    /// last thread using it lets go of it.
    private func pass(client: RawSocket, server: RawSocket) {
        let upward = Thread {
            while let line = try? client.readLine(timeout: .seconds(60)), (try? server.send(line)) != nil {}
            try? server.shutdownWrite()
        }
        upward.start()
        while let line = try? server.readLine(timeout: .seconds(60)), (try? client.send(line)) != nil {}
        // Wakes the upward thread too: it reads the end of the client's input.
        shutdown(client.descriptor, Int32(SHUT_RDWR))
    }
}

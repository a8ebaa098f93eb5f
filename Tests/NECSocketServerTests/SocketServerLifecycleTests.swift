#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NECProtocol
import NECSocketServer
import NECSocketServerTesting
import Testing

private func fileStatus(_ path: String) -> stat? {
    var status = stat()
    return stat(path, &status) == 0 ? status : nil
}

@Suite("Socket server: socket file, systemd socket, shutdown", .timeLimit(.minutes(1)))
struct SocketServerLifecycleTests {
    @Test func replacesAStaleSocketAndSetsModeAndGroup() async throws {
        try await withTemporaryDirectory { directory in
            // A socket file left by a crashed daemon: bound, never unlinked, nobody listening.
            let stale = try boundUnixSocket(at: directory + "/necd.sock", listening: false)
            close(stale)
            try await withSocketServer(backend: InMemoryBackend(), in: directory, configure: { $0.group = .id(4242) }) { _, path in
                let client = try await connectPastBanner(path)
                await client.close()
                let status = try #require(fileStatus(path))
                #expect(status.st_mode & 0o777 == 0o660)
                #expect(Int(status.st_mode) & Int(S_IFMT) == Int(S_IFSOCK))
                // The tests run as root here; elsewhere chown to a foreign group is refused.
                if geteuid() == 0 { #expect(status.st_gid == 4242) }
            }
        }
    }

    /// A socket someone is listening on is left alone: the second server refuses to start,
    /// and the first keeps serving.
    @Test func neverTakesOverALiveSocket() async throws {
        let backend = InMemoryBackend()
        try await withTemporaryDirectory { directory in
            try await withSocketServer(backend: backend, in: directory) { _, path in
                let second = SocketServer(configuration: SocketServerConfiguration(endpoint: .path(path)), backend: backend)
                await #expect(throws: SocketFileError.inUse(path: path)) { try await second.run() }
                let client = try await connectPastBanner(path)
                try await client.send(#"{"cmd":"readers"}"#)
                #expect(await client.nextLine() == #"{"class":"READERS","readers":[]}"#)
                await client.close()
            }
            // And anything that is not a socket is not removed either.
            let file = directory + "/not-a-socket"
            #expect(FileManager.default.createFile(atPath: file, contents: Data("keep me".utf8)))
            let server = SocketServer(configuration: SocketServerConfiguration(endpoint: .path(file)), backend: backend)
            await #expect(throws: SocketFileError.notASocket(path: file)) { try await server.run() }
            #expect(FileManager.default.contents(atPath: file) == Data("keep me".utf8))
        }
    }

    @Test func refusesToStartWithAnUnknownGroup() async throws {
        let backend = InMemoryBackend()
        try await withTemporaryDirectory { directory in
            let configuration = SocketServerConfiguration(
                endpoint: .path(directory + "/necd.sock"), group: .name("necd-no-such-group-9999")
            )
            let server = SocketServer(configuration: configuration, backend: backend)
            await #expect(throws: SocketFileError.unknownGroup("necd-no-such-group-9999")) { try await server.run() }
        }
    }

    @Test func servesASocketHandedOverBySystemd() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/activated.sock"
            let descriptor = try boundUnixSocket(at: path, listening: true)
            try await withSocketServer(backend: InMemoryBackend(), in: directory, configure: { $0.endpoint = .inheritedDescriptor(descriptor) }) { _, _ in
                let client = try await connectPastBanner(path)
                try await client.send(#"{"cmd":"status"}"#)
                try #require(try await nextClass(client) == "STATUS", "no STATUS over the inherited socket")
                await client.close()
            }
        }
    }

    @Test func shutdownTellsEveryClientAndClosesThem() async throws {
        let backend = InMemoryBackend()
        try await withTemporaryDirectory { directory in
            var clients: [SocketTestClient] = []
            let stuck = try await withSocketServer(backend: backend, in: directory, configure: { $0.shutdownGrace = .milliseconds(300) }) { server, path in
                for _ in 0..<5 {
                    let client = try await connectPastBanner(path)
                    try await client.send(#"{"cmd":"watch","enable":true}"#)
                    _ = await client.nextLine()
                    clients.append(client)
                }
                let stuck = try await SocketTestClient.connect(to: path, reading: false)
                try await stuck.send(#"{"cmd":"watch","enable":true}"#)
                backend.tap(1, through: server)
                return stuck
            }
            // withSocketServer returned: the server has stopped and every connection ended,
            // including the one that never read.
            for client in clients {
                var rest: [String] = []
                while let line = await client.nextLine() { rest.append(line) }
                #expect(rest.last == #"{"class":"ERROR","message":"necd is shutting down"}"#)
                #expect(rest.count == 2)
            }
            await stuck.close()
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import Logging
public import NECSocketServer
import ServiceLifecycle

/// A temporary directory for a test's sockets, removed with its contents afterwards.
public func withTemporaryDirectory<Result>(_ body: (String) async throws -> Result) async throws -> Result {
    var template = Array("/tmp/necd-test-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw TemporaryDirectoryError() }
    let path = String(cString: made)
    defer { removeTree(path) }
    return try await body(path)
}

/// `mkdtemp` failed.
public struct TemporaryDirectoryError: Error {}

private func removeTree(_ path: String) {
    guard let directory = opendir(path) else { return }
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name == "." || name == ".." { continue }
        unlink(path + "/" + name)
    }
    closedir(directory)
    rmdir(path)
}

/// Runs a socket server at `directory/necd.sock` in a service group while `body` runs,
/// then shuts it down gracefully and waits for it to stop.
/// - Parameters:
///   - backend: the backend the server asks.
///   - directory: where the socket goes.
///   - logger: where the server logs.
///   - configure: changes to the default configuration (bounds, group, ...).
///   - body: the test, given the running server and its socket path.
public func withSocketServer<Result>(
    backend: any DaemonBackend,
    in directory: String,
    logger: Logger = Logger(label: "necd.socket"),
    configure: (inout SocketServerConfiguration) -> Void = { _ in },
    _ body: (SocketServer, String) async throws -> Result
) async throws -> Result {
    let path = directory + "/necd.sock"
    var configuration = SocketServerConfiguration(endpoint: .path(path))
    configure(&configuration)
    let (listening, listeningContinuation) = AsyncStream.makeStream(of: Void.self)
    if case .inheritedDescriptor = configuration.endpoint {} else { configuration.endpoint = .path(path) }
    let server = SocketServer(configuration: configuration, backend: backend, logger: logger) {
        listeningContinuation.yield()
        listeningContinuation.finish()
    }
    let group = ServiceGroup(configuration: .init(services: [server], logger: Logger(label: "necd.test")))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            defer { listeningContinuation.finish() }
            try await group.run()
        }
        for await _ in listening {}
        let result: Result
        do {
            result = try await body(server, path)
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return result
    }
}

/// Runs a socket server in a temporary directory of its own while `body` runs, for a test
/// that needs nothing else in that directory; see ``withSocketServer(backend:in:logger:configure:_:)``.
/// - Parameters:
///   - backend: the backend the server asks.
///   - logger: where the server logs.
///   - configure: changes to the default configuration (bounds, group, ...).
///   - body: the test, given the running server and its socket path.
public func withSocketServer<Result>(
    backend: any DaemonBackend,
    logger: Logger = Logger(label: "necd.socket"),
    configure: (inout SocketServerConfiguration) -> Void = { _ in },
    _ body: (SocketServer, String) async throws -> Result
) async throws -> Result {
    try await withTemporaryDirectory { directory in
        try await withSocketServer(backend: backend, in: directory, logger: logger, configure: configure, body)
    }
}

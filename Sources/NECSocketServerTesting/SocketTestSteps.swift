import NECProtocol

/// A line that is not the one a test step expected.
public struct UnexpectedLine: Error, CustomStringConvertible {
    /// What the step waited for.
    public let expected: String
    /// What arrived instead; nil when the connection closed.
    public let received: String?

    public var description: String { "expected \(expected), received \(received ?? "the end of the connection")" }
}

/// The `VERSION` banner every connection begins with.
public let versionBanner = #"{"class":"VERSION","release":"0.1.0","proto_major":1,"proto_minor":1}"#

/// Connects, checks the banner, and returns the client.
/// - Parameters:
///   - path: the socket path.
///   - reading: false for a client that never reads (and so never sees the banner).
/// - Throws: ``UnexpectedLine`` when the first line is not the banner.
public func connectPastBanner(_ path: String, reading: Bool = true) async throws -> SocketTestClient {
    let client = try await SocketTestClient.connect(to: path, reading: reading)
    if reading {
        let banner = await client.nextLine()
        guard banner == versionBanner else { throw UnexpectedLine(expected: versionBanner, received: banner) }
    }
    return client
}

/// Reads lines until `count` events arrived, skipping answers; returns their seqs in arrival order.
public func collectSeqs(_ client: SocketTestClient, count: Int) async throws -> [Int64] {
    var seqs: [Int64] = []
    while seqs.count < count, let message = try await client.nextMessage() {
        if case .tap(let tap) = message { seqs.append(tap.seq) }
    }
    return seqs
}

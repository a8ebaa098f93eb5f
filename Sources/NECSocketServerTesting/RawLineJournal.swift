public import NECProtocol
public import NECSocketServer

/// A journal of lines as they are, behind the real socket server: what a daemon (a newer
/// one, or a broken one) might send a watcher, byte for byte, each at the journal seq
/// given, whatever its text says. For tests of clients that must skip what they cannot
/// read and go on.
public final class RawLineJournal: DaemonBackend {
    private let lines: [EventLine]

    /// - Parameter lines: each line's journal seq and its JSON text (no newline).
    public init(_ lines: [(seq: Int64, json: String)]) {
        self.lines = lines.map { EventLine(seq: $0.seq, json: $0.json) }
    }

    public func storedEvents(after seq: Int64, limit: Int) async throws -> [EventLine] {
        Array(lines.filter { ($0.seq ?? 0) > seq }.prefix(limit))
    }

    public func readers() async -> ReadersMessage { ReadersMessage(readers: []) }

    public func status() async -> StatusMessage {
        StatusMessage(uptime: 1, pcscdConnected: true, readerCount: 0, lastSeq: lines.last?.seq)
    }

    public func lookup(card: String) async throws -> LookupMessage { throw RequestRefusal("not in this test") }

    public func void(seq: Int64) async throws -> VoidMessage { throw RequestRefusal("not in this test") }
}

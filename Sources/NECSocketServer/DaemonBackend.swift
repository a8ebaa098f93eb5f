public import NECProtocol

/// One event as the journal stored it: its exact JSON line and its `seq`.
///
/// The journal produces the line once; replay and live delivery send the same bytes.
public struct EventLine: Sendable, Hashable {
    /// The journal sequence number; `nil` for live-only events (class `READER`).
    public var seq: Int64?
    /// The JSON object, on one line, without the trailing `\n`.
    public var json: String

    /// Creates an event line.
    /// - Parameters:
    ///   - seq: the journal sequence number, or `nil` for a live-only event.
    ///   - json: the JSON object without a trailing newline.
    public init(seq: Int64?, json: String) {
        self.seq = seq
        self.json = json
    }
}

/// A request the backend refuses for a reason the client should read, e.g. an unknown `seq` to void.
///
/// The socket server answers it with `{"class":"ERROR","message":...}`. Any other error
/// thrown by a backend is logged and answered with a generic message, so internal
/// details (paths, SQL) never reach a client.
public struct RequestRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text sent to the client. Must not contain anything the client did not send or may not see.
    public var message: String

    /// Creates a refusal.
    /// - Parameter message: the text sent to the client.
    public init(_ message: String) { self.message = message }

    /// The text sent to the client.
    public var description: String { message }
}

/// What the socket server needs from the rest of the daemon. The server owns no data.
public protocol DaemonBackend: Sendable {
    /// Stored events with `seq` greater than `seq`, oldest first, at most `limit` of them.
    /// - Parameters:
    ///   - seq: return only events after this one.
    ///   - limit: the page size.
    func storedEvents(after seq: Int64, limit: Int) async throws -> [EventLine]
    /// Every reader pcscd knows.
    func readers() async -> ReadersMessage
    /// The daemon's health. `lastSeq` must be the newest stored event's `seq`: a plain
    /// `watch` starts after it.
    func status() async -> StatusMessage
    /// The decision `card` (an ISRN or a UID in hex) would get now; nothing is redeemed.
    /// - Parameter card: the card number as the client sent it.
    /// - Throws: ``RequestRefusal`` for a card number that cannot be looked up.
    func lookup(card: String) async throws -> LookupMessage
    /// Releases the lunch redeemed by event `seq`.
    /// - Parameter seq: the event to void.
    /// - Throws: ``RequestRefusal`` when there is no such redemption.
    func void(seq: Int64) async throws -> VoidMessage
}

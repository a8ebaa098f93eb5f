public import NECProtocol

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

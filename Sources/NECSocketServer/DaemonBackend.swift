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
    /// Serves `pupil` by hand (`redeem`, minor version 1): decides as a card tap for that
    /// pupil would be decided, stores the manual `TAP` event with the peer's uid, publishes
    /// it to every watcher, and returns the stored line, which the server sends as the
    /// answer, byte for byte. A decision that cannot be stored (declined `unavailable`) is
    /// returned without a `seq` and published to nobody; so for `charge`.
    /// - Parameters:
    ///   - pupil: the pupil reference the till picked.
    ///   - lane: the till's lane, when it gave one.
    ///   - peer: who asked, as the kernel vouches for it; nil where the credentials cannot be read.
    /// - Throws: ``RequestRefusal`` for a request that cannot be decided at all.
    func redeem(pupil: String, lane: String?, peer: SocketPeer?) async throws -> EventLine
    /// Charges a pupil's account (`charge`, minor version 1): decides, stores the `PAYMENT`
    /// event durably, publishes it, and returns its line. A repeated `txn` with the same
    /// pupil and amount returns the stored line again and publishes nothing.
    /// - Parameters:
    ///   - pupil: the pupil to charge.
    ///   - amount: whole pence, already checked to be in ``Request/amountRange``.
    ///   - txn: the till's transaction id.
    ///   - lane: the till's lane, when it gave one.
    ///   - peer: who asked.
    /// - Throws: ``RequestRefusal`` for a `txn` already used with another pupil or amount.
    func charge(pupil: String, amount: Int, txn: String, lane: String?, peer: SocketPeer?) async throws -> EventLine
    /// Refunds the charge made as `txn` (`refund`, minor version 1): stores the `PAYMENT`
    /// event of kind `refund`, publishes it, and returns its line.
    /// - Parameters:
    ///   - txn: the charge's transaction id.
    ///   - peer: who asked.
    /// - Throws: ``RequestRefusal`` for an unknown `txn` or one already refunded.
    func refund(txn: String, peer: SocketPeer?) async throws -> EventLine
}

/// What a backend that predates version 1.1's requests answers: a refusal the client can
/// read, so the daemon builds and answers everything else while these are wired in.
extension DaemonBackend {
    public func redeem(pupil: String, lane: String?, peer: SocketPeer?) async throws -> EventLine {
        throw RequestRefusal.unsupported("redeem")
    }

    public func charge(pupil: String, amount: Int, txn: String, lane: String?, peer: SocketPeer?) async throws -> EventLine {
        throw RequestRefusal.unsupported("charge")
    }

    public func refund(txn: String, peer: SocketPeer?) async throws -> EventLine {
        throw RequestRefusal.unsupported("refund")
    }
}

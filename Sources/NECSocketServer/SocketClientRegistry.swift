import NIOCore
import Synchronization

/// Every connected client, and which of them watch, behind one lock so fan-out is
/// synchronous: `publish` never waits, and events reach every watcher in the order
/// they were published.
final class SocketClientRegistry: Sendable {
    /// One client as the registry sees it; only touched under the registry's lock.
    final class Client {
        /// Where its lines go.
        var outbox: SocketOutbox
        /// Closes its connection; used when it is dropped for passing its backlog bound.
        var disconnect: @Sendable () -> Void
        /// Whether and how it watches.
        var watch: WatchPhase = .off
        /// The newest `seq` queued for it; later events at or below it are duplicates.
        var lastSeq: Int64 = 0

        init(outbox: SocketOutbox, disconnect: @escaping @Sendable () -> Void) {
            self.outbox = outbox
            self.disconnect = disconnect
        }
    }

    /// Where a client is in its `watch`.
    enum WatchPhase {
        /// Not watching.
        case off
        /// Replaying stored events; live ones wait here until the replay catches up.
        case catchingUp(held: [PublishedLine])
        /// Receiving every event as it is published.
        case live
    }

    /// An event ready to send: its `seq` and its line with the `\n`.
    struct PublishedLine {
        var seq: Int64?
        var bytes: ByteBuffer
    }

    private let clients = Mutex<[ObjectIdentifier: Client]>([:])
    private let maxHeldLines: Int

    /// - Parameter maxHeldLines: live events held for one client while it catches up, before it is dropped.
    init(maxHeldLines: Int) {
        self.maxHeldLines = maxHeldLines
    }

    /// The number of connected clients.
    var count: Int { clients.withLock { $0.count } }

    /// The number of clients whose stream is live (caught up).
    var liveWatcherCount: Int {
        clients.withLock { clients in
            clients.values.count { if case .live = $0.watch { true } else { false } }
        }
    }

    /// Adds a client that has just connected.
    func add(_ outbox: SocketOutbox, disconnect: @escaping @Sendable () -> Void) {
        clients.withLock { $0[ObjectIdentifier(outbox)] = Client(outbox: outbox, disconnect: disconnect) }
    }

    /// Removes a client that has gone.
    func remove(_ outbox: SocketOutbox) {
        _ = clients.withLock { $0.removeValue(forKey: ObjectIdentifier(outbox)) }
    }

    /// Starts holding live events for a client about to replay; nothing published from now on is missed.
    func beginCatchingUp(_ outbox: SocketOutbox) {
        clients.withLock { $0[ObjectIdentifier(outbox)]?.watch = .catchingUp(held: []) }
    }

    /// Ends a client's catch-up: queues the held events newer than `cursor` (and every
    /// `READER` event), then switches the client to live, all under the lock so no event
    /// published meanwhile is lost or sent twice.
    /// - Returns: false when the client was dropped meanwhile.
    func goLive(_ outbox: SocketOutbox, after cursor: Int64) -> Bool {
        var dropped: (@Sendable () -> Void)?
        let live: Bool = clients.withLock { clients in
            let key = ObjectIdentifier(outbox)
            guard let client = clients[key], case .catchingUp(let held) = client.watch else { return false }
            client.lastSeq = cursor
            for line in held {
                if let seq = line.seq {
                    if seq <= client.lastSeq { continue }
                    client.lastSeq = seq
                }
                if outbox.offer(line.bytes) != .queued {
                    dropped = client.disconnect
                    clients.removeValue(forKey: key)
                    return false
                }
            }
            client.watch = .live
            return true
        }
        dropped?()
        return live
    }

    /// Stops a client's stream.
    func stopWatching(_ outbox: SocketOutbox) {
        clients.withLock { $0[ObjectIdentifier(outbox)]?.watch = .off }
    }

    /// Runs `body` once every line queued so far for the live watchers has been written
    /// to their connections (or they have closed); at once when there are none.
    func whenWrittenToLiveWatchers(_ body: @escaping @Sendable () -> Void) {
        let marks: [(SocketOutbox, UInt64)] = clients.withLock { clients in
            clients.values.compactMap { client in
                guard case .live = client.watch else { return nil }
                return (client.outbox, client.outbox.queuedMark)
            }
        }
        guard !marks.isEmpty else { return body() }
        let left = Mutex(marks.count)
        for (outbox, mark) in marks {
            outbox.whenWritten(through: mark) {
                if left.withLock({ left in left -= 1; return left == 0 }) { body() }
            }
        }
    }

    /// Hands an event to every watcher without waiting. A watcher whose backlog would pass
    /// its bound is removed and disconnected; the others are unaffected.
    /// - Returns: how many watchers were dropped.
    @discardableResult
    func publish(_ line: PublishedLine) -> Int {
        var dropped: [@Sendable () -> Void] = []
        clients.withLock { clients in
            var removed: [ObjectIdentifier] = []
            for (key, client) in clients {
                switch client.watch {
                case .off:
                    continue
                case .catchingUp(var held):
                    if held.count >= maxHeldLines {
                        client.outbox.close()
                        dropped.append(client.disconnect)
                        removed.append(key)
                        continue
                    }
                    client.watch = .off  // lets `held` grow in place
                    held.append(line)
                    client.watch = .catchingUp(held: held)
                case .live:
                    if let seq = line.seq {
                        if seq <= client.lastSeq { continue }
                        client.lastSeq = seq
                    }
                    if client.outbox.offer(line.bytes) != .queued {
                        dropped.append(client.disconnect)
                        removed.append(key)
                    }
                }
            }
            for key in removed { clients.removeValue(forKey: key) }
        }
        for disconnect in dropped { disconnect() }
        return dropped.count
    }

    /// Tells every client `goodbye` and lets their writers drain and close.
    /// - Returns: the disconnect actions, to force connections closed after a grace period.
    func finishAll(goodbye: ByteBuffer) -> [@Sendable () -> Void] {
        clients.withLock { clients in
            clients.values.map { client in
                client.outbox.finish(last: goodbye)
                return client.disconnect
            }
        }
    }
}

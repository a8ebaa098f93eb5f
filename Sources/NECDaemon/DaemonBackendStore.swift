import Entitlements
import Foundation
import NECCard
import NECProtocol
import NECSocketServer
import ProtocolMapping

/// The socket server's view of the daemon: stored events from the journal, readers from
/// the registry, lookups and voids from the entitlement store.
///
/// Every SQLite call runs on ``StoreWorkers``, never on the cooperative pool: GRDB's calls
/// block their thread, and a pool blocked by a replay or by a write waiting for a lock
/// would hold up every client's writes, events included.
struct DaemonBackendStore: DaemonBackend {
    let state: DaemonState
    let registry: ReaderRegistry
    /// Where events this backend journals (VOIDED, PAYMENT, manual TAP) go once stored:
    /// to every watcher, in the journal's order.
    var relay = EventRelay()
    var workers: StoreWorkers = .shared

    func storedEvents(after seq: Int64, limit: Int) async throws -> [EventLine] {
        let store = state.snapshot.store
        return try await workers.replays.run {
            try store.events(after: seq, limit: limit).map { EventLine(seq: $0.seq, line: $0.protocolLine) }
        }
    }

    func readers() async -> ReadersMessage {
        let configuration = state.snapshot.configuration
        return ReadersMessage(readers: registry.readers.map { reader in
            let settings = configuration.readerSettings(for: reader.name)
            return ReaderInfo(
                name: reader.name,
                state: ReaderStatus(reader.entry.state),
                role: ReaderRole(settings.role),
                lane: settings.lane,
                atr: reader.entry.atr.map(Hex.string)
            )
        })
    }

    func status() async -> StatusMessage {
        let current = state.snapshot
        let (list, newest) = await workers.reads.run { () -> (ListStatus?, Int64) in
            ((try? current.store.listStatus()) ?? nil, (try? current.store.lastSeq()) ?? 0)
        }
        let now = Date()
        let uptime = ContinuousClock.now - state.startedAt
        let pcscd = registry.pcscdConnected
        return StatusMessage(
            release: ProtocolVersion.release,
            uptime: Double(uptime.components.seconds) + Double(uptime.components.attoseconds) / 1e18,
            pcscdConnected: pcscd,
            // Readers pcscd reports now: none while it cannot be reached (`readers` still
            // lists the ones last seen, as unavailable).
            readerCount: pcscd ? registry.readers.count : 0,
            listRows: list?.rows,
            listAge: list.map { ($0.age(at: now) * 1000).rounded() / 1000 },
            // No list, no staleness: absent, like the list's other keys.
            listStale: list.map { $0.isStale(at: now, policy: current.policy) },
            lastSeq: StatusMessage.reportedLastSeq(newest: newest)
        )
    }

    func lookup(card: String) async throws -> LookupMessage {
        let current = state.snapshot
        let result: LookupResult
        do {
            result = try await workers.reads.run { try current.store.lookup(card: card, at: Date(), policy: current.policy) }
        } catch let invalid as CardReference.Invalid {
            throw RequestRefusal("card: \(invalid)")
        }
        return LookupMessage(result)
    }

    func void(seq: Int64) async throws -> VoidMessage {
        let current = state.snapshot
        let outcome: VoidOutcome
        do {
            // On the write worker, off the cooperative pool; the VOIDED event takes its
            // place in the publishing order like a tap's.
            outcome = try await relay.writing { publish in
                try await workers.writes.run {
                    try current.store.void(seq: seq, at: Date(), policy: current.policy) { voided in
                        publish(EventLine(seq: voided.seq, line: voided.protocolLine))
                    }
                }
            }
        } catch is JournalUnavailable {
            throw RequestRefusal("void: the database is busy or cannot be written; nothing was voided, try again")
        }
        switch outcome {
        case .released:
            return VoidMessage(seq: seq)
        case .nothingToRelease:
            throw RequestRefusal("event \(seq) holds no lunch to release (not a lunch, or already voided)")
        case .unknownSeq:
            throw RequestRefusal("no event \(seq) (never written, or pruned)")
        case .notToday(let day):
            throw RequestRefusal("event \(seq) is a lunch of \(day): only a lunch of today can be voided")
        }
    }

    func redeem(pupil: String, lane: String?, peer: SocketPeer?) async throws -> EventLine {
        let current = state.snapshot
        let event = try await serviceRequest("redeem") { publish in
            try current.store.redeem(
                pupil: pupil, lane: lane, peerUID: peer?.uid, at: Date(), policy: current.policy
            ) { stored in publish(EventLine(seq: stored.seq, line: stored.protocolLine)) }
        }
        return EventLine(seq: event.seq, line: event.protocolLine)
    }

    func charge(pupil: String, amount: Int, txn: String, lane: String?, peer: SocketPeer?) async throws -> EventLine {
        let current = state.snapshot
        let outcome = try await serviceRequest("charge") { publish in
            try current.store.charge(
                pupil: pupil, amount: amount, txn: txn, lane: lane, peerUID: peer?.uid, at: Date(), policy: current.policy
            ) { stored in publish(EventLine(seq: stored.seq, line: stored.protocolLine)) }
        }
        return EventLine(seq: outcome.event.seq, line: outcome.event.protocolLine)
    }

    func refund(txn: String, peer: SocketPeer?) async throws -> EventLine {
        let current = state.snapshot
        let outcome = try await serviceRequest("refund") { publish in
            try current.store.refund(txn: txn, peerUID: peer?.uid, at: Date(), policy: current.policy) { stored in
                publish(EventLine(seq: stored.seq, line: stored.protocolLine))
            }
        }
        return EventLine(seq: outcome.event.seq, line: outcome.event.protocolLine)
    }

    /// Runs a manual-service or payment write on the write worker, its event published in
    /// the journal's order; a request the store refuses (a reused txn, nothing to refund)
    /// becomes an ERROR the client reads.
    private func serviceRequest<T: Sendable>(
        _ command: String, _ body: @escaping @Sendable (_ publish: @escaping @Sendable (EventLine) -> Void) throws -> T
    ) async throws -> T {
        do {
            return try await relay.writing { publish in
                try await workers.writes.run { try body(publish) }
            }
        } catch let refused as ServiceRequestError {
            throw RequestRefusal("\(command): \(refused)")
        }
    }
}

/// The threads socket requests use for SQLite: two for requests' reads (status, lookup),
/// two for replay pages, one for writes (void). A write waiting for the database's lock
/// never delays a read, and a till's `status`, `lookup` or `watch` never waits behind
/// the pages of other clients' long replays (150 clients replaying a 20,000-event
/// journal held a new client's `watch` for seconds when they shared threads). Their priority is lowered
/// (nice 10): on a two-core till the kernel runs the tap path first.
struct StoreWorkers: Sendable {
    let reads: BlockingWorkers
    let replays: BlockingWorkers
    let writes: BlockingWorkers

    /// The daemon's workers, started on first use.
    static let shared = StoreWorkers(
        reads: BlockingWorkers(name: "necd-reads", threads: 2, niceness: 10),
        replays: BlockingWorkers(name: "necd-replays", threads: 2, niceness: 10),
        writes: BlockingWorkers(name: "necd-writes", threads: 1, niceness: 10))
}

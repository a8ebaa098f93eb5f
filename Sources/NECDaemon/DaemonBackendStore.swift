import Entitlements
import Foundation
import NECProtocol
import NECSocketServer

/// The socket server's view of the daemon: stored events from the journal, readers from
/// the registry, lookups and voids from the entitlement store.
///
/// Every SQLite call runs on ``StoreWorkers``, never on the cooperative pool: GRDB's calls
/// block their thread, and a pool blocked by a replay or by a write waiting for a lock
/// would hold up every client's writes, events included.
struct DaemonBackendStore: DaemonBackend {
    let state: DaemonState
    let registry: ReaderRegistry
    /// Where events this backend journals (VOIDED) go once stored: to every watcher.
    var publish: @Sendable (EventLine) -> Void = { _ in }
    var workers: StoreWorkers = .shared

    func storedEvents(after seq: Int64, limit: Int) async throws -> [EventLine] {
        let store = state.snapshot.store
        return try await workers.reads.run {
            try store.events(after: seq, limit: limit).map { EventLine(seq: $0.seq, json: $0.jsonLine()) }
        }
    }

    func readers() async -> ReadersMessage {
        let configuration = state.snapshot.configuration
        return ReadersMessage(readers: registry.readers.map { reader in
            let settings = configuration.readerSettings(for: reader.name)
            return ReaderInfo(
                name: reader.name,
                state: NECProtocol.ReaderState(rawValue: reader.entry.state),
                role: NECProtocol.ReaderRole(rawValue: settings.role.rawValue),
                lane: settings.lane,
                atr: reader.entry.atr.map { hex($0) }
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
            listStale: list.map { $0.isStale(at: now, policy: current.store.policy) },
            lastSeq: newest > 0 ? newest : nil
        )
    }

    func lookup(card: String) async throws -> LookupMessage {
        let store = state.snapshot.store
        let result: LookupResult
        do {
            result = try await workers.reads.run { try store.lookup(card: card, at: Date()) }
        } catch let invalid as CardReference.Invalid {
            throw RequestRefusal("card: \(invalid)")
        }
        // The store writes the LOOKUP object with the same keys as TAP; decode it once
        // so the server sends it through the protocol's own encoder.
        guard case .lookup(let message) = try MessageCoding.daemonMessage(from: Array(result.jsonLine().utf8)) else {
            throw RequestRefusal("internal error: lookup result is not a LOOKUP object")
        }
        return message
    }

    func void(seq: Int64) async throws -> VoidMessage {
        let store = state.snapshot.store
        let publish = self.publish
        let outcome: VoidOutcome
        do {
            // On the write worker, off the cooperative pool; the VOIDED event is published
            // from inside the journal's order, like a tap.
            outcome = try await workers.writes.run {
                try store.void(seq: seq, at: Date()) { voided in
                    publish(EventLine(seq: voided.seq, json: voided.jsonLine()))
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

    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02X", $0) }.joined()
    }
}

/// The threads socket requests use for SQLite: two for reads (replay pages, status,
/// lookup), one for writes (void), so a write waiting for the database's lock never
/// delays a read. Their priority is lowered (nice 10): on a two-core till the kernel
/// runs the tap path first.
struct StoreWorkers: Sendable {
    let reads: BlockingWorkers
    let writes: BlockingWorkers

    /// The daemon's workers, started on first use.
    static let shared = StoreWorkers(
        reads: BlockingWorkers(name: "necd-reads", threads: 2, niceness: 10),
        writes: BlockingWorkers(name: "necd-writes", threads: 1, niceness: 10))
}

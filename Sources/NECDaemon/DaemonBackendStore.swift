import Entitlements
import Foundation
import NECProtocol

/// The socket server's view of the daemon: stored events from the journal, readers from
/// the registry, lookups and voids from the entitlement store.
struct DaemonBackendStore: DaemonBackend {
    let state: DaemonState
    let registry: ReaderRegistry
    /// Where events this backend journals (VOIDED) go once stored: to every watcher.
    let publish: @Sendable (EventLine) -> Void

    func storedEvents(after seq: Int64, limit: Int) async throws -> [EventLine] {
        try state.snapshot.store.events(after: seq, limit: limit).map { EventLine(seq: $0.seq, json: $0.jsonLine()) }
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
        let list = try? current.store.listStatus()
        let now = Date()
        let uptime = ContinuousClock.now - state.startedAt
        return StatusMessage(
            release: ProtocolVersion.release,
            uptime: Double(uptime.components.seconds) + Double(uptime.components.attoseconds) / 1e18,
            pcscdConnected: registry.pcscdConnected,
            readerCount: registry.readers.count,
            listRows: list?.rows,
            listAge: list.map { ($0.age(at: now) * 1000).rounded() / 1000 },
            listStale: list.map { $0.isStale(at: now, policy: current.store.policy) } ?? true,
            lastSeq: (try? current.store.lastSeq()) ?? 0
        )
    }

    func lookup(card: String) async throws -> LookupMessage {
        let result: LookupResult
        do {
            result = try state.snapshot.store.lookup(card: card, at: Date())
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
        let outcome: VoidOutcome
        do {
            // The VOIDED event is published from inside the journal's order, like a tap.
            outcome = try state.snapshot.store.void(seq: seq, at: Date()) { voided in
                publish(EventLine(seq: voided.seq, json: voided.jsonLine()))
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

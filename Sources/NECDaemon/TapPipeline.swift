public import Logging
import Entitlements
import Foundation
import NECCard
import NECProtocol
import PCSC
public import ServiceLifecycle

/// The daemon's one-way path: `ReaderMonitor` → `CardReader` → decision (stored first)
/// → socket. Runs as a service; a graceful shutdown cancels pcscd's wait (`SCardCancel`).
public struct TapPipeline: Service {
    let state: DaemonState
    let registry: ReaderRegistry
    let server: SocketServer
    let logger: Logger

    /// - Parameters:
    ///   - state: the configuration and store in force.
    ///   - registry: where reader states are kept for `readers` and `status`.
    ///   - server: where events go once stored.
    ///   - logger: the daemon's logger.
    public init(state: DaemonState, registry: ReaderRegistry, server: SocketServer, logger: Logger) {
        self.state = state
        self.registry = registry
        self.server = server
        self.logger = logger
    }

    public func run() async throws {
        // The card is read on the monitor's thread while it is present; the decision and
        // the socket happen here, in event order.
        let monitor = ReaderMonitor<TapReading?> { card in TapReading.read(card) }
        registry.setPCSCDConnected(true)
        await withGracefulShutdownHandler {
            var debounce = Debounce(window: state.snapshot.configuration.debounce)
            for await event in monitor {
                handle(event, debounce: &debounce)
            }
        } onGracefulShutdown: {
            monitor.stop()
        }
    }

    private func handle(_ event: PCSC.ReaderEvent<TapReading?>, debounce: inout Debounce) {
        switch event {
        case .readerAdded(let name):
            registry.set(name, state: "empty")
            logger.info("reader added: \(name)")
            publishReader(name, state: "empty")
        case .readerRemoved(let name):
            registry.remove(name)
            logger.notice("reader removed: \(name)")
            publishReader(name, state: "unavailable")
        case .readerUnavailable(let name):
            registry.set(name, state: "unavailable")
            logger.warning("reader unavailable: \(name)")
            publishReader(name, state: "unavailable")
        case .cardRemoved(let name):
            registry.markEmpty(name)
            debounce.removed(reader: name, at: .now)
        case .serviceLost(let error):
            logger.error("pcscd unreachable: \(error); readers unavailable until it returns")
            for name in registry.setPCSCDConnected(false) {
                publishReader(name, state: "unavailable")
            }
        case .serviceRestored:
            registry.setPCSCDConnected(true)
            logger.notice("pcscd reachable again")
        case .cardPresent(let name, let atr, let reading):
            registry.set(name, state: "present", atr: atr)
            guard let reading else { return }
            tap(reading, debounce: &debounce)
        }
    }

    private func tap(_ reading: TapReading, debounce: inout Debounce) {
        let identity: CardIdentity
        switch reading.result {
        case .failure(let failure):
            // Never decide on a half-read card: the pupil taps again.
            if failure.cardLeftBeforeRead {
                logger.debug("\(reading.reader): card left before it could be read")
            } else {
                logger.notice("\(reading.reader): no decision: \(failure.message)")
            }
            return
        case .success(let read):
            identity = read
        }
        let current = state.snapshot
        debounce.window = current.configuration.debounce
        let key = identity.isrn?.digits ?? identity.uidHex.map { "uid:" + $0 } ?? "atr:" + Hex.string(reading.atr)
        guard debounce.admit(card: key, reader: reading.reader, at: reading.seenAt) else {
            logger.debug("\(reading.reader): same card again within the debounce window; no second decision")
            return
        }
        let settings = current.configuration.readerSettings(for: reading.reader)
        let role = settings.role
        // Stored (when the store could write) before anyone is told; published from inside
        // the store's journal order, so a void journalled meanwhile cannot overtake it.
        let event = current.store.decide(
            identity, reader: reading.reader, lane: settings.lane, role: role, at: reading.time
        ) { stored in
            server.publish(EventLine(seq: stored.seq, json: stored.jsonLine()))
        }
        var summary = "\(event.eventClass.rawValue) \(reading.reader): card \(Self.masked(identity))"
        summary += " \(event.decision.rawValue)"
        if let kind = event.kind { summary += " \(kind.rawValue)" }
        if let reason = event.reason { summary += " \(reason.rawValue)" }
        summary += event.seq.map { " seq \($0)" } ?? " (not stored)"
        var metadata: Logger.Metadata = [:]
        if let pupil = event.pupil { metadata["pupil"] = "\(ISRN.mask(pupil))" }
        logger.info("\(summary)", metadata: metadata)
    }

    private func publishReader(_ name: String, state readerState: String) {
        let role = state.snapshot.configuration.readerSettings(for: name).role
        let message = NECProtocol.ReaderEvent(
            name: name, state: NECProtocol.ReaderState(rawValue: readerState),
            role: NECProtocol.ReaderRole(rawValue: role.rawValue))
        var line = MessageCoding.line(message)
        if line.last == 0x0A { line.removeLast() }
        server.publish(EventLine(seq: nil, json: String(decoding: line, as: UTF8.self)))
    }

    /// Card numbers in logs: `633597******5674`, or a masked UID.
    static func masked(_ identity: CardIdentity) -> String {
        if let isrn = identity.isrn { return isrn.masked }
        if let uid = identity.uidHex { return "uid " + ISRN.mask(uid) }
        return "(no number)"
    }
}

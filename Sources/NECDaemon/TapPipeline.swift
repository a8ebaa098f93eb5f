public import Logging
import Entitlements
import Foundation
import NECCard
public import NECCardReading
public import NECMetrics
import NECProtocol
public import NECSocketServer
import ProtocolMapping
public import PCSC
public import ServiceLifecycle
import Synchronization

/// Where the tap pipeline's reader events come from: in the daemon, pcscd's
/// ``ReaderMonitor``, which reads each card on its own thread while the card is present;
/// under test, events the test makes up. Iterated once; ``stop()`` ends the sequence (the
/// monitor cancels pcscd's wait).
public protocol ReaderEventSource: AsyncSequence, Sendable
where Element == PCSC.ReaderEvent<TapReading?>, Failure == Never {
    /// Ends the events: the pipeline's loop then finishes.
    func stop()
}

extension ReaderMonitor: ReaderEventSource where Reading == TapReading? {}

/// The daemon's one-way path: reader events (`ReaderMonitor` → `CardReader`) → decision
/// (stored first) → socket. Runs as a service; a graceful shutdown stops the events
/// (for the monitor, cancelling pcscd's wait with `SCardCancel`).
///
/// Nothing on this path runs on Swift's cooperative pool, which the socket's clients
/// share: the monitor's events are handled on a thread of the pipeline's own, and each
/// reader's decisions on a thread of that reader's (its lane), with a database
/// connection of its own. A reader whose decision waits for the database (a lock held by
/// another process) holds up only its own next tap; the other readers decide at once.
/// Events are still published in `seq` order (``SocketServer/reserve()``).
public struct TapPipeline<Events: ReaderEventSource>: Service {
    let state: DaemonState
    let registry: ReaderRegistry
    let server: SocketServer
    let events: Events
    let logger: Logger
    let metrics: DaemonMetrics

    /// - Parameters:
    ///   - state: the configuration and store in force.
    ///   - registry: where reader states are kept for `readers` and `status`.
    ///   - server: where events go once stored.
    ///   - events: the reader events, with each card already read (pcscd's monitor in the daemon).
    ///   - logger: the daemon's logger.
    ///   - metrics: where taps, failed reads and timings are counted.
    public init(
        state: DaemonState, registry: ReaderRegistry, server: SocketServer, events: Events, logger: Logger,
        metrics: DaemonMetrics = DaemonMetrics()
    ) {
        self.state = state
        self.registry = registry
        self.server = server
        self.events = events
        self.logger = logger
        self.metrics = metrics
    }

    public func run() async throws {
        let executor = DedicatedThreadExecutor(name: "necd-taps")
        let lanes = TapLanes(logger: logger)
        let feedback = FeedbackSender(logger: logger)
        await withTaskExecutorPreference(executor) {
            server.startPublishing(after: (try? state.snapshot.store.lastSeq()) ?? 0)
            // The card was read when the event was made (the monitor's thread); the
            // decision runs on the reader's lane.
            registry.setPCSCDConnected(true)
            await withGracefulShutdownHandler {
                var debounce = Debounce(window: state.snapshot.configuration.debounce)
                for await event in events {
                    handle(event, debounce: &debounce, lanes: lanes, feedback: feedback)
                }
            } onGracefulShutdown: {
                events.stop()
            }
        }
        // Decisions already under way finish and are published before the pipeline stops.
        await lanes.finish()
        feedback.stop()
        executor.stop()
    }

    private func handle(
        _ event: PCSC.ReaderEvent<TapReading?>, debounce: inout Debounce, lanes: TapLanes, feedback: FeedbackSender
    ) {
        switch event {
        case .readerAdded(let name):
            registry.set(name, state: .empty)
            logger.info("reader added: \(name)")
            publishReader(name, state: .empty)
            // Open the lane's database connection now, not at the first tap.
            let state = self.state
            lanes.submit(name) { store in _ = store.store(for: state.snapshot.store) }
        case .readerRemoved(let name):
            registry.remove(name)
            logger.notice("reader removed: \(name)")
            publishReader(name, state: .unavailable)
            lanes.close(name)
        case .readerUnavailable(let name):
            registry.set(name, state: .unavailable)
            logger.warning("reader unavailable: \(name)")
            publishReader(name, state: .unavailable)
        case .cardRemoved(let name):
            registry.markEmpty(name)
            debounce.removed(reader: name, at: .now)
        case .serviceLost(let error):
            logger.error("pcscd unreachable: \(error); readers unavailable until it returns")
            for name in registry.setPCSCDConnected(false) {
                publishReader(name, state: .unavailable)
            }
        case .serviceRestored:
            registry.setPCSCDConnected(true)
            logger.notice("pcscd reachable again")
        case .cardPresent(let name, let atr, let reading):
            // A card on a reader changes what `readers` says, but sends no READER event:
            // the TAP or IDENTIFY that follows is the news (see docs/protocol.md).
            registry.set(name, state: .present, atr: atr)
            guard let reading, let identity = admit(reading, debounce: &debounce) else { return }
            lanes.submit(reading.reader) { store in
                decide(identity, reading: reading, store: store, feedback: feedback)
            }
        }
    }

    /// The identity to decide on, or nil for a failed read or a repeat within the debounce window.
    private func admit(_ reading: TapReading, debounce: inout Debounce) -> CardIdentity? {
        let identity: CardIdentity
        metrics.cardRead(took: reading.readDuration)
        switch reading.result {
        case .failure(let failure):
            metrics.cardReadFailed(cause: failure.cause)
            // Never decide on a half-read card: the pupil taps again.
            if failure.cardLeftBeforeRead {
                logger.debug("\(reading.reader): card left before it could be read")
            } else {
                logger.notice("\(reading.reader): no decision: \(failure.message)")
            }
            return nil
        case .success(let read):
            identity = read
        }
        debounce.window = state.snapshot.configuration.debounce
        let key = identity.isrn?.digits ?? identity.uidHex.map { "uid:" + $0 } ?? "atr:" + Hex.string(reading.atr)
        guard debounce.admit(card: key, reader: reading.reader, at: reading.seenAt) else {
            logger.debug("\(reading.reader): same card again within the debounce window; no second decision")
            return nil
        }
        return identity
    }

    /// Decides a tap on its reader's lane, stores it, and publishes it in `seq` order.
    private func decide(_ identity: CardIdentity, reading: TapReading, store lane: TapLaneStore, feedback: FeedbackSender) {
        let ticket = server.reserve()
        let current = state.snapshot
        let settings = current.configuration.readerSettings(for: reading.reader)
        let event = lane.store(for: current.store).decide(
            identity, reader: reading.reader, lane: settings.lane, role: settings.role, at: reading.time,
            policy: current.policy)
        // Stored (when the store could write) before anyone is told; the reader shows it
        // only once the watchers have the event (see FeedbackSender).
        let line = EventLine(seq: event.seq, line: event.protocolLine)
        if current.configuration.readerFeedback(for: reading.reader) == .acs {
            let signal: ReaderFeedback.Signal = event.decision == .authorised ? .authorised : .declined
            let decidedAt = ContinuousClock.now
            server.publish(line, for: ticket) { feedback.show(signal, on: reading.reader, decidedAt: decidedAt) }
        } else {
            server.publish(line, for: ticket)
        }
        metrics.tapToEvent(took: .now - reading.seenAt)
        metrics.tap(class: event.eventClass.rawValue, decision: event.decision.rawValue, reason: event.reason?.rawValue)
        var summary = "\(event.eventClass.rawValue) \(reading.reader): card \(Self.masked(identity))"
        summary += " \(event.decision.rawValue)"
        if let kind = event.kind { summary += " \(kind.rawValue)" }
        if let reason = event.reason { summary += " \(reason.rawValue)" }
        summary += event.seq.map { " seq \($0)" } ?? " (not stored)"
        var metadata: Logger.Metadata = [:]
        if let pupil = event.pupil { metadata["pupil"] = "\(ISRN.mask(pupil))" }
        logger.info("\(summary)", metadata: metadata)
    }

    private func publishReader(_ name: String, state presence: ReaderPresence) {
        let role = state.snapshot.configuration.readerSettings(for: name).role
        let message = ReaderChangeEvent(name: name, state: ReaderStatus(presence), role: ReaderRole(role))
        server.publish(EventLine(seq: nil, line: MessageCoding.line(message)))
    }

    /// Card numbers in logs: `633597******5674`, or a masked UID.
    static func masked(_ identity: CardIdentity) -> String {
        if let isrn = identity.isrn { return isrn.masked }
        if let uid = identity.uidHex { return "uid " + ISRN.mask(uid) }
        return "(no number)"
    }
}

/// One thread per reader for its decisions, in the order its taps came; readers in parallel.
final class TapLanes: Sendable {
    private struct Lane: Sendable {
        let thread: BlockingWorkers
        let store: TapLaneStore
    }

    private struct State {
        var lanes: [String: Lane] = [:]
        var opened = 0
        var finished = false
    }

    private let state = Mutex(State())
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Runs `job` on `reader`'s lane, after the jobs already queued there.
    func submit(_ reader: String, _ job: @escaping @Sendable (TapLaneStore) -> Void) {
        let lane: Lane? = state.withLock { state in
            guard !state.finished else { return nil }
            if let lane = state.lanes[reader] { return lane }
            state.opened += 1
            let lane = Lane(
                thread: BlockingWorkers(name: "necd-lane-\(state.opened)", threads: 1),
                store: TapLaneStore(logger: logger))
            state.lanes[reader] = lane
            return lane
        }
        guard let lane else { return }
        lane.thread.submit { job(lane.store) }
    }

    /// Ends `reader`'s lane once its queued decisions are made (the reader was unplugged).
    func close(_ reader: String) {
        state.withLock { $0.lanes.removeValue(forKey: reader) }?.thread.stop()
    }

    /// Waits for every queued decision, then ends the lanes.
    func finish() async {
        let lanes = state.withLock { state in
            state.finished = true
            let lanes = Array(state.lanes.values)
            state.lanes = [:]
            return lanes
        }
        for lane in lanes {
            await lane.thread.run {}
            lane.thread.stop()
        }
    }
}

/// A lane's own connection to the database, so one reader's write waiting for the lock
/// never queues another's behind it (one store serialises its writes). Opened once, on the
/// lane's first tap. Used only on its lane's thread.
final class TapLaneStore: @unchecked Sendable {
    private var opened: (shared: EntitlementStore, own: EntitlementStore)?
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// The lane's store for the daemon's store `shared`.
    func store(for shared: EntitlementStore) -> EntitlementStore {
        if let opened, opened.shared === shared { return opened.own }
        let own: EntitlementStore
        do {
            own = try EntitlementStore(path: shared.path, readerCount: 1)
        } catch {
            logger.warning("a reader's own database connection could not be opened (\(error)); its taps share the daemon's")
            own = shared
        }
        opened = (shared, own)
        return own
    }
}

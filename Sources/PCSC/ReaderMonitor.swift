import Dispatch
import Foundation
import Synchronization

/// Something that happened to pcscd, a reader or a card, in the order it happened.
///
/// Implied events are not sent separately: after ``readerRemoved(_:)`` or
/// ``readerUnavailable(_:)`` the card that was on that reader is gone too, and after
/// ``serviceLost(_:)`` every reader and card is gone; the monitor reports what it finds
/// again after ``serviceRestored``.
public enum ReaderEvent<Reading: Sendable>: Sendable {
    /// A reader appeared (also sent when an unavailable reader becomes usable again).
    case readerAdded(String)
    /// A reader disappeared.
    case readerRemoved(String)
    /// pcscd lists the reader but cannot use it (`SCARD_STATE_UNAVAILABLE`).
    case readerUnavailable(String)
    /// A card arrived on a reader, and the monitor's `readCard` read it. Sent once per
    /// arrival: a card left on the reader is not reported again.
    case cardPresent(reader: String, atr: [UInt8], reading: Reading)
    /// The card left the reader.
    case cardRemoved(reader: String)
    /// pcscd cannot be reached (the error says how: ``PCSCError/noService``,
    /// ``PCSCError/communicationError``, ``PCSCError/securityViolation``, ...).
    /// Sent once per outage, also when pcscd is unreachable at start.
    case serviceLost(PCSCError)
    /// pcscd can be reached again after ``serviceLost(_:)``.
    case serviceRestored
}

extension ReaderEvent: Equatable where Reading: Equatable {}

/// A card that has just arrived, handed to the monitor's `readCard` on the monitor's
/// thread while the monitor waits for it.
///
/// Valid only during that call: it uses the monitor's PC/SC context, which the
/// monitor uses again (and may release) once `readCard` returns. It is deliberately
/// not `Sendable`, so it cannot be handed to a task.
public struct PresentCard {
    /// The reader the card is on.
    public let reader: String
    /// The ATR pcscd reported (for contactless cards, synthesised by the reader).
    public let atr: [UInt8]
    let context: PCSCContext

    /// Connects to the card. The caller must ``CardConnection/disconnect(_:)`` it
    /// before returning; ``withConnection(share:disposition:_:)`` does that for you.
    /// - Parameters:
    ///   - share: shared, so a technician's tools can still look at the card.
    ///   - protocols: the protocols acceptable.
    public func connect(share: ShareMode = .shared, protocols: CardProtocols = .any) throws(PCSCError) -> CardConnection {
        try context.connect(reader: reader, share: share, protocols: protocols)
    }

    /// Connects to the card, runs `body` with the connection, and disconnects.
    ///
    /// - Parameters:
    ///   - share: how to share the card meanwhile.
    ///   - disposition: what to do with the card afterwards; `.leave` suits a tap.
    ///   - body: the exchange. ``PCSCError/removedCard`` or ``PCSCError/resetCard``
    ///     from a transmit mean the card left or was reset mid-read.
    /// - Returns: what `body` returns.
    /// - Throws: a ``PCSCError`` from connecting, or what `body` throws.
    public func withConnection<Result>(
        share: ShareMode = .shared,
        disposition: Disposition = .leave,
        _ body: (CardConnection) throws -> Result
    ) throws -> Result {
        let connection = try connect(share: share)
        // A disconnect failure (the card already left) changes nothing for the caller.
        defer { try? connection.disconnect(disposition) }
        return try body(connection)
    }
}

@available(*, unavailable, message: "valid only during readCard, on the monitor's thread")
extension PresentCard: Sendable {}

/// The reader loop: an `AsyncSequence` of ``ReaderEvent``s from pcscd.
///
/// All blocking PC/SC calls run on the monitor's own thread, never on the cooperative
/// pool. Events come from `SCardGetStatusChange` with an infinite timeout (no polling),
/// with `\\?PnP?\Notification` last in its list so added and removed readers wake it.
///
/// States: *no service* (establish a context; on failure retry after 0.1 s, doubling
/// to 2 s) → *no readers* (wait on the PnP entry alone) → *watching* (wait on every
/// reader and the PnP entry). `SCARD_E_NO_SERVICE`, `SCARD_F_COMM_ERROR`,
/// `SCARD_E_SERVICE_STOPPED`, `SCARD_E_INVALID_HANDLE` (and any other unexpected error,
/// so the loop can never spin) release the context and go back to *no service*.
///
/// **Reading cards.** When a card arrives the monitor calls `readCard` synchronously on
/// its thread, with a ``PresentCard`` that connects on the monitor's context, and sends
/// what it returns in ``ReaderEvent/cardPresent(reader:atr:reading:)``. The read thus
/// happens before the monitor waits again, with no second context, and the reading
/// arrives in order with the other events. Keep `readCard` short (a tap is a few APDUs):
/// while it runs, other readers' events wait.
///
/// One consumer iterates a monitor, once. The thread starts with the first iteration and
/// ends on ``stop()`` or when the iterating task is cancelled; the sequence then finishes.
///
/// ```swift
/// let monitor = ReaderMonitor { card in
///     Result { try card.withConnection { try $0.transmit([0xFF, 0xCA, 0x00, 0x00, 0x00]) } }
/// }
/// for await event in monitor { ... }
/// ```
public final class ReaderMonitor<Reading: Sendable>: AsyncSequence, Sendable {
    /// The events.
    public typealias Element = ReaderEvent<Reading>
    /// The events never fail: errors arrive as ``ReaderEvent/serviceLost(_:)`` events.
    public typealias Failure = Never
    /// An iterator over the events.
    public typealias AsyncIterator = AsyncStream<Element>.Iterator

    private struct Shared {
        var started = false
        var stopping = false
        var exited = false
        /// The context the thread may be waiting on, for ``stop()`` to cancel.
        var context: PCSCContext?
    }

    private let readCard: @Sendable (PresentCard) -> Reading
    private let initialBackoff: Duration
    private let maximumBackoff: Duration
    private let events: AsyncStream<Element>
    private let continuation: AsyncStream<Element>.Continuation
    private let shared = Mutex(Shared())
    /// Signalled by ``stop()`` to cut a backoff wait short.
    private let wake = DispatchSemaphore(value: 0)

    /// A monitor that reads every arriving card with `readCard`.
    ///
    /// - Parameters:
    ///   - initialBackoff: the first wait before establishing a context again.
    ///   - maximumBackoff: the longest wait; the wait doubles up to it.
    ///   - readCard: runs on the monitor's thread when a card arrives; its result is
    ///     sent in ``ReaderEvent/cardPresent(reader:atr:reading:)``.
    public init(
        initialBackoff: Duration = .milliseconds(100),
        maximumBackoff: Duration = .seconds(2),
        readCard: @escaping @Sendable (PresentCard) -> Reading
    ) {
        self.readCard = readCard
        self.initialBackoff = initialBackoff
        self.maximumBackoff = Swift.max(initialBackoff, maximumBackoff)
        (events, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: .unbounded)
        continuation.onTermination = { [weak self] _ in self?.stop() }
    }

    /// Starts the monitor's thread (on the first call) and returns the iterator.
    public func makeAsyncIterator() -> AsyncIterator {
        let start = shared.withLock { shared in
            defer { shared.started = true }
            return !shared.started && !shared.stopping
        }
        if start {
            let thread = Thread { [self] in run() }
            thread.name = "ReaderMonitor"
            thread.start()
        }
        return events.makeAsyncIterator()
    }

    /// Ends the monitor: a wait in pcscd is cancelled (`SCardCancel`), the thread
    /// releases its context and exits, and the sequence finishes. Returns at once;
    /// safe to call from any thread, more than once.
    public func stop() {
        let (first, started, context) = shared.withLock { shared in
            defer { shared.stopping = true }
            return (!shared.stopping, shared.started, shared.context)
        }
        guard first else { return }
        guard started else {
            continuation.finish()
            return
        }
        wake.signal()
        if let context { try? context.cancel() }
        cancelUntilExited()
    }

    /// `SCardCancel` only ends a wait that has begun; a stop that lands between the
    /// thread's last check and pcscd registering its wait would be lost. So cancel
    /// again, off the cooperative pool, until the thread has gone.
    private func cancelUntilExited() {
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(20)) { [self] in
            let (exited, context) = shared.withLock { ($0.exited, $0.context) }
            guard !exited else { return }
            if let context { try? context.cancel() }
            cancelUntilExited()
        }
    }

    private var isStopping: Bool { shared.withLock { $0.stopping } }

    // MARK: The monitor's thread

    private func run() {
        var outage: PCSCError?
        var backoff = initialBackoff
        while !isStopping {
            let context: PCSCContext
            do {
                context = try PCSCContext.establish()
            } catch {
                if outage == nil {
                    outage = error
                    continuation.yield(.serviceLost(error))
                }
                // Stop signals the semaphore, so a stopping monitor does not sit out the wait.
                _ = wake.wait(timeout: .now() + .nanoseconds(Int(backoff / .nanoseconds(1))))
                backoff = Swift.min(backoff * 2, maximumBackoff)
                continue
            }
            let published = shared.withLock { shared in
                if !shared.stopping { shared.context = context }
                return !shared.stopping
            }
            guard published else {
                try? context.release()
                break
            }
            backoff = initialBackoff
            if outage != nil {
                outage = nil
                continuation.yield(.serviceRestored)
            }
            let failure = watch(context)
            shared.withLock { $0.context = nil }
            try? context.release()
            if let failure, !isStopping {
                outage = failure
                continuation.yield(.serviceLost(failure))
            }
        }
        shared.withLock { $0.exited = true }
        continuation.finish()
    }

    /// What the monitor knows about one reader.
    private struct Watched {
        var state: ReaderState
        var unavailable = false
        /// The event count at which the card now on the reader was reported, or nil.
        var cardReportedAt: UInt16?
    }

    /// Watches readers on `context` until the monitor stops (returns nil) or the
    /// context fails (returns the error).
    private func watch(_ context: PCSCContext) -> PCSCError? {
        var watched: [String: Watched] = [:]
        var order: [String] = []
        var plugAndPlay = ReaderState(reader: ReaderState.plugAndPlayNotification)
        while true {
            // Rescan: report readers that came and went.
            let names: [String]
            do {
                names = try context.listReaders()
            } catch {
                return error
            }
            for name in order where !names.contains(name) {
                continuation.yield(.readerRemoved(name))
                watched[name] = nil
            }
            for name in names where watched[name] == nil {
                watched[name] = Watched(state: ReaderState(reader: name))
                continuation.yield(.readerAdded(name))
            }
            order = names

            // Wait until something changes; with no readers, on the PnP entry alone. A pcscd
            // that has just started accepts contexts before it has loaded the readers of
            // its reader.conf, and adding those raises no PnP event: so while there are no
            // readers the wait is cut at one second and the list read again. With readers,
            // the wait is unbounded.
            var rescan = false
            waiting: while !rescan {
                var states = order.compactMap { watched[$0]?.state } + [plugAndPlay]
                if isStopping { return nil }
                do {
                    try context.statusChange(&states, timeout: order.isEmpty ? 1000 : nil)
                } catch .cancelled, .timeout {
                    if isStopping { return nil }
                    if order.isEmpty { break waiting }
                    continue
                } catch .unknownReader {
                    break waiting  // a reader left between listing and waiting
                } catch {
                    return isStopping ? nil : error
                }
                if isStopping { return nil }
                plugAndPlay = states.removeLast()
                if plugAndPlay.eventState.contains(.changed) { rescan = true }
                plugAndPlay.acknowledge()
                for state in states {
                    guard var reader = watched[state.reader] else { continue }
                    reader.state = state
                    if state.eventState.contains(.unknown) {
                        rescan = true  // it left; listing will say so
                    } else {
                        report(&reader, context: context)
                    }
                    reader.state.acknowledge()
                    watched[state.reader] = reader
                }
            }
        }
    }

    /// Turns one reader's new state into events, reading a card that has just arrived.
    private func report(_ reader: inout Watched, context: PCSCContext) {
        let name = reader.state.reader
        let flags = reader.state.eventState
        if flags.contains(.unavailable) {
            if !reader.unavailable {
                reader.unavailable = true
                reader.cardReportedAt = nil
                continuation.yield(.readerUnavailable(name))
            }
            return
        }
        if reader.unavailable {
            reader.unavailable = false
            continuation.yield(.readerAdded(name))
        }
        guard flags.contains(.present) else {
            if reader.cardReportedAt != nil {
                reader.cardReportedAt = nil
                continuation.yield(.cardRemoved(reader: name))
            }
            return
        }
        // Our own connect and disconnect toggle INUSE but leave the count alone; a new
        // count with the card still present means it was swapped between two waits.
        if let reportedAt = reader.cardReportedAt, reportedAt != reader.state.eventCount {
            reader.cardReportedAt = nil
            continuation.yield(.cardRemoved(reader: name))
        }
        if reader.cardReportedAt == nil {
            reader.cardReportedAt = reader.state.eventCount
            let atr = reader.state.atr
            let reading = readCard(PresentCard(reader: name, atr: atr, context: context))
            continuation.yield(.cardPresent(reader: name, atr: atr, reading: reading))
        }
    }
}

/// The reading of a monitor that does not read cards.
public struct NoReading: Sendable, Hashable {
    /// The only value.
    public init() {}
}

extension ReaderMonitor where Reading == NoReading {
    /// A monitor that reports cards without reading them.
    ///
    /// - Parameters:
    ///   - initialBackoff: the first wait before establishing a context again.
    ///   - maximumBackoff: the longest wait; the wait doubles up to it.
    public convenience init(initialBackoff: Duration = .milliseconds(100), maximumBackoff: Duration = .seconds(2)) {
        self.init(initialBackoff: initialBackoff, maximumBackoff: maximumBackoff) { _ in NoReading() }
    }
}

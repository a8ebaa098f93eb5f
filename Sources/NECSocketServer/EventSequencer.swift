import Synchronization

/// A place in the publishing order, taken before an event is written to the journal.
public struct PublishTicket: Sendable, Hashable {
    let number: UInt64
}

/// Keeps events published in `seq` order while several writers (one per reader) write
/// to the journal at once.
///
/// The journal gives `seq` at commit, so two readers' decisions may return in the other
/// order than they committed. A writer takes a ticket before it writes and hands its
/// event over after; an event is published as soon as nothing can still come before it:
/// when its `seq` follows the last one published, or else once every writer that was
/// writing when it arrived has handed over (any event with a lower `seq` was committed
/// before it, so by one of those). A writer waiting for the database therefore delays
/// another's event only while the order is truly unknown.
final class EventSequencer: Sendable {
    private struct Ready {
        var event: EventLine
        var seq: Int64
        var waitFor: Set<UInt64>
        var then: (@Sendable () -> Void)?
    }

    private struct State {
        var nextTicket: UInt64 = 0
        var writing: Set<UInt64> = []
        /// Sorted by `seq`.
        var ready: [Ready] = []
        var lastPublished: Int64?
    }

    private let state = Mutex(State())
    private let deliver: @Sendable (EventLine) -> Void

    /// - Parameter deliver: sends an event to the watchers; called in `seq` order, one at a time.
    init(deliver: @escaping @Sendable (EventLine) -> Void) {
        self.deliver = deliver
    }

    /// The `seq` of the newest event already in the journal before any writer starts, so
    /// the first event after it needs to wait for nobody.
    func start(after seq: Int64) {
        state.withLock { state in
            state.lastPublished = max(state.lastPublished ?? seq, seq)
        }
    }

    /// Takes a ticket: call before writing.
    func reserve() -> PublishTicket {
        state.withLock { state in
            let number = state.nextTicket
            state.nextTicket += 1
            state.writing.insert(number)
            return PublishTicket(number: number)
        }
    }

    /// Hands over what the writer with `ticket` wrote (nil: nothing, after all); without a
    /// ticket, for a writer that knows nobody writes alongside it.
    /// - Parameter then: run once `event` has been handed to the watchers (queued on each
    ///   one's connection), or at once when there is no event; on whichever writer's
    ///   thread released it, after the sequencer's lock is let go. Keep it quick.
    func finish(_ ticket: PublishTicket?, with event: EventLine?, then: (@Sendable () -> Void)? = nil) {
        let released: [@Sendable () -> Void] = state.withLock { state in
            var released: [@Sendable () -> Void] = []
            if let ticket { state.writing.remove(ticket.number) }
            if let event {
                if let seq = event.seq {
                    let index = state.ready.firstIndex { $0.seq > seq } ?? state.ready.endIndex
                    state.ready.insert(Ready(event: event, seq: seq, waitFor: state.writing, then: then), at: index)
                } else {
                    // Not journalled (a READER event, a decision that could not be stored): no place in the order.
                    deliver(event)
                    if let then { released.append(then) }
                }
            } else if let then {
                released.append(then)
            }
            // Delivered under the lock: two writers finishing at once cannot swap their events.
            while let first = state.ready.first {
                let next = state.lastPublished.map { first.seq == $0 + 1 } ?? false
                guard next || first.waitFor.isDisjoint(with: state.writing) else { break }
                state.ready.removeFirst()
                state.lastPublished = max(state.lastPublished ?? first.seq, first.seq)
                deliver(first.event)
                if let after = first.then { released.append(after) }
            }
            return released
        }
        for after in released { after() }
    }
}

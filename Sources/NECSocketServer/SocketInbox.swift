import Synchronization

/// One client's requests, from the event loop that reads them to the task that answers
/// them, one at a time.
///
/// The bound: at most `maxInFlight` requests are read and not yet answered. While that
/// many are held, the connection is not read at all, so a client that pipelines
/// thousands of requests costs a few lines of memory and one request's worth of work at
/// a time, and waits in its own socket buffer.
final class SocketInbox: Sendable {
    /// What the answering task gets next.
    enum Next: Equatable {
        /// A request line, without its `\n`.
        case line([UInt8])
        /// The client shut its sending side after its last request.
        case end
        /// The client sent a line past the limit; nothing after it is read.
        case tooLong(limit: Int)
        /// The connection is gone.
        case closed
    }

    private struct State {
        var lines: [[UInt8]] = []
        var head = 0
        /// Read and not yet answered: queued, or being answered now.
        var inFlight = 0
        var ending: Next?
        var waiter: CheckedContinuation<Next, Never>?
        var onRoom: (@Sendable () -> Void)?
        /// A line handed to the task whose answer is not yet done.
        var answering = false
    }

    let maxInFlight: Int
    private let counts: SocketRequestCounts
    private let state = Mutex(State())

    init(maxInFlight: Int, counts: SocketRequestCounts) {
        self.maxInFlight = max(1, maxInFlight)
        self.counts = counts
    }

    // MARK: The event loop's side

    /// Whether another request may be read.
    var hasRoom: Bool { state.withLock { $0.ending == nil && $0.inFlight < maxInFlight } }

    /// Called (from any thread) when room appears after the bound was reached.
    func whenRoom(_ action: @escaping @Sendable () -> Void) {
        state.withLock { $0.onRoom = action }
    }

    /// Hands a request to the answering task.
    func push(_ line: [UInt8]) {
        let waiter: CheckedContinuation<Next, Never>? = state.withLock { state in
            guard state.ending == nil else { return nil }
            state.inFlight += 1
            counts.read()
            if let waiter = state.waiter {
                state.waiter = nil
                state.answering = true
                counts.started()
                return waiter
            }
            state.lines.append(line)
            return nil
        }
        waiter?.resume(returning: .line(line))
    }

    /// Ends the requests: the task gets every request held so far, then `how`. A
    /// `.closed` discards what is held instead: nobody could read the answers.
    func end(_ how: Next) {
        let waiter: CheckedContinuation<Next, Never>? = state.withLock { state in
            if case .closed? = state.ending { return nil }
            if how != .closed, state.ending != nil { return nil }
            if how == .closed {
                let held = state.lines.count - state.head
                counts.discarded(held)
                state.inFlight -= held
                state.lines = []
                state.head = 0
                state.onRoom = nil
            }
            state.ending = how
            guard state.head == state.lines.count, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: how)
    }

    /// The connection closed.
    func close() { end(.closed) }

    // MARK: The answering task's side

    /// The next request, or how the requests ended. Call ``answered()`` after answering a line.
    func next() async -> Next {
        await withCheckedContinuation { (continuation: CheckedContinuation<Next, Never>) in
            let ready: Next? = state.withLock { state in
                if state.head < state.lines.count {
                    let line = state.lines[state.head]
                    state.head += 1
                    if state.head == state.lines.count {
                        state.lines.removeAll(keepingCapacity: true)
                        state.head = 0
                    }
                    state.answering = true
                    counts.started()
                    return .line(line)
                }
                if let ending = state.ending { return ending }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// The request last returned by ``next()`` is answered; reading resumes if it had stopped.
    func answered() {
        let onRoom: (@Sendable () -> Void)? = state.withLock { state in
            guard state.answering else { return nil }
            state.answering = false
            counts.answered()
            state.inFlight -= 1
            return state.inFlight == maxInFlight - 1 && state.ending == nil ? state.onRoom : nil
        }
        onRoom?()
    }
}

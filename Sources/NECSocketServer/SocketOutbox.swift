import NIOCore
import Synchronization

/// The lines waiting to be written to one client, bounded so a client that does not
/// read cannot hold the daemon's memory or slow anyone else.
///
/// Producers (fan-out, request answers) never wait: a line that would pass the bound
/// closes the outbox instead, and the client is dropped. Only replay waits for room,
/// because a replay of a long history is larger than any sensible bound.
final class SocketOutbox: Sendable {
    /// What happened to a line offered to the outbox.
    enum Offer: Equatable {
        /// Queued for writing.
        case queued
        /// The bound was passed: the outbox is now closed and the client must be dropped.
        case overflowed
        /// The outbox was already closed or finishing; the line was discarded.
        case closed
    }

    private struct State {
        var lines: [ByteBuffer] = []
        var bytes = 0
        var finishing = false
        var closed = false
        var writer: CheckedContinuation<[ByteBuffer]?, Never>?
        var roomWaiters: [CheckedContinuation<Bool, Never>] = []
        /// Lines ever queued, and ever written to the connection (``wrote(_:)``).
        var queuedCount: UInt64 = 0
        var writtenCount: UInt64 = 0
        /// Work waiting for the written count to reach a mark (or the outbox to close).
        var writtenWaiters: [(mark: UInt64, body: @Sendable () -> Void)] = []
    }

    let maxLines: Int
    let maxBytes: Int
    private let state = Mutex(State())

    init(maxLines: Int, maxBytes: Int) {
        self.maxLines = maxLines
        self.maxBytes = maxBytes
    }

    /// Whether the outbox was closed (dropped, or shut down and drained).
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Queues a line without waiting. Passing the bound closes the outbox.
    func offer(_ line: ByteBuffer) -> Offer {
        let (result, resumed, waiting): (Offer, Resumption, [@Sendable () -> Void]) = state.withLock { state in
            if state.closed || state.finishing { return (.closed, .none, []) }
            if state.lines.count + 1 > maxLines || state.bytes + line.readableBytes > maxBytes {
                let resumed = Self.close(&state)
                let waiting = state.writtenWaiters.map(\.body)
                state.writtenWaiters = []
                return (.overflowed, resumed, waiting)
            }
            return (.queued, Self.append(line, to: &state), [])
        }
        resumed.resume()
        for body in waiting { body() }
        return result
    }

    /// Queues a line once the backlog has drained below half its bound.
    /// - Returns: false when the outbox closed while waiting.
    func offerWhenRoom(_ line: ByteBuffer) async -> Bool {
        while true {
            let outcome: Bool? = state.withLock { state in
                if state.closed || state.finishing { return false }
                if state.lines.isEmpty
                    || (state.lines.count < maxLines / 2 && state.bytes + line.readableBytes <= maxBytes / 2)
                {
                    Self.append(line, to: &state).resume()
                    return true
                }
                return nil
            }
            if let outcome { return outcome }
            let open = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate: Bool? = state.withLock { state in
                    if state.closed || state.finishing { return false }
                    if state.lines.isEmpty { return true }
                    state.roomWaiters.append(continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
            if !open { return false }
        }
    }

    /// Takes everything queued, waiting for at least one line.
    /// - Returns: `nil` once the outbox is closed, or finished and drained.
    func take() async -> [ByteBuffer]? {
        await withCheckedContinuation { (continuation: CheckedContinuation<[ByteBuffer]?, Never>) in
            let (ready, rooms): ([ByteBuffer]??, [CheckedContinuation<Bool, Never>]) = state.withLock { state in
                if state.closed { return (.some(nil), []) }
                if !state.lines.isEmpty {
                    let lines = state.lines
                    state.lines = []
                    state.bytes = 0
                    let rooms = state.roomWaiters
                    state.roomWaiters = []
                    return (.some(lines), rooms)
                }
                if state.finishing {
                    state.closed = true
                    return (.some(nil), [])
                }
                state.writer = continuation
                return (nil, [])
            }
            for room in rooms { room.resume(returning: true) }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Accepts no more lines except `last`; the writer sends what is queued, then ends.
    func finish(last: ByteBuffer? = nil) {
        let resumed: Resumption = state.withLock { state in
            if state.closed || state.finishing { return .none }
            var resumed = Resumption.none
            if let last { resumed = Self.append(last, to: &state) }
            state.finishing = true
            if case .none = resumed, let writer = state.writer, state.lines.isEmpty {
                state.writer = nil
                state.closed = true
                resumed = .writer(writer, nil)
            }
            let rooms = state.roomWaiters
            state.roomWaiters = []
            return resumed.adding(rooms: rooms, open: false)
        }
        resumed.resume()
    }

    /// Discards everything queued and wakes everyone waiting.
    func close() {
        let (resumed, waiting) = state.withLock { state in
            let resumed = Self.close(&state)
            let waiting = state.writtenWaiters.map(\.body)
            state.writtenWaiters = []
            return (resumed, waiting)
        }
        resumed.resume()
        for body in waiting { body() }
    }

    /// How many lines have been queued so far: the mark of the newest one.
    var queuedMark: UInt64 { state.withLock { $0.queuedCount } }

    /// Tells the outbox its writer has handed `count` more lines to the kernel.
    func wrote(_ count: Int) {
        let due: [@Sendable () -> Void] = state.withLock { state in
            state.writtenCount += UInt64(count)
            let written = state.writtenCount
            let due = state.writtenWaiters.filter { $0.mark <= written }.map(\.body)
            state.writtenWaiters.removeAll { $0.mark <= written }
            return due
        }
        for body in due { body() }
    }

    /// Runs `body` once the line with `mark` (from ``queuedMark``) and those before it
    /// have been written, or once the outbox is closed; at once if that is already so.
    /// `body` runs on the writer's task or the closer's thread: keep it quick.
    func whenWritten(through mark: UInt64, _ body: @escaping @Sendable () -> Void) {
        let now: Bool = state.withLock { state in
            if state.closed || state.writtenCount >= mark { return true }
            state.writtenWaiters.append((mark, body))
            return false
        }
        if now { body() }
    }

    private static func close(_ state: inout State) -> Resumption {
        if state.closed { return .none }
        state.closed = true
        state.lines = []
        state.bytes = 0
        var resumed = Resumption.none
        if let writer = state.writer {
            state.writer = nil
            resumed = .writer(writer, nil)
        }
        let rooms = state.roomWaiters
        state.roomWaiters = []
        return resumed.adding(rooms: rooms, open: false)
    }

    private static func append(_ line: ByteBuffer, to state: inout State) -> Resumption {
        state.queuedCount += 1
        if let writer = state.writer {
            state.writer = nil
            return .writer(writer, [line])
        }
        state.lines.append(line)
        state.bytes += line.readableBytes
        return .none
    }

    /// Continuations to resume once the lock is released.
    private enum Resumption {
        case none
        case writer(CheckedContinuation<[ByteBuffer]?, Never>, [ByteBuffer]?)
        indirect case both(Resumption, rooms: [CheckedContinuation<Bool, Never>], open: Bool)

        func adding(rooms: [CheckedContinuation<Bool, Never>], open: Bool) -> Resumption {
            rooms.isEmpty ? self : .both(self, rooms: rooms, open: open)
        }

        func resume() {
            switch self {
            case .none: break
            case .writer(let continuation, let lines): continuation.resume(returning: lines)
            case .both(let inner, let rooms, let open):
                inner.resume()
                for room in rooms { room.resume(returning: open) }
            }
        }
    }
}

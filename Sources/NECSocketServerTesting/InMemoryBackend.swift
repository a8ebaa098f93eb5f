// NECSocketServerTesting: helpers for tests of the socket server and its clients.
public import NECProtocol
public import NECSocketServer
import Synchronization

/// A ``DaemonBackend`` that keeps its event journal in memory, for socket-level tests
/// and examples. It stores an event and hands it to the server the way the real
/// pipeline does: stored first, published second.
public final class InMemoryBackend: DaemonBackend {
    private struct State {
        var events: [EventLine] = []
        var nextSeq: Int64 = 1
        var readers: [ReaderInfo] = []
        var cards: [String: LookupMessage] = [:]
        var redeemed: Set<Int64> = []
        var storedEventsCalls = 0
        var holding = false
        var held: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let started = ContinuousClock.now

    /// Creates an empty backend.
    /// - Parameters:
    ///   - readers: what `readers` answers.
    ///   - cards: what `lookup` answers, by card number.
    public init(readers: [ReaderInfo] = [], cards: [String: LookupMessage] = [:]) {
        state.withLock {
            $0.readers = readers
            $0.cards = cards
        }
    }

    /// From now on, `status` requests wait (without holding a thread) until released: a
    /// backend that is slow to answer, as a database waiting for a lock is.
    public func holdStatusRequests() {
        state.withLock { $0.holding = true }
    }

    /// How many `status` requests wait now.
    public var heldStatusRequests: Int { state.withLock { $0.held.count } }

    /// Lets the oldest `count` waiting `status` requests go (every one when nil); with nil,
    /// later ones no longer wait either.
    public func releaseStatusRequests(_ count: Int? = nil) {
        let released: [CheckedContinuation<Void, Never>] = state.withLock { state in
            let n = min(count ?? state.held.count, state.held.count)
            let first = Array(state.held.prefix(n))
            state.held.removeFirst(n)
            if count == nil { state.holding = false }
            return first
        }
        for continuation in released { continuation.resume() }
    }

    /// How many times the server asked for stored events (replay pages).
    public var storedEventsCalls: Int { state.withLock { $0.storedEventsCalls } }

    /// The newest stored `seq`, or 0.
    public var lastSeq: Int64 { state.withLock { $0.nextSeq - 1 } }

    /// Stores a synthetic `TAP` event and returns its line; call ``SocketServer/publish(_:)`` with it.
    /// - Parameters:
    ///   - reader: the reader name.
    ///   - isrn: a synthetic card number.
    ///   - pupil: a synthetic pupil reference.
    ///   - time: the event time.
    @discardableResult
    public func storeTap(
        reader: String = "Test Reader 00 00", isrn: String = "633597999900000018", pupil: String? = "TEST-0001",
        time: String = "2026-11-27T12:00:00.000Z"
    ) -> EventLine {
        state.withLock { state in
            let seq = state.nextSeq
            state.nextSeq += 1
            let event = TapEvent(
                seq: seq, time: time, reader: reader, lane: "till-1",
                card: CardInfo(isrn: isrn, media: .desfire), decision: .authorised, kind: .lunch, pupil: pupil
            )
            let line = EventLine(seq: seq, line: MessageCoding.line(event))
            state.events.append(line)
            state.redeemed.insert(seq)
            return line
        }
    }

    /// Stores then publishes `count` taps, as the pipeline would.
    /// - Parameters:
    ///   - count: how many taps.
    ///   - server: where to publish them.
    public func tap(_ count: Int = 1, through server: SocketServer) {
        for _ in 0..<count { server.publish(storeTap()) }
    }

    public func storedEvents(after seq: Int64, limit: Int) async throws -> [EventLine] {
        state.withLock { state in
            state.storedEventsCalls += 1
            // seq n sits at index n-1.
            let start = Int(max(seq, 0))
            guard start < state.events.count else { return [] }
            return Array(state.events[start..<min(start + limit, state.events.count)])
        }
    }

    public func readers() async -> ReadersMessage {
        ReadersMessage(readers: state.withLock { $0.readers })
    }

    public func status() async -> StatusMessage {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wait = state.withLock { state in
                if state.holding { state.held.append(continuation) }
                return state.holding
            }
            if !wait { continuation.resume() }
        }
        let uptime = ContinuousClock.now - started
        return state.withLock { state in
            StatusMessage(
                uptime: Double(uptime.components.seconds) + Double(uptime.components.attoseconds) / 1e18,
                pcscdConnected: true, readerCount: state.readers.count,
                lastSeq: state.nextSeq > 1 ? state.nextSeq - 1 : nil
            )
        }
    }

    public func lookup(card: String) async throws -> LookupMessage {
        if let known = state.withLock({ $0.cards[card] }) { return known }
        guard card.count == 18, card.allSatisfy(\.isNumber) else {
            throw RequestRefusal("lookup: \"card\" is not an 18-digit ISRN or a hex UID")
        }
        return LookupMessage(card: CardInfo(isrn: card), decision: .declined, reason: .unknownCard)
    }

    public func void(seq: Int64) async throws -> VoidMessage {
        let removed = state.withLock { $0.redeemed.remove(seq) != nil }
        guard removed else { throw RequestRefusal("void: no lunch redeemed by event \(seq)") }
        return VoidMessage(seq: seq)
    }
}

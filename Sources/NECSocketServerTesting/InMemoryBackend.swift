// NECSocketServerTesting: helpers for tests of the socket server and its clients.
public import NECProtocol
public import NECSocketServer
import Synchronization

/// A ``DaemonBackend`` that keeps its event journal in memory, for socket-level tests
/// and examples. It stores an event and hands it to the server the way the real
/// pipeline does: stored first, published second.
///
/// It decides nothing: `lookup`, `void`, `redeem`, `charge` and `refund` answer what the test
/// configured (a refusal naming what is missing otherwise). The rules those answers
/// follow (which card numbers are valid, which events can be voided, what STATUS leaves
/// out, when a txn may be reused or refunded) live in the daemon's store and are tested
/// there, against SQLite and a real necd. What it does keep is storage: the journal, and
/// a charge's stored event, given again for its txn.
public final class InMemoryBackend: DaemonBackend {
    private struct State {
        var events: [EventLine] = []
        var nextSeq: Int64 = 1
        var readers: [ReaderInfo] = []
        var cards: [String: LookupMessage] = [:]
        var pupils: [String: LookupMessage] = [:]
        var payments: [String: PaymentAnswer] = [:]
        var refunds: [String: [RefundAnswer]] = [:]
        var charges: [String: StoredCharge] = [:]
        var redeemers: [Int64: UInt32?] = [:]
        var publish: @Sendable (EventLine) -> Void = { _ in }
        var voids: [Int64: String?] = [:]
        var storedEventsCalls = 0
        var statusHold = Hold()
        var replayHold = Hold()
    }

    /// Requests of one kind made to wait until the test lets them go.
    private struct Hold {
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

    /// What a `charge` for a pupil is answered: the decision and figures a test chose. The
    /// backend applies no rules of its own; it fills in the request's values, stores the event
    /// and hands it back.
    public struct PaymentAnswer: Sendable, Hashable {
        /// Authorised or declined.
        public var decision: Decision
        /// Why it is declined.
        public var reason: DeclineReason?
        /// `spent_today` to send.
        public var spentToday: Int?
        /// `remaining_today` to send.
        public var remainingToday: Int?
        /// `balance` to send.
        public var balance: Int?
        /// False for a charge that cannot be stored (a full disk): its event has no `seq`,
        /// is neither kept nor published, and its `txn` stays unused.
        public var stored: Bool

        /// Creates an answer.
        /// - Parameters: the event's values, see the properties.
        public init(
            decision: Decision, reason: DeclineReason? = nil, spentToday: Int? = nil, remainingToday: Int? = nil,
            balance: Int? = nil, stored: Bool = true
        ) {
            (self.decision, self.reason) = (decision, reason)
            (self.spentToday, self.remainingToday, self.balance, self.stored) = (spentToday, remainingToday, balance, stored)
        }
    }

    /// A charge as stored: what it was asked with, and its event.
    private struct StoredCharge {
        var pupil: String
        var amount: Int
        var event: PaymentEvent
        var line: EventLine
    }

    /// The time every event this backend makes carries, so tests can compare whole lines.
    public static let eventTime = "2026-11-27T12:00:00.000Z"

    /// Where the events `redeem`, `charge` and `refund` store go once stored, as the
    /// daemon's backend publishes them: give it ``SocketServer/publish(_:)``.
    /// - Parameter publish: called with each stored event's line.
    public func publishStoredEvents(to publish: @escaping @Sendable (EventLine) -> Void) {
        state.withLock { $0.publish = publish }
    }

    /// Makes `redeem` for `pupil` answer with this decision (as a manual `TAP`), and
    /// `charge` for `pupil` with `payment`. Pupils never configured are refused.
    /// - Parameters:
    ///   - pupil: the pupil reference.
    ///   - decision: the decision, kind, reason and row values a manual tap gets; its `card` is ignored.
    ///   - payment: the answer a charge gets.
    public func configure(pupil: String, decision: LookupMessage? = nil, payment: PaymentAnswer? = nil) {
        state.withLock { state in
            if let decision { state.pupils[pupil] = decision }
            if let payment { state.payments[pupil] = payment }
        }
    }

    /// What one `refund` is answered.
    public enum RefundAnswer: Sendable, Hashable {
        /// A stored `PAYMENT` of kind `refund` with these values, for the charge stored with the txn.
        case refunded(PaymentAnswer)
        /// An `ERROR` saying this.
        case refused(String)
    }

    /// Makes the `refund`s of `txn` answer `answers`, one each, in order (say a refund,
    /// then the refusal a second one gets); once they are used up, or for a txn never
    /// configured, a refund is refused. A refund answered ``RefundAnswer/refunded(_:)``
    /// takes its pupil, amount and lane from the charge stored with `txn`.
    /// - Parameters:
    ///   - txn: the charge's txn.
    ///   - answers: the answers, first first.
    public func configureRefunds(of txn: String, _ answers: [RefundAnswer]) {
        state.withLock { $0.refunds[txn] = answers }
    }

    /// Makes `void` of event `seq` answer `VOID` (with `refusal` nil) or an `ERROR` saying
    /// `refusal`, every time it is asked. Events never configured are refused.
    /// - Parameters:
    ///   - seq: the event.
    ///   - refusal: the refusal's message, or nil to accept.
    public func configureVoid(of seq: Int64, refusal: String? = nil) {
        state.withLock { $0.voids[seq] = .some(refusal) }
    }

    /// The uid of the peer that asked for the manual tap stored as event `seq` (nil inside
    /// when the server could not read the peer's credentials; nil outside when there is no
    /// such manual tap).
    public func redeemer(ofEvent seq: Int64) -> UInt32?? {
        state.withLock { $0.redeemers[seq] }
    }

    /// How many charges were stored (a retried `txn` is one).
    public var storedCharges: Int { state.withLock { $0.charges.count } }

    /// From now on, `status` requests wait (without holding a thread) until released: a
    /// backend that is slow to answer, as a database waiting for a lock is.
    public func holdStatusRequests() {
        state.withLock { $0.statusHold.holding = true }
    }

    /// How many `status` requests wait now.
    public var heldStatusRequests: Int { state.withLock { $0.statusHold.held.count } }

    /// Lets the oldest `count` waiting `status` requests go (every one when nil); with nil,
    /// later ones no longer wait either.
    public func releaseStatusRequests(_ count: Int? = nil) { release(\.statusHold, count) }

    /// From now on, the server's requests for stored events (replay pages) wait until
    /// released, as for ``holdStatusRequests()``: a replay held in the middle.
    public func holdReplayPages() {
        state.withLock { $0.replayHold.holding = true }
    }

    /// How many replay pages wait now.
    public var heldReplayPages: Int { state.withLock { $0.replayHold.held.count } }

    /// Lets the oldest `count` waiting replay pages go (every one when nil, and later ones
    /// no longer wait).
    public func releaseReplayPages(_ count: Int? = nil) { release(\.replayHold, count) }

    private func release(_ hold: any WritableKeyPath<State, Hold> & Sendable, _ count: Int?) {
        let released: [CheckedContinuation<Void, Never>] = state.withLock { state in
            let n = min(count ?? state[keyPath: hold].held.count, state[keyPath: hold].held.count)
            let first = Array(state[keyPath: hold].held.prefix(n))
            state[keyPath: hold].held.removeFirst(n)
            if count == nil { state[keyPath: hold].holding = false }
            return first
        }
        for continuation in released { continuation.resume() }
    }

    /// Returns at once, or once released while `hold` is on.
    private func pass(_ hold: any WritableKeyPath<State, Hold> & Sendable) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wait = state.withLock { state in
                if state[keyPath: hold].holding { state[keyPath: hold].held.append(continuation) }
                return state[keyPath: hold].holding
            }
            if !wait { continuation.resume() }
        }
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
        await pass(\.replayHold)
        return state.withLock { state in
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
        await pass(\.statusHold)
        let uptime = ContinuousClock.now - started
        return state.withLock { state in
            StatusMessage(
                uptime: Double(uptime.components.seconds) + Double(uptime.components.attoseconds) / 1e18,
                pcscdConnected: true, readerCount: state.readers.count,
                lastSeq: StatusMessage.reportedLastSeq(newest: state.nextSeq - 1)
            )
        }
    }

    public func lookup(card: String) async throws -> LookupMessage {
        guard let known = state.withLock({ $0.cards[card] }) else { throw RequestRefusal("lookup: no answer configured for this card") }
        return known
    }

    public func redeem(pupil: String, lane: String?, peer: SocketPeer?) async throws -> EventLine {
        let (line, publish) = try state.withLock { state throws(RequestRefusal) in
            guard let answer = state.pupils[pupil] else { throw RequestRefusal("redeem: no answer configured for this pupil") }
            let seq = state.nextSeq
            let event = TapEvent.manual(
                seq: seq, time: Self.eventTime, lane: lane, decision: answer.decision, kind: answer.kind, reason: answer.reason,
                pupil: pupil, dailyLimit: answer.dailyLimit, allergens: answer.allergens, message: answer.message,
                listStale: answer.listStale)
            let line = store(event, in: &state)
            state.redeemers[seq] = .some(peer?.uid)
            return (line, state.publish)
        }
        publish(line)
        return line
    }

    public func charge(pupil: String, amount: Int, txn: String, lane: String?, peer: SocketPeer?) async throws -> EventLine {
        let (line, publish) = try state.withLock { state throws(RequestRefusal) -> (EventLine, (@Sendable (EventLine) -> Void)?) in
            // A txn stored before: its stored event again, nothing stored, nothing published
            // (whether a retry must match the first charge is the daemon's rule, not this backend's).
            if let earlier = state.charges[txn] { return (earlier.line, nil) }
            guard let answer = state.payments[pupil] else { throw RequestRefusal("charge: no answer configured for this pupil") }
            let event = PaymentEvent(
                seq: answer.stored ? state.nextSeq : nil, time: Self.eventTime, lane: lane, txn: txn, pupil: pupil, kind: .charge, amount: amount,
                decision: answer.decision, reason: answer.reason, spentToday: answer.spentToday,
                remainingToday: answer.remainingToday, balance: answer.balance)
            guard answer.stored else { return (EventLine(seq: nil, line: MessageCoding.line(event)), nil) }
            let line = store(event, in: &state)
            state.charges[txn] = StoredCharge(pupil: pupil, amount: amount, event: event, line: line)
            return (line, state.publish)
        }
        publish?(line)
        return line
    }

    public func refund(txn: String, peer: SocketPeer?) async throws -> EventLine {
        let (line, publish) = try state.withLock { state throws(RequestRefusal) in
            guard let next = state.refunds[txn]?.first else { throw RequestRefusal("refund: no answer configured for this txn") }
            state.refunds[txn]?.removeFirst()
            let answer: PaymentAnswer
            switch next {
            case .refused(let message): throw RequestRefusal(message)
            case .refunded(let values): answer = values
            }
            guard let charge = state.charges[txn] else { throw RequestRefusal("refund: no charge stored with this txn to refund") }
            let event = PaymentEvent(
                seq: state.nextSeq, time: Self.eventTime, lane: charge.event.lane, txn: txn, pupil: charge.pupil, kind: .refund,
                amount: charge.amount, decision: answer.decision, reason: answer.reason, spentToday: answer.spentToday,
                remainingToday: answer.remainingToday, balance: answer.balance)
            return (store(event, in: &state), state.publish)
        }
        publish(line)
        return line
    }

    /// Appends an event to the journal with the next `seq` (which `event` already carries).
    private func store(_ event: some Encodable, in state: inout State) -> EventLine {
        let line = EventLine(seq: state.nextSeq, line: MessageCoding.line(event))
        state.nextSeq += 1
        state.events.append(line)
        return line
    }

    public func void(seq: Int64) async throws -> VoidMessage {
        guard let answer = state.withLock({ $0.voids[seq] }) else { throw RequestRefusal("void: no answer configured for event \(seq)") }
        if let refusal = answer { throw RequestRefusal(refusal) }
        return VoidMessage(seq: seq)
    }
}

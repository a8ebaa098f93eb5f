internal import Glibc
internal import Synchronization

/// A moment on two clocks: the monotonic one, to measure latencies inside one process,
/// and the wall clock, to compare with timestamps another process wrote.
public struct VirtualCardTimestamp: Sendable, Hashable, Comparable {
    /// The monotonic instant.
    public let instant: ContinuousClock.Instant
    /// Nanoseconds since 1970-01-01 UTC (CLOCK_REALTIME).
    public let unixNanoseconds: Int64

    /// Now, on both clocks.
    public static func now() -> VirtualCardTimestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return VirtualCardTimestamp(
            instant: .now, unixNanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }

    /// Ordered by the monotonic instant.
    public static func < (a: VirtualCardTimestamp, b: VirtualCardTimestamp) -> Bool {
        a.instant < b.instant
    }
}

/// Why a virtual card could not be put on a virtual reader.
public enum VirtualCardError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing listens on the port: pcscd is not running with the vpcd driver there.
    case vpcdNotListening(host: String, port: UInt16)
    /// The host name did not resolve.
    case hostNotFound(host: String)
    /// Connecting failed for another reason (`errno`).
    case connectFailed(host: String, port: UInt16, errno: Int32)
    /// The socket or the serving thread could not be created (`errno` or pthread code).
    case resourceFailed(errno: Int32)

    /// A sentence for a technician.
    public var description: String {
        switch self {
        case .vpcdNotListening(let host, let port):
            "vpcd not listening on \(host):\(port) (is pcscd running with a vpcd reader on that port?)"
        case .hostNotFound(let host):
            "vpcd host \(host) not found"
        case .connectFailed(let host, let port, let code):
            "cannot connect to vpcd on \(host):\(port): \(String(cString: strerror(code)))"
        case .resourceFailed(let code):
            "cannot create the virtual card's socket or thread: \(String(cString: strerror(code)))"
        }
    }
}

/// One virtual card on one vpcd reader: connecting inserted it, and it stays in the field,
/// answering vpcd on its own thread, until `remove()`, a removal fault, or vpcd closing.
///
/// Blocking socket I/O runs on a dedicated thread, never on the cooperative pool. All
/// members are safe to use from any task. Dropping the session does not remove the card:
/// call `remove()` or `hold(for:)`.
public final class VirtualCardSession: Sendable {
    /// What happened while the card was in the field.
    public struct Statistics: Sendable, Equatable {
        /// When the connection to vpcd was made (the card entered the field).
        public var connectedAt: VirtualCardTimestamp?
        /// When vpcd first powered the card on.
        public var poweredAt: VirtualCardTimestamp?
        /// How many times vpcd powered the card on.
        public var powerOns = 0
        /// When the first command APDU arrived.
        public var firstCommandAt: VirtualCardTimestamp?
        /// When the last answer to a command APDU was written: where latency benchmarks
        /// start counting.
        public var lastAnsweredAt: VirtualCardTimestamp?
        /// How many command APDUs were answered (ATR requests and controls excluded).
        public var apdusAnswered = 0
        /// The first `VirtualCardSession.commandLogLimit` command APDUs received, in order.
        public var commands: [[UInt8]] = []
        /// When the card left the field; nil while it is still there.
        public var endedAt: VirtualCardTimestamp?
        /// Why the card left the field; nil while it is still there.
        public var ending: Ending?

        /// Empty statistics, for a card not yet connected.
        public init() {}
    }

    /// Why a card left the field.
    public enum Ending: Sendable, Equatable {
        /// It was taken away: `remove()`, the hold time passed, or the task was cancelled.
        case removed
        /// The removal fault: command APDU number `afterAPDUs + 1` arrived and was not answered.
        case removalFault(afterAPDUs: Int)
        /// vpcd closed the connection (pcscd stopped or restarted).
        case vpcdClosed
        /// Reading or writing the socket failed (`errno`).
        case socketError(errno: Int32)
    }

    /// Something the card did, reported to an observer as it happens (on the card's thread).
    public enum Event: Sendable, Equatable {
        /// vpcd powered the card on.
        case poweredOn
        /// vpcd powered the card off.
        case poweredOff
        /// vpcd reset the card.
        case reset
        /// vpcd asked for the ATR, and got it.
        case atrSent([UInt8])
        /// A command APDU has arrived, before the card answers it (or leaves at it): the
        /// moment to look at what else had happened by then.
        case received(command: [UInt8])
        /// A command APDU and the answer written for it.
        case answered(command: [UInt8], response: [UInt8])
        /// The card left the field.
        case ended(Ending)
    }

    /// How many command APDUs `Statistics.commands` keeps, so a long `serve` stays small.
    public static let commandLogLimit = 256

    /// The card being served; nil for a replayed recording (`insert(replaying:...)`).
    public let model: VirtualCardModel?
    /// vpcd's host.
    public let host: String
    /// vpcd's port.
    public let port: UInt16

    private struct Shared {
        var fd: Int32 = -1
        var removing = false
        var statistics = Statistics()
        var waiters: [CheckedContinuation<Statistics, Never>] = []
        /// The card has left and the observer has been told: `ended()` returns from now on.
        var finished = false
    }

    private let shared = Mutex(Shared())
    private let observer: (@Sendable (Event) -> Void)?

    private init(model: VirtualCardModel?, host: String, port: UInt16, observer: (@Sendable (Event) -> Void)?) {
        self.model = model
        self.host = host
        self.port = port
        self.observer = observer
    }

    /// Connects to vpcd, which inserts the card into that virtual reader, and starts
    /// answering on a dedicated thread.
    /// - Parameters:
    ///   - model: the card.
    ///   - host: vpcd's address (default `127.0.0.1`).
    ///   - port: vpcd's port (pcscd's default 35963; the test rig uses 40960, 40961, ...).
    ///   - seed: seeds the random UID and garbage answers; nil for fresh randomness.
    ///   - observer: called on the card's thread for every event; keep it quick.
    /// - Returns: the session, with the card in the field.
    /// - Throws: `VirtualCardError.vpcdNotListening` when nothing listens on the port.
    public static func insert(
        _ model: VirtualCardModel, host: String = "127.0.0.1", port: UInt16, seed: UInt64? = nil,
        observer: (@Sendable (Event) -> Void)? = nil
    ) async throws(VirtualCardError) -> VirtualCardSession {
        try await start(EmulatedCard(model: model, seed: seed), model: model, host: host, port: port, observer: observer)
    }

    /// Connects to vpcd and serves a recorded card (`ReplayedCard`), as `insert` serves a model.
    /// - Parameters: as `insert`, with the replayed card for the model.
    /// - Returns: the session, with the card in the field.
    /// - Throws: `VirtualCardError.vpcdNotListening` when nothing listens on the port.
    public static func insert(
        replaying card: ReplayedCard, host: String = "127.0.0.1", port: UInt16,
        observer: (@Sendable (Event) -> Void)? = nil
    ) async throws(VirtualCardError) -> VirtualCardSession {
        try await start(card, model: nil, host: host, port: port, observer: observer)
    }

    private static func start(
        _ card: some VirtualCardResponder, model: VirtualCardModel?, host: String, port: UInt16,
        observer: (@Sendable (Event) -> Void)?
    ) async throws(VirtualCardError) -> VirtualCardSession {
        let session = VirtualCardSession(model: model, host: host, port: port, observer: observer)
        let started: Result<Void, VirtualCardError> = await withCheckedContinuation { continuation in
            do throws(VirtualCardError) {
                try startThread {
                    session.run(card: card) { continuation.resume(returning: $0) }
                }
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
        try started.get()
        return session
    }

    /// What has happened so far (a snapshot).
    public var statistics: Statistics { shared.withLock { $0.statistics } }

    /// Takes the card out of the field: closes the connection, and waits until the
    /// card's thread has finished. Harmless after the card has already left.
    /// - Returns: the final statistics.
    @discardableResult
    public func remove() async -> Statistics {
        requestRemoval()
        return await ended()
    }

    /// Waits until the card leaves the field by itself (removal fault, vpcd closing) or
    /// through `remove()`. Not cancellable: use `hold(for:)` to wait with a limit.
    /// - Returns: the final statistics.
    public func ended() async -> Statistics {
        await withCheckedContinuation { continuation in
            shared.withLock { state in
                if state.finished {
                    continuation.resume(returning: state.statistics)
                } else {
                    state.waiters.append(continuation)
                }
            }
        }
    }

    /// Keeps the card in the field for `duration`, or until the calling task is
    /// cancelled when `duration` is nil, unless it leaves earlier by itself; then removes it.
    /// - Parameter duration: how long to hold the card, nil for "until cancelled".
    /// - Returns: the final statistics.
    @discardableResult
    public func hold(for duration: Duration?) async -> Statistics {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = await self.ended() }
            group.addTask {
                if let duration {
                    try? await Task.sleep(for: duration)
                } else {
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                }
            }
            _ = await group.next()
            // Whichever finished first, the card leaves now; the other child then ends too.
            group.cancelAll()
            self.requestRemoval()
        }
        return await ended()
    }

    private func requestRemoval() {
        shared.withLock { state in
            guard state.fd >= 0, !state.removing else { return }
            state.removing = true
            // shutdown, not close: the card's thread owns the descriptor and closes it,
            // so the number cannot be reused under a read still in progress.
            _ = shutdown(state.fd, Int32(SHUT_RDWR))
        }
    }

    // MARK: The card's thread

    private func run(card initial: some VirtualCardResponder, connected: (Result<Void, VirtualCardError>) -> Void) {
        let fd: Int32
        switch Self.connect(host: host, port: port) {
        case .failure(let error):
            connected(.failure(error))
            return
        case .success(let socket):
            fd = socket
        }
        shared.withLock { state in
            state.fd = fd
            state.statistics.connectedAt = .now()
        }
        connected(.success(()))

        var card = initial
        let ending = serve(fd: fd, card: &card)
        let final = shared.withLock { state in
            close(fd)
            state.fd = -1
            let removing = state.removing
            // A removal asked for shows up as EOF or EPIPE on our side: report it as asked.
            if case .removalFault = ending {
                state.statistics.ending = ending
            } else {
                state.statistics.ending = removing ? .removed : ending
            }
            state.statistics.endedAt = .now()
            return state.statistics
        }
        // Told before anyone waiting hears of the end (`ended()` answers at once only once
        // `finished` is set), so a caller of `remove()` has seen every event when it returns.
        observer?(.ended(final.ending!))
        let waiters = shared.withLock { state in
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: final) }
    }

    private func serve(fd: Int32, card: inout some VirtualCardResponder) -> Ending {
        let delay = card.answerDelay
        while true {
            let header: [UInt8]
            switch Self.read(fd, count: 2) {
            case .bytes(let b): header = b
            case .closed: return .vpcdClosed
            case .failed(let code): return code == ECONNRESET ? .vpcdClosed : .socketError(errno: code)
            }
            let length = Int(header[0]) << 8 | Int(header[1])
            let payload: [UInt8]
            switch Self.read(fd, count: length) {
            case .bytes(let b): payload = b
            case .closed: return .vpcdClosed
            case .failed(let code): return code == ECONNRESET ? .vpcdClosed : .socketError(errno: code)
            }

            if length == 1 {
                switch payload[0] {
                case 0x00:
                    card.resetState()
                    observer?(.poweredOff)
                case 0x01:
                    card.resetState()
                    shared.withLock { state in
                        if state.statistics.poweredAt == nil { state.statistics.poweredAt = .now() }
                        state.statistics.powerOns += 1
                    }
                    observer?(.poweredOn)
                case 0x02:
                    card.resetState()
                    observer?(.reset)
                case 0x04:
                    let atr = card.atr
                    if let code = Self.write(fd, atr) { return code == EPIPE ? .vpcdClosed : .socketError(errno: code) }
                    observer?(.atrSent(atr))
                default:
                    break  // an unknown control: vpcd expects no answer to controls
                }
                continue
            }
            guard length > 0 else { continue }

            shared.withLock { state in
                if state.statistics.firstCommandAt == nil { state.statistics.firstCommandAt = .now() }
                if state.statistics.commands.count < Self.commandLogLimit {
                    state.statistics.commands.append(payload)
                }
            }
            observer?(.received(command: payload))
            switch card.receive(payload) {
            case .remove:
                return .removalFault(afterAPDUs: card.receivedAPDUs - 1)
            case .answer(let response):
                if delay > .zero { Self.sleep(delay) }
                if let code = Self.write(fd, response) {
                    return code == EPIPE || code == ECONNRESET ? .vpcdClosed : .socketError(errno: code)
                }
                shared.withLock { state in
                    state.statistics.lastAnsweredAt = .now()
                    state.statistics.apdusAnswered += 1
                }
                observer?(.answered(command: payload, response: response))
            }
        }
    }

    // MARK: POSIX plumbing

    private enum ReadResult {
        case bytes([UInt8])
        case closed
        case failed(Int32)
    }

    private static func read(_ fd: Int32, count: Int) -> ReadResult {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            // vpcd writes length and payload separately without TCP_NODELAY; a delayed ACK
            // here would hold its second write ~40 ms. Linux clears QUICKACK, so set it each time.
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &one, socklen_t(MemoryLayout<Int32>.size))
            let n = buffer.withUnsafeMutableBytes { raw in
                recv(fd, raw.baseAddress! + filled, count - filled, 0)
            }
            if n > 0 {
                filled += n
            } else if n == 0 {
                return .closed
            } else if errno != EINTR {
                return .failed(errno)
            }
        }
        return .bytes(buffer)
    }

    /// Writes one framed message in a single send; returns errno on failure.
    private static func write(_ fd: Int32, _ payload: [UInt8]) -> Int32? {
        let length = min(payload.count, 0xFFFF)
        let message = [UInt8(length >> 8), UInt8(length & 0xFF)] + payload.prefix(length)
        var sent = 0
        while sent < message.count {
            let n = message.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + sent, message.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n >= 0 {
                sent += n
            } else if errno != EINTR {
                return errno
            }
        }
        return nil
    }

    private static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0, errno == EINTR { request = remaining }
    }

    private static func connect(host: String, port: UInt16) -> Result<Int32, VirtualCardError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            return .failure(.hostNotFound(host: host))
        }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = ECONNREFUSED
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 {
                lastError = errno
                continue
            }
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                var one: Int32 = 1
                _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                return .success(fd)
            }
            lastError = errno
            close(fd)
        }
        if lastError == ECONNREFUSED { return .failure(.vpcdNotListening(host: host, port: port)) }
        return .failure(.connectFailed(host: host, port: port, errno: lastError))
    }

    private final class ThreadBody {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    private static func startThread(_ body: @escaping @Sendable () -> Void) throws(VirtualCardError) {
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            throw .resourceFailed(errno: rc)
        }
        pthread_detach(thread)
    }
}

/// The two ways tests, benchmarks and `necctl simulate` put a virtual card on a reader.
public enum VirtualCardRunner {
    /// Taps a card: inserts it, holds it in the field for `hold` (or until it leaves by
    /// itself through a removal fault or vpcd closing), then removes it.
    /// - Parameters:
    ///   - card: the card.
    ///   - host: vpcd's address.
    ///   - port: vpcd's port.
    ///   - hold: how long the card stays in the field.
    ///   - seed: seeds randomness (random UID, garbage), nil for fresh.
    ///   - observer: called on the card's thread for every event.
    /// - Returns: what happened, with timestamps.
    /// - Throws: `VirtualCardError` when the card could not be inserted.
    @discardableResult
    public static func tap(
        card: VirtualCardModel, host: String = "127.0.0.1", port: UInt16, hold: Duration,
        seed: UInt64? = nil, observer: (@Sendable (VirtualCardSession.Event) -> Void)? = nil
    ) async throws(VirtualCardError) -> VirtualCardSession.Statistics {
        let session = try await VirtualCardSession.insert(card, host: host, port: port, seed: seed, observer: observer)
        return await session.hold(for: hold)
    }

    /// Serves a card until the calling task is cancelled (or `hold` passes, when given),
    /// or until it leaves by itself: the long-running mode of `necctl simulate --hold`.
    /// - Parameters: as `tap`, with `hold` optional.
    /// - Returns: what happened, with timestamps.
    /// - Throws: `VirtualCardError` when the card could not be inserted.
    @discardableResult
    public static func serve(
        card: VirtualCardModel, host: String = "127.0.0.1", port: UInt16, hold: Duration? = nil,
        seed: UInt64? = nil, observer: (@Sendable (VirtualCardSession.Event) -> Void)? = nil
    ) async throws(VirtualCardError) -> VirtualCardSession.Statistics {
        let session = try await VirtualCardSession.insert(card, host: host, port: port, seed: seed, observer: observer)
        return await session.hold(for: hold)
    }
}

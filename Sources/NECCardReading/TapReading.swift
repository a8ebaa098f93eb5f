public import Foundation
public import NECCard
public import PCSC

/// One card read on one reader: the identity, or why there is none, with timings and,
/// when asked for, the APDU trace. Made on the reader monitor's thread while the card
/// is present; everything in it is a plain value.
public struct TapReading: Sendable {
    /// Why a read gave no identity.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// One line for a technician, e.g. "card removed during the read (SCARD_W_REMOVED_CARD ...)".
        public let message: String
        /// The PC/SC error behind it, when there was one.
        public let pcscError: PCSCError?
        /// How many APDUs had completed.
        public let apdus: Int
        /// True when the card could not even be connected to: usually it had already
        /// left the field (pcscd notices a removal up to 0.4 s late with some drivers).
        public let atConnect: Bool

        /// True when the card was gone before the first APDU: not a tap at all.
        public var cardLeftBeforeRead: Bool {
            guard atConnect else { return false }
            switch pcscError {
            case .removedCard?, .noSmartCard?, .resetCard?: return true
            default: return false
            }
        }

        /// - Parameters: see the properties.
        public init(message: String, pcscError: PCSCError?, apdus: Int, atConnect: Bool = false) {
            self.init(message: message, pcscError: pcscError, apdus: apdus, atConnect: atConnect, stoppedAnswering: false)
        }

        init(message: String, pcscError: PCSCError?, apdus: Int, atConnect: Bool, stoppedAnswering: Bool) {
            self.message = message
            self.pcscError = pcscError
            self.apdus = apdus
            self.atConnect = atConnect
            self.stoppedAnswering = stoppedAnswering
        }

        public var description: String { message }

        /// The cause, as a short name for counting (`necd_card_read_failures_total`):
        /// `card_left` (gone before the first APDU), `connect_failed`, `card_removed`
        /// and `card_reset` (during the read), `no_answer` (the card stopped answering),
        /// or `transport` (any other transport error).
        public var cause: String {
            if cardLeftBeforeRead { return "card_left" }
            if atConnect { return "connect_failed" }
            switch pcscError {
            case .removedCard?: return "card_removed"
            case .resetCard?: return "card_reset"
            case nil where stoppedAnswering: return "no_answer"
            default: return "transport"
            }
        }

        /// The card stopped answering mid-read (the transport's `NoAnswer`).
        let stoppedAnswering: Bool
    }

    /// The reader's name as pcscd gives it.
    public let reader: String
    /// The ATR pcscd reported.
    public let atr: [UInt8]
    /// The identity read, or the reason there is none.
    public let result: Result<CardIdentity, Failure>
    /// Every exchange, when tracing was asked for; empty otherwise.
    public let exchanges: [APDUExchange]
    /// When the monitor handed the present card over (the card "seen present").
    public let seenAt: ContinuousClock.Instant
    /// When the identity was decoded (or the read failed).
    public let finishedAt: ContinuousClock.Instant
    /// Wall-clock time of the tap.
    public let time: Date

    /// The identity, when the read succeeded.
    public var identity: CardIdentity? { try? result.get() }

    /// Time from the card seen present to the identity decoded.
    public var readDuration: Duration { finishedAt - seenAt }

    /// Reads the card that has just arrived. Runs on the monitor's thread, so the read
    /// completes before the monitor waits for the next event.
    /// - Parameters:
    ///   - card: the present card, valid only during this call.
    ///   - trace: record every APDU exchange with its timing and meaning.
    ///   - directory: whether to read the ITSO Directory too (default: not).
    /// - Returns: the reading; never throws, a failed read is a `Failure`.
    public static func read(
        _ card: PresentCard, trace: Bool = false, directory: CardReader.DirectoryPolicy = .skip
    ) -> TapReading {
        let seenAt = ContinuousClock.now
        let time = Date()
        var exchanges: [APDUExchange] = []
        let result: Result<CardIdentity, Failure>
        do {
            let connection = try card.connect(share: .shared)
            defer { try? connection.disconnect(.leave) }
            if trace {
                var transport = TracingTransport(PCSCTransport(connection))
                do {
                    let identity = try CardReader.read(atr: card.atr, transport: &transport, directory: directory)
                    result = .success(identity)
                } catch {
                    result = .failure(failure(from: error))
                }
                exchanges = transport.exchanges
            } else {
                var transport = PCSCTransport(connection)
                do {
                    result = .success(try CardReader.read(atr: card.atr, transport: &transport, directory: directory))
                } catch {
                    result = .failure(failure(from: error))
                }
            }
        } catch {
            result = .failure(Failure(
                message: "could not connect to the card: \(error)", pcscError: error, apdus: 0, atConnect: true))
        }
        return TapReading(
            reader: card.reader, atr: card.atr, result: result, exchanges: exchanges,
            seenAt: seenAt, finishedAt: .now, time: time
        )
    }

    private static func failure(from error: CardReadError) -> Failure {
        switch error {
        case .transport(let underlying, let apdus):
            let pcsc = underlying as? PCSCError
            let what: String
            switch pcsc {
            case .removedCard?: what = "card removed during the read"
            case nil where underlying is PCSCTransport.NoAnswer: what = "card stopped answering during the read"
            case .resetCard?: what = "card reset during the read"
            default: what = "card read failed"
            }
            return Failure(
                message: "\(what) after \(apdus) APDU\(apdus == 1 ? "" : "s"): \(underlying); tap again",
                pcscError: pcsc, apdus: apdus, atConnect: false,
                stoppedAnswering: pcsc == nil && underlying is PCSCTransport.NoAnswer
            )
        }
    }

    /// - Parameters: every field, see the properties.
    public init(
        reader: String, atr: [UInt8], result: Result<CardIdentity, Failure>, exchanges: [APDUExchange],
        seenAt: ContinuousClock.Instant, finishedAt: ContinuousClock.Instant, time: Date
    ) {
        self.reader = reader
        self.atr = atr
        self.result = result
        self.exchanges = exchanges
        self.seenAt = seenAt
        self.finishedAt = finishedAt
        self.time = time
    }
}

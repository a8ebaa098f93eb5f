import Logging
import NECCardReading
import PCSC
import Synchronization

/// Shows decisions on the readers (``ReaderFeedback``), on a thread of its own: no tap's
/// read, decision or event ever waits for it.
///
/// It is asked for once the decision's event has been written to every live watcher's
/// connection (``SocketServer/publish(_:for:then:)``), so a till always has the event
/// before the pupil sees the light.
///
/// Bounds, so a slow or failing reader costs the next tap little: at most one feedback in
/// flight per reader (a tap whose reader is still busy with the last one's gets none); a
/// feedback that could not start within ``staleAfter`` of its decision (a watcher slow to
/// take the event, a reader slow to answer) is dropped; each one is at most two APDUs and
/// 0.4 s of light and buzzer. Whatever happens is logged at debug and goes no further.
final class FeedbackSender: Sendable {
    /// How long a queued feedback stays worth showing.
    static let staleAfter: Duration = .seconds(1)

    private let thread: BlockingWorkers
    private let busy = Mutex<Set<String>>([])
    private let connection = ContextHolder()
    private let logger: Logger

    /// The PC/SC context of the feedback thread, established at the first feedback and
    /// again after pcscd went away. Used only on that thread.
    private final class ContextHolder: @unchecked Sendable {
        var context: PCSCContext?
    }

    init(logger: Logger) {
        self.logger = logger
        thread = BlockingWorkers(name: "necd-feedback", threads: 1)
    }

    /// Queues `signal` for `reader`: call it once the decision's event is out. Returns at once.
    /// - Parameters:
    ///   - signal: the decision.
    ///   - reader: the pcscd reader name.
    ///   - decidedAt: when the decision was made, for ``staleAfter``.
    func show(_ signal: ReaderFeedback.Signal, on reader: String, decidedAt: ContinuousClock.Instant) {
        guard busy.withLock({ $0.insert(reader).inserted }) else {
            logger.debug("\(reader): no feedback for this tap: the reader is still busy with the last one's")
            return
        }
        let commands = ReaderFeedback.commands(for: signal, reader: reader)
        thread.submit { [self] in
            defer { _ = busy.withLock { $0.remove(reader) } }
            guard ContinuousClock.now - decidedAt < Self.staleAfter else {
                logger.debug("\(reader): feedback dropped: it waited too long to be sent")
                return
            }
            let outcome = send(commands, to: reader)
            logger.debug("\(reader): feedback \(signal.rawValue): \(outcome)")
        }
    }

    /// Ends the thread once what is queued has been sent.
    func stop() {
        thread.submit { [connection] in
            try? connection.context?.release()
            connection.context = nil
        }
        thread.stop()
    }

    private func send(_ commands: [[UInt8]], to reader: String) -> ReaderFeedback.Outcome {
        let context: PCSCContext
        if let established = connection.context {
            context = established
        } else {
            do {
                context = try PCSCContext.establish()
            } catch {
                return .failed(apdus: 0, error: error)
            }
            connection.context = context
        }
        let outcome = ReaderFeedback.send(commands, to: reader, context: context)
        if case .failed(_, let error) = outcome, error.meansServiceLost {
            try? context.release()
            connection.context = nil
        }
        return outcome
    }
}

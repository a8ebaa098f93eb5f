@testable import NECDaemon
import PCSC
import Synchronization
import NECCardReading

/// Reader events a test makes up, fed to a ``TapPipeline`` in place of pcscd's monitor.
///
/// ``send(_:)`` returns once the pipeline has handled the event: the pipeline handles one
/// event before it asks for the next, so its asking again is the signal, and a test needs
/// no sleep to know an event that publishes nothing (a card lifted) has taken effect.
final class ScriptedReaderEvents: ReaderEventSource {
    typealias Element = PCSC.ReaderEvent<TapReading?>
    typealias Failure = Never

    struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate var base: AsyncStream<Element>.Iterator
        fileprivate let source: ScriptedReaderEvents
        fileprivate var asked = false

        mutating func next() async -> Element? {
            // Asking again means the event before was handled.
            if asked { source.handledOne() }
            asked = true
            return await base.next()
        }
    }

    private struct Progress {
        var sent = 0
        var handled = 0
        var waiting: [(count: Int, resume: CheckedContinuation<Void, Never>)] = []
    }

    private let stream: AsyncStream<Element>
    private let continuation: AsyncStream<Element>.Continuation
    private let progress = Mutex(Progress())

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: .unbounded)
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), source: self)
    }

    /// Hands `event` to the pipeline and waits until it has been handled.
    func send(_ event: Element) async {
        let count = progress.withLock { state in
            state.sent += 1
            return state.sent
        }
        continuation.yield(event)
        await withCheckedContinuation { (resume: CheckedContinuation<Void, Never>) in
            let done = progress.withLock { state in
                if state.handled >= count { return true }
                state.waiting.append((count, resume))
                return false
            }
            if done { resume.resume() }
        }
    }

    /// Ends the events, as the daemon's shutdown stops the monitor.
    func stop() { continuation.finish() }

    private func handledOne() {
        let ready = progress.withLock { state in
            state.handled += 1
            let handled = state.handled
            let ready = state.waiting.filter { $0.count <= handled }.map(\.resume)
            state.waiting.removeAll { $0.count <= handled }
            return ready
        }
        for resume in ready { resume.resume() }
    }
}

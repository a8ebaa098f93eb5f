import Synchronization

/// How many requests the server holds right now, across every connection.
final class SocketRequestCounts: Sendable {
    private struct Counts {
        var waiting = 0
        var answering = 0
    }

    private let counts = Mutex(Counts())

    /// Requests read from clients and not yet started.
    var waiting: Int { counts.withLock { $0.waiting } }
    /// Requests being answered now.
    var answering: Int { counts.withLock { $0.answering } }

    func read() { counts.withLock { $0.waiting += 1 } }
    func started() { counts.withLock { $0.waiting -= 1; $0.answering += 1 } }
    func answered() { counts.withLock { $0.answering -= 1 } }
    func discarded(_ count: Int) { counts.withLock { $0.waiting -= count } }
}

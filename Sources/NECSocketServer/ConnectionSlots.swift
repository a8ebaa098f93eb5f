import Synchronization

/// Counts open connections against `max_clients`.
final class ConnectionSlots: Sendable {
    enum Taken {
        /// A slot: the connection is served. The number of connections refused since the last one served.
        case taken(refusedMeanwhile: Int)
        /// None left; `first` on the first refusal since one was served.
        case full(first: Bool)
    }

    private struct State {
        var open = 0
        var refused = 0
    }

    private let state = Mutex(State())

    /// Open connections (served or about to be).
    var count: Int { state.withLock { $0.open } }

    func take(limit: Int) -> Taken {
        state.withLock { state in
            guard state.open < limit else {
                state.refused += 1
                return .full(first: state.refused == 1)
            }
            state.open += 1
            let refused = state.refused
            state.refused = 0
            return .taken(refusedMeanwhile: refused)
        }
    }

    func release() { state.withLock { $0.open -= 1 } }
}

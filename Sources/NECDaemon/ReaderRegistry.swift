public import ProtocolMapping
import Synchronization

/// What the daemon knows about pcscd and its readers right now, for the `readers` and
/// `status` requests. Written by the tap pipeline, read by socket requests.
public final class ReaderRegistry: Sendable {
    /// One reader as last seen.
    public struct Entry: Sendable, Equatable {
        /// What it holds.
        public var state: ReaderPresence
        /// The ATR of the card on it, when one is present.
        public var atr: [UInt8]?
    }

    private struct State {
        var readers: [String: Entry] = [:]
        var pcscdConnected = false
    }

    private let state = Mutex(State())

    /// An empty registry: no pcscd yet, no readers.
    public init() {}

    /// Records a reader's state.
    public func set(_ name: String, state newState: ReaderPresence, atr: [UInt8]? = nil) {
        state.withLock { $0.readers[name] = Entry(state: newState, atr: atr) }
    }

    /// Marks a known reader empty (its card left); an unknown reader stays unknown.
    public func markEmpty(_ name: String) {
        state.withLock { s in
            if s.readers[name] != nil { s.readers[name] = Entry(state: .empty, atr: nil) }
        }
    }

    /// Forgets a reader that pcscd no longer lists.
    public func remove(_ name: String) {
        _ = state.withLock { $0.readers.removeValue(forKey: name) }
    }

    /// Marks pcscd reachable or not. Losing it makes every reader unavailable; returns
    /// the names of the readers that changed, for READER events.
    @discardableResult
    public func setPCSCDConnected(_ connected: Bool) -> [String] {
        state.withLock { s in
            s.pcscdConnected = connected
            guard !connected else { return [] }
            var changed: [String] = []
            for (name, entry) in s.readers where entry.state != .unavailable {
                s.readers[name] = Entry(state: .unavailable, atr: nil)
                changed.append(name)
            }
            return changed.sorted()
        }
    }

    /// True while pcscd answers.
    public var pcscdConnected: Bool { state.withLock { $0.pcscdConnected } }

    /// Every reader, sorted by name.
    public var readers: [(name: String, entry: Entry)] {
        state.withLock { s in s.readers.sorted { $0.key < $1.key }.map { (name: $0.key, entry: $0.value) } }
    }
}

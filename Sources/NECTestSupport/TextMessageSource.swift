import Foundation

/// A test client that reads one protocol message at a time (a line on the socket, a text
/// message on a WebSocket), and so can read them as JSON objects.
public protocol TextMessageSource {
    /// The next message, or nil when none arrives within `timeout` or the peer closed.
    func nextText(timeout: Duration) -> String?
}

extension TextMessageSource {
    /// The next message decoded as a JSON object.
    public func readObject(timeout: Duration = .seconds(5)) -> [String: Any]? {
        guard let text = nextText(timeout: timeout) else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    /// Reads objects until one satisfies `match` (returned) or the timeout passes.
    public func readObject(matching match: ([String: Any]) -> Bool, timeout: Duration = .seconds(5)) -> [String: Any]? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let object = readObject(timeout: deadline - ContinuousClock.now) else { return nil }
            if match(object) { return object }
        }
        return nil
    }
}

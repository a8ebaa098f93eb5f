/// One event as the journal stored it: its exact JSON line and its `seq`.
///
/// The journal produces the line once; replay and live delivery send the same bytes.
public struct EventLine: Sendable, Hashable {
    /// The journal sequence number; `nil` for live-only events (class `READER`).
    public var seq: Int64?
    /// The JSON object, on one line, without the trailing `\n`.
    public var json: String

    /// Creates an event line.
    /// - Parameters:
    ///   - seq: the journal sequence number, or `nil` for a live-only event.
    ///   - json: the JSON object without a trailing newline.
    public init(seq: Int64?, json: String) {
        self.seq = seq
        self.json = json
    }
}

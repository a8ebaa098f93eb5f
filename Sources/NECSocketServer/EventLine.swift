/// One event as the journal stored it: its encoded line and its `seq`.
///
/// The line is encoded once, with its `\n`; replay and live delivery send these bytes as they are.
public struct EventLine: Sendable, Hashable {
    /// The journal sequence number; `nil` for live-only events (class `READER`).
    public var seq: Int64?
    /// The JSON object on one line, with the trailing `\n`.
    public var line: [UInt8]

    /// Creates an event line.
    /// - Parameters:
    ///   - seq: the journal sequence number, or `nil` for a live-only event.
    ///   - line: the encoded line, ending in `\n` (as ``MessageCoding/line(_:)`` gives it).
    public init(seq: Int64?, line: [UInt8]) {
        self.seq = seq
        self.line = line
    }

    /// Creates an event line from a JSON object written out by hand (tests).
    /// - Parameters:
    ///   - seq: the journal sequence number, or `nil` for a live-only event.
    ///   - json: the JSON object without a trailing newline.
    public init(seq: Int64?, json: String) {
        self.init(seq: seq, line: Array(json.utf8) + [UInt8(ascii: "\n")])
    }

    /// The JSON object, without the trailing `\n`.
    public var json: String { String(decoding: line.dropLast(), as: UTF8.self) }
}

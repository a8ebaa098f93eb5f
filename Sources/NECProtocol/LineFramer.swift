/// Splits a byte stream into protocol lines, however the bytes arrive.
///
/// Reads from a socket end anywhere: in the middle of a line, or after several lines.
/// The framer keeps the unfinished tail until its `\n` arrives, and refuses to keep
/// more than ``ProtocolLimits/maxLineBytes`` of one line, so a peer that never sends
/// a newline cannot make it grow without bound.
public struct LineFramer: Sendable {
    /// A line longer than the limit arrived; the connection must be closed.
    public struct LineTooLong: Error, Equatable, Sendable {
        /// The limit that was passed, in bytes.
        public var limit: Int

        /// Creates the error.
        /// - Parameter limit: the limit that was passed.
        public init(limit: Int) { self.limit = limit }
    }

    /// The longest line accepted, in bytes, without its `\n`.
    public let maxLineBytes: Int
    private var pending: [UInt8] = []

    /// Creates a framer.
    /// - Parameter maxLineBytes: the longest line accepted; defaults to the protocol's limit.
    public init(maxLineBytes: Int = ProtocolLimits.maxLineBytes) {
        self.maxLineBytes = maxLineBytes
    }

    /// The number of bytes held for an unfinished line.
    public var bufferedByteCount: Int { pending.count }

    /// Adds bytes read from the peer and returns every line they complete, in order.
    ///
    /// Lines are returned without their `\n` (and without a `\r` before it, so a
    /// person typing into `socat` is understood). Empty lines are skipped.
    /// - Parameter bytes: the bytes just read.
    /// - Throws: ``LineTooLong`` when a line passes the limit; the framer is then unusable.
    public mutating func append<Bytes: Sequence<UInt8>>(_ bytes: Bytes) throws(LineTooLong) -> [[UInt8]] {
        let input = Array(bytes)
        var lines: [[UInt8]] = []
        var start = input.startIndex
        // Whole slices at a time: the standard library's search is fast even in debug builds.
        while let newline = input[start...].firstIndex(of: UInt8(ascii: "\n")) {
            pending.append(contentsOf: input[start..<newline])
            if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
            if pending.count > maxLineBytes { throw LineTooLong(limit: maxLineBytes) }
            if !pending.isEmpty { lines.append(pending) }
            pending.removeAll(keepingCapacity: true)
            start = newline + 1
        }
        pending.append(contentsOf: input[start...])
        // One byte of slack: the `\r` of a `\r\n` whose `\n` has not arrived yet.
        if pending.count > maxLineBytes && (pending.count - maxLineBytes > 1 || pending.last != UInt8(ascii: "\r")) {
            throw LineTooLong(limit: maxLineBytes)
        }
        return lines
    }
}

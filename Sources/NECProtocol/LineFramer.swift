/// Splits a byte stream into protocol lines, however the bytes arrive: the one framing
/// rule of the protocol, for the daemon's socket server and for its clients alike.
///
/// Reads from a socket end anywhere: in the middle of a line, or after several lines.
/// The framer keeps the unfinished tail until its `\n` arrives, and refuses to keep
/// more than ``ProtocolLimits/maxLineBytes`` of one line, so a peer that never sends
/// a newline cannot make it grow without bound.
///
/// The rule: a line holds at most `maxLineBytes` bytes, not counting its `\n` (nor a `\r`
/// before it, so a person typing into `socat` is understood). A line past the limit is
/// refused as soon as that is certain, without waiting for its `\n`: one byte of slack
/// is left for the `\r` of a `\r\n` whose `\n` has not arrived yet. Empty lines are
/// skipped. At end of input, what is left without a `\n` may be taken as a last line
/// under the same limit (``finish()``).
///
/// Two ways to use it: ``append(_:)`` returns every line a read completes; or
/// ``push(_:)`` keeps bytes and ``nextLine()`` takes one line at a time, only when the
/// reader wants another, so bytes a peer pipelines past what the reader will take stay
/// unparsed.
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
    /// Bytes kept; those before `start` are already taken.
    private var buffer: [UInt8] = []
    /// The first byte not yet taken.
    private var start = 0
    /// Bytes from `start` on already searched for `\n`, so a long line arriving in small
    /// reads is scanned once.
    private var scanned = 0

    /// Creates a framer.
    /// - Parameter maxLineBytes: the longest line accepted; defaults to the protocol's limit.
    public init(maxLineBytes: Int = ProtocolLimits.maxLineBytes) {
        self.maxLineBytes = maxLineBytes
    }

    /// The number of bytes held and not yet taken as lines.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Adds bytes read from the peer and returns every line they complete, in order.
    ///
    /// Lines are returned without their `\n` (and without a `\r` before it). Empty lines are skipped.
    /// - Parameter bytes: the bytes just read.
    /// - Throws: ``LineTooLong`` when a line passes the limit; the framer is then unusable.
    public mutating func append<Bytes: Sequence<UInt8>>(_ bytes: Bytes) throws(LineTooLong) -> [[UInt8]] {
        push(bytes)
        var lines: [[UInt8]] = []
        while let line = try nextLine() { lines.append(line) }
        return lines
    }

    /// Keeps bytes read from the peer without cutting them into lines yet; take the lines
    /// with ``nextLine()``.
    /// - Parameter bytes: the bytes just read.
    public mutating func push<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        // Drop what was taken before growing; what is left is at most a line and a read.
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
        } else if start > 0 {
            buffer.removeSubrange(..<start)
        }
        start = 0
        // Whole runs at a time where the bytes are contiguous (a socket read is).
        let copied: Void? = bytes.withContiguousStorageIfAvailable { buffer.append(contentsOf: $0) }
        if copied == nil { buffer.append(contentsOf: bytes) }
    }

    /// The next non-empty line, without its `\n` and a `\r` before it; nil when no whole
    /// line is held.
    /// - Throws: ``LineTooLong`` for a line past the limit, finished or not; the framer is then unusable.
    public mutating func nextLine() throws(LineTooLong) -> [UInt8]? {
        while true {
            // The standard library's search over a slice is fast even in debug builds.
            guard let newline = buffer[(start + scanned)...].firstIndex(of: UInt8(ascii: "\n")) else {
                scanned = buffer.count - start
                try checkUnfinished()
                return nil
            }
            var end = newline
            if end > start && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            if end - start > maxLineBytes { throw LineTooLong(limit: maxLineBytes) }
            let line = Array(buffer[start..<end])
            start = newline + 1
            scanned = 0
            if !line.isEmpty { return line }
        }
    }

    /// At end of input, after ``nextLine()`` returned nil: the bytes left without a `\n`
    /// as a last line (without a `\r` at its end), or nil when none are left.
    /// - Throws: ``LineTooLong`` when they pass the limit.
    public mutating func finish() throws(LineTooLong) -> [UInt8]? {
        var end = buffer.count
        if end > start && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        if end - start > maxLineBytes { throw LineTooLong(limit: maxLineBytes) }
        let line = end > start ? Array(buffer[start..<end]) : nil
        buffer.removeAll(keepingCapacity: true)
        start = 0
        scanned = 0
        return line
    }

    /// An unfinished line may hold the limit and one byte of slack for the `\r` of a `\r\n`
    /// cut short; anything longer can only end past the limit.
    private func checkUnfinished() throws(LineTooLong) {
        let held = buffer.count - start
        // Written so that a limit of `Int.max` (a test client's "no limit") cannot overflow.
        if held > maxLineBytes && (held - maxLineBytes > 1 || buffer.last != UInt8(ascii: "\r")) {
            throw LineTooLong(limit: maxLineBytes)
        }
    }
}

import NECProtocol
import NIOCore

/// A client sent a line longer than the protocol allows; its connection is closed.
struct SocketLineTooLong: Error, Hashable {
    /// The limit in bytes.
    var limit: Int
}

/// Cuts a client's byte stream into request lines, one at a time and only when asked,
/// so bytes a client pipelines past what the server will take stay unparsed.
///
/// The limit: a line holds at most `maxLineBytes` bytes, not counting its `\n` (nor a
/// `\r` before it). A line that passes it is refused as soon as it is certain, without
/// waiting for its `\n`, so a client that never sends one costs at most one line of
/// memory. At end of input, what is left without a `\n` is a last line under the same
/// limit.
struct SocketLineFramer {
    let maxLineBytes: Int
    private var buffer = ByteBuffer()
    /// Bytes after the reader index already searched for `\n`, so a long line arriving in
    /// small reads is scanned once.
    private var scanned = 0

    init(maxLineBytes: Int = ProtocolLimits.maxLineBytes) {
        self.maxLineBytes = maxLineBytes
    }

    /// Keeps bytes read from the client.
    mutating func append(_ bytes: ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = bytes
            scanned = 0
        } else {
            // Drop what was consumed before growing; what is left is at most a line and a read.
            if buffer.readerIndex > 0 { buffer.discardReadBytes() }
            var bytes = bytes
            buffer.writeBuffer(&bytes)
        }
    }

    /// The next non-empty line, without its `\n` and a `\r` before it; nil when no whole
    /// line is held.
    /// - Throws: ``SocketLineTooLong`` for a line past the limit, finished or not.
    mutating func nextLine() throws(SocketLineTooLong) -> ByteBuffer? {
        while true {
            let view = buffer.readableBytesView
            guard let newline = view[(view.startIndex + scanned)...].firstIndex(of: UInt8(ascii: "\n")) else {
                scanned = view.count
                // One byte of slack: the `\r` of a `\r\n` whose `\n` has not arrived yet.
                if view.count > maxLineBytes + 1 || (view.count == maxLineBytes + 1 && view.last != UInt8(ascii: "\r")) {
                    throw SocketLineTooLong(limit: maxLineBytes)
                }
                if buffer.readableBytes == 0 { buffer.clear() }
                return nil
            }
            scanned = 0
            var length = newline - view.startIndex
            if length > 0 && view[newline - 1] == UInt8(ascii: "\r") { length -= 1 }
            if length > maxLineBytes { throw SocketLineTooLong(limit: maxLineBytes) }
            let line = buffer.getSlice(at: buffer.readerIndex, length: length)
            buffer.moveReaderIndex(forwardBy: newline - view.startIndex + 1)
            if let line, line.readableBytes > 0 { return line }
        }
    }

    /// At end of input, after ``nextLine()`` returned nil: the bytes left without a `\n`
    /// as a last line, or nil when none are left.
    /// - Throws: ``SocketLineTooLong`` when they pass the limit.
    mutating func finish() throws(SocketLineTooLong) -> ByteBuffer? {
        var length = buffer.readableBytes
        if length > 0 && buffer.getInteger(at: buffer.readerIndex + length - 1, as: UInt8.self) == UInt8(ascii: "\r") {
            length -= 1
        }
        if length > maxLineBytes { throw SocketLineTooLong(limit: maxLineBytes) }
        let line = length > 0 ? buffer.getSlice(at: buffer.readerIndex, length: length) : nil
        buffer.clear()
        scanned = 0
        return line
    }
}

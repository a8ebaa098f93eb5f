import NECProtocol
import NIOCore

/// A client sent a line longer than the protocol allows; its connection is closed.
struct SocketLineTooLong: Error, Hashable {
    /// The limit in bytes.
    var limit: Int
}

/// Cuts a client's byte stream into request lines, enforcing the line limit before
/// buffering more, so a client that never sends `\n` costs at most one line of memory.
struct SocketLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    let maxLineBytes: Int
    /// Bytes already searched for `\n`, so a long line arriving in small reads is scanned once.
    private var scanned = 0

    init(maxLineBytes: Int = ProtocolLimits.maxLineBytes) {
        self.maxLineBytes = maxLineBytes
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        guard let newline = view[(view.startIndex + scanned)...].firstIndex(of: UInt8(ascii: "\n")) else {
            scanned = view.count
            // One byte of slack for the `\r` of a `\r\n` that has not arrived yet.
            if view.count > maxLineBytes + 1 { throw SocketLineTooLong(limit: maxLineBytes) }
            return .needMoreData
        }
        scanned = 0
        var length = newline - view.startIndex
        if length > 0 && view[newline - 1] == UInt8(ascii: "\r") { length -= 1 }
        if length > maxLineBytes { throw SocketLineTooLong(limit: maxLineBytes) }
        let line = buffer.getSlice(at: buffer.readerIndex, length: length)!
        buffer.moveReaderIndex(to: buffer.readerIndex + (newline - view.startIndex) + 1)
        if line.readableBytes > 0 {
            context.fireChannelRead(Self.wrapInboundOut(line))
        }
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // A last request without its `\n` before end of input is still answered.
        if seenEOF && buffer.readableBytes > 0 {
            let line = buffer.readSlice(length: buffer.readableBytes)!
            scanned = 0
            context.fireChannelRead(Self.wrapInboundOut(line))
        }
        return .needMoreData
    }
}

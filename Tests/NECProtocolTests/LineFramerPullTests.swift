import NECProtocol
import Testing

/// The socket server reads with the same framer one line at a time (push, nextLine,
/// finish): the rule must be the one `append` keeps.
@Suite("Line framing one line at a time: what the socket server reads with")
struct LineFramerPullTests {
    @Test func linesComeOutOneAtATimeAndTheRestWaitsUnparsed() throws {
        var framer = LineFramer()
        framer.push(Array("a\r\n\nbb\ncc".utf8))
        #expect(try framer.nextLine() == [0x61])
        #expect(framer.bufferedByteCount == 6)
        #expect(try framer.nextLine() == [0x62, 0x62])
        #expect(try framer.nextLine() == nil)
        #expect(framer.bufferedByteCount == 2)
        framer.push([0x0A])
        #expect(try framer.nextLine() == [0x63, 0x63])
        #expect(framer.bufferedByteCount == 0)
    }

    @Test func atEndOfInputTheUnfinishedLineIsTheLast() throws {
        var framer = LineFramer(maxLineBytes: 4)
        framer.push(Array("abcd\r".utf8))
        #expect(try framer.nextLine() == nil)
        #expect(try framer.finish() == Array("abcd".utf8))
        #expect(try framer.finish() == nil)

        var over = LineFramer(maxLineBytes: 4)
        #expect(throws: LineFramer.LineTooLong(limit: 4)) {
            over.push(Array("abcde".utf8))
            _ = try over.nextLine()
        }
        var lastOver = LineFramer(maxLineBytes: 4)
        lastOver.push(Array("abcd".utf8))
        #expect(try lastOver.nextLine() == nil)
        lastOver.push(Array("\r\r".utf8))
        #expect(throws: LineFramer.LineTooLong(limit: 4)) { _ = try lastOver.nextLine() }
    }

    /// A line before one over the limit is still handed out first.
    @Test func aGoodLineBeforeALongOneIsTakenFirst() throws {
        var framer = LineFramer(maxLineBytes: 4)
        framer.push(Array("ok\nabcdef".utf8))
        #expect(try framer.nextLine() == Array("ok".utf8))
        #expect(throws: LineFramer.LineTooLong(limit: 4)) { _ = try framer.nextLine() }
    }

    /// A test client's "no limit" (`Int.max`) holds any line without overflowing.
    @Test func noLimitMeansNoLimit() throws {
        var framer = LineFramer(maxLineBytes: .max)
        let long = [UInt8](repeating: 0x78, count: 100_000)
        framer.push(long)
        #expect(try framer.nextLine() == nil)
        #expect(try framer.append([0x0A]) == [long])
    }
}

import NECProtocol
import Testing

@Suite("Line framing: partial reads, several lines per read, the 16 KiB limit")
struct LineFramerTests {
    @Test func linesSplitAcrossReadsAreJoined() throws {
        var framer = LineFramer()
        #expect(try framer.append(Array(#"{"cmd":"st"#.utf8)) == [])
        #expect(try framer.append(Array("atus\"}\n{\"cmd\"".utf8)) == [Array(#"{"cmd":"status"}"#.utf8)])
        #expect(framer.bufferedByteCount == 6)
    }

    @Test func severalLinesInOneReadComeOutInOrder() throws {
        var framer = LineFramer()
        let lines = try framer.append(Array("a\nb\r\n\nc\nd".utf8))
        #expect(lines == [[0x61], [0x62], [0x63]])
        #expect(try framer.append([0x0A]) == [[0x64]])
    }

    @Test func byteByByteIsTheSameAsAllAtOnce() throws {
        let input = Array("{\"x\":1}\n{\"y\":[2,3]}\r\n\n{\"z\":\"\u{1F600}\"}\n".utf8)
        var whole = LineFramer()
        let expected = try whole.append(input)
        var dribble = LineFramer()
        var got: [[UInt8]] = []
        for byte in input { got += try dribble.append([byte]) }
        #expect(got == expected)
        #expect(got.count == 3)
    }

    @Test func aLineOfExactlyTheLimitPasses() throws {
        var framer = LineFramer()
        let line = [UInt8](repeating: 0x61, count: ProtocolLimits.maxLineBytes)
        #expect(try framer.append(line + [0x0D, 0x0A]) == [line])
        #expect(try framer.append(line + [0x0A]) == [line])
    }

    @Test func oneByteOverTheLimitFailsEvenWithoutANewline() {
        var framer = LineFramer()
        #expect(throws: LineFramer.LineTooLong(limit: 16_384)) {
            _ = try framer.append([UInt8](repeating: 0x61, count: ProtocolLimits.maxLineBytes + 1))
        }
        var small = LineFramer(maxLineBytes: 4)
        #expect(throws: LineFramer.LineTooLong(limit: 4)) { _ = try small.append(Array("abcd\rx".utf8)) }
    }
}

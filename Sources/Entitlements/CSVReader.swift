#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A streaming RFC 4180 reader over a file descriptor: quoted fields with `""`,
/// embedded commas and line breaks, LF or CRLF line ends, a UTF-8 byte-order mark.
/// Holds one read buffer and one record, never the file.
///
/// Leniencies, chosen because council exports do these: a `"` inside an unquoted field
/// is kept literally; the last record may lack a line end; blank lines are skipped.
/// Errors a record can carry: text after a closing quote, a quote left open at the end
/// of the file (a truncated file).
struct CSVReader {
    /// Syntax problems in one record.
    enum SyntaxError: Equatable {
        case textAfterClosingQuote
        case unterminatedQuote
        /// Field `field` (1-based) is longer than `maxField` bytes.
        case fieldTooLong(field: Int)
        /// The record is longer than `maxRecord` bytes.
        case recordTooLong

        var description: String {
            switch self {
            case .textAfterClosingQuote: "text after a closing quote (quote the whole field, double any quote inside)"
            case .unterminatedQuote: "quoted field never closed before the end of the file (file truncated?)"
            case .fieldTooLong(let n):
                "field \(n) is longer than \(CSVReader.maxField) bytes, more than any list column holds (binary data, or a quote left open?)"
            case .recordTooLong:
                "record longer than \(CSVReader.maxRecord) bytes, more than any list row holds (not a CSV list, or a quote left open?)"
            }
        }
    }

    /// The longest field kept, in bytes: a 500-character message is at most 2,000. Bytes
    /// past it are not kept (the record is an error), so one field never costs more.
    static let maxField = 4096
    /// The longest record, in bytes, line end included. Past it the rest of the record is
    /// read to find its end but not kept: memory stays bounded whatever the file holds.
    static let maxRecord = 65536

    private let fd: Int32
    /// The file read, for another reader of the same file (`reread` does not move its offset).
    var fileDescriptor: Int32 { fd }
    private var buffer: [UInt8]
    /// Set while re-reading one record with `read(at:length:)`: the end of the record
    /// is the end of the input.
    private var bounded = false
    private var bufferStart = 0
    private var bufferEnd = 0
    private var atEOF = false
    private var atFileStart = true
    /// Bytes consumed from the file so far, for progress and hashing.
    private(set) var bytesRead: Int64 = 0
    /// Called with every chunk read, in order (the importer hashes the file through it).
    var onChunk: ((UnsafeRawBufferPointer) -> Void)?

    /// The current record's field bytes, back to back.
    private(set) var fieldBytes: [UInt8] = []
    /// End offset in `fieldBytes` of each field.
    private(set) var fieldEnds: [Int] = []
    /// 1-based physical line on which the current record starts.
    private(set) var recordLine = 0
    /// The syntax problem of the current record, if any.
    private(set) var syntaxError: SyntaxError?
    /// Lines counted so far (the next record starts on `line + 1`... or later).
    private var line = 1

    /// - Parameters:
    ///   - fd: an open file descriptor, read until EOF; the caller closes it.
    ///   - chunkSize: bytes per `read(2)`.
    init(fd: Int32, chunkSize: Int = 256 * 1024) {
        self.fd = fd
        self.buffer = [UInt8](repeating: 0, count: chunkSize)
    }

    /// Failure to read the file.
    struct ReadFailure: Error {
        let errno: Int32
    }

    private mutating func fill() throws(ReadFailure) {
        guard !atEOF else { return }
        if bounded {
            atEOF = true
            bufferStart = 0
            bufferEnd = 0
            return
        }
        let capacity = buffer.count
        let n = buffer.withUnsafeMutableBytes { raw -> Int in
            while true {
                let r = read(fd, raw.baseAddress!, capacity)
                if r < 0 && errno == EINTR { continue }
                return r
            }
        }
        if n < 0 { throw ReadFailure(errno: errno) }
        bufferStart = 0
        bufferEnd = n
        if n == 0 {
            atEOF = true
            return
        }
        bytesRead += Int64(n)
        if let onChunk {
            buffer.withUnsafeBytes { onChunk(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    private mutating func nextByte() throws(ReadFailure) -> UInt8? {
        if bufferStart == bufferEnd {
            try fill()
            if bufferEnd == 0 || bufferStart == bufferEnd { return nil }
        }
        let b = buffer[bufferStart]
        bufferStart += 1
        return b
    }

    private mutating func peekByte() throws(ReadFailure) -> UInt8? {
        if bufferStart == bufferEnd {
            try fill()
            if bufferEnd == 0 || bufferStart == bufferEnd { return nil }
        }
        return buffer[bufferStart]
    }

    /// The file offset of the next unread byte.
    var offset: Int64 { bytesRead - Int64(bufferEnd - bufferStart) }
    /// File offset of the current record's first byte, and its length (line end included).
    private(set) var recordOffset: Int64 = 0
    private(set) var recordLength = 0

    /// Reads again the one record at `offset` (as `recordOffset` and `recordLength` gave it
    /// on the first pass) and parses it. Returns false when it cannot be read whole.
    mutating func reread(at offset: Int64, length: Int) throws(ReadFailure) -> Bool {
        if buffer.count < length { buffer = [UInt8](repeating: 0, count: length) }
        let n = buffer.withUnsafeMutableBytes { raw -> Int in
            while true {
                let r = pread(fd, raw.baseAddress!, length, off_t(offset))
                if r < 0 && errno == EINTR { continue }
                return r
            }
        }
        if n < 0 { throw ReadFailure(errno: errno) }
        guard n == length else { return false }
        bounded = true
        // So that `offset`, and with it `recordOffset`, are the file's offsets.
        bytesRead = offset + Int64(n)
        atEOF = false
        atFileStart = false
        bufferStart = 0
        bufferEnd = n
        return try next()
    }

    /// Number of fields in the current record.
    var fieldCount: Int { fieldEnds.count }

    /// A keyed fingerprint of the current record as parsed (its place, length and every
    /// field): the same whichever pass read it, unless the file changed in between.
    func fingerprint(k0: UInt64, k1: UInt64) -> UInt64 {
        var h = SipHash24(k0: k0, k1: k1)
        h.update(UInt64(bitPattern: recordOffset))
        h.update(UInt64(recordLength))
        h.update(UInt64(fieldEnds.count))
        for end in fieldEnds { h.update(UInt64(end)) }
        fieldBytes.withUnsafeBufferPointer { h.update($0) }
        return h.finalize()
    }

    /// The bytes of field `i` of the current record.
    func withField<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let start = i == 0 ? 0 : fieldEnds[i - 1]
        let end = fieldEnds[i]
        return try fieldBytes.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[start..<end])) }
    }

    /// Field `i` as a String (invalid UTF-8 repaired; validate bytes first where it matters).
    func field(_ i: Int) -> String {
        withField(i) { String(decoding: $0, as: UTF8.self) }
    }

    /// The bytes of field `i` without the spaces around it (see `trimmed`).
    func withTrimmedField<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try withField(i) { try body(CSVReader.trimmed($0)) }
    }

    /// Field `i` without the spaces around it, as a String (invalid UTF-8 repaired).
    func trimmedField(_ i: Int) -> String {
        withTrimmedField(i) { String(decoding: $0, as: UTF8.self) }
    }

    /// UTF-8 of the characters `trimmed` removes: space, tab, and Unicode's other spaces
    /// (no-break, en, em, thin, ideographic...), which a spreadsheet may leave around a value.
    private static let spaces: [[UInt8]] = [
        [0x20], [0x09], [0xC2, 0xA0], [0xE1, 0x9A, 0x80], [0xE2, 0x80, 0xA8], [0xE2, 0x80, 0xA9],
        [0xE2, 0x80, 0xAF], [0xE2, 0x81, 0x9F], [0xE3, 0x80, 0x80],
    ] + (0x80...0x8A).map { [0xE2, 0x80, UInt8($0)] }

    /// `bytes` without the spaces (see `spaces`) before and after it.
    static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var lo = 0
        var hi = bytes.count
        func matches(_ s: [UInt8], at i: Int) -> Bool {
            guard i >= lo, i + s.count <= hi else { return false }
            for j in 0..<s.count where bytes[i + j] != s[j] { return false }
            return true
        }
        // The common case, nothing to trim, costs two byte tests.
        while lo < hi, bytes[lo] == 0x20 || bytes[lo] == 0x09 || bytes[lo] >= 0xC2 {
            guard let s = spaces.first(where: { matches($0, at: lo) }) else { break }
            lo += s.count
        }
        while lo < hi, bytes[hi - 1] == 0x20 || bytes[hi - 1] == 0x09 || bytes[hi - 1] >= 0x80 {
            guard let s = spaces.first(where: { matches($0, at: hi - $0.count) }) else { break }
            hi -= s.count
        }
        return UnsafeBufferPointer(rebasing: bytes[lo..<hi])
    }

    /// Reads the next non-blank record. Returns false at the end of the file.
    mutating func next() throws(ReadFailure) -> Bool {
        fieldBytes.removeAll(keepingCapacity: true)
        fieldEnds.removeAll(keepingCapacity: true)
        syntaxError = nil
        if atFileStart {
            atFileStart = false
            try skipByteOrderMark()
        }
        while true {
            // Skip blank lines between records.
            guard let b = try peekByte() else { return false }
            if b == 0x0A { _ = try nextByte(); line += 1; continue }
            if b == 0x0D {
                _ = try nextByte()
                if try peekByte() == 0x0A { _ = try nextByte(); line += 1 }
                continue
            }
            break
        }
        recordLine = line
        recordOffset = offset
        try readRecord()
        recordLength = Int(offset - recordOffset)
        return true
    }

    private mutating func skipByteOrderMark() throws(ReadFailure) {
        try fill()
        if bufferEnd - bufferStart >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF {
            bufferStart = 3
        }
    }

    /// Parses one record up to and including its line end (or EOF). Fast path: scans
    /// the buffer directly for unquoted fields. Keeps at most `maxField` bytes of a field
    /// and stops keeping anything once the record passes `maxRecord` bytes.
    private mutating func readRecord() throws(ReadFailure) {
        var inQuotes = false
        var fieldStarted = false
        var afterClosingQuote = false
        /// Where the current field starts in `fieldBytes`.
        var fieldStart = 0
        /// Past `maxRecord`: nothing more is kept.
        var overflow = false
        while true {
            if bufferStart == bufferEnd {
                if !overflow && offset - recordOffset > Int64(CSVReader.maxRecord) { overflow = true; tooLong() }
                try fill()
                if bufferStart == bufferEnd {
                    // End of file ends the record.
                    if inQuotes && syntaxError == nil { syntaxError = .unterminatedQuote }
                    if !overflow { fieldEnds.append(fieldBytes.count) }
                    return
                }
            }
            let b = buffer[bufferStart]
            bufferStart += 1
            if inQuotes {
                if b == 0x22 {
                    if try peekByte() == 0x22 {
                        bufferStart += 1
                        keep(0x22, fieldStart: fieldStart, overflow: overflow)
                    } else {
                        inQuotes = false
                        afterClosingQuote = true
                    }
                } else {
                    if b == 0x0A {
                        line += 1
                        if !overflow && offset - recordOffset > Int64(CSVReader.maxRecord) { overflow = true; tooLong() }
                    }
                    keep(b, fieldStart: fieldStart, overflow: overflow)
                }
                continue
            }
            switch b {
            case 0x2C:  // ,
                if !overflow {
                    if offset - recordOffset > Int64(CSVReader.maxRecord) {
                        overflow = true
                        tooLong()
                    } else {
                        fieldEnds.append(fieldBytes.count)
                        fieldStart = fieldBytes.count
                    }
                }
                fieldStarted = false
                afterClosingQuote = false
            case 0x0A:
                line += 1
                if !overflow && offset - recordOffset > Int64(CSVReader.maxRecord) { overflow = true; tooLong() }
                if !overflow { fieldEnds.append(fieldBytes.count) }
                return
            case 0x0D:
                if try peekByte() == 0x0A {
                    bufferStart += 1
                    line += 1
                    if !overflow && offset - recordOffset > Int64(CSVReader.maxRecord) { overflow = true; tooLong() }
                    if !overflow { fieldEnds.append(fieldBytes.count) }
                    return
                }
                keep(b, fieldStart: fieldStart, overflow: overflow)
            case 0x22 where !fieldStarted:
                inQuotes = true
                fieldStarted = true
            default:
                if afterClosingQuote {
                    if syntaxError == nil { syntaxError = .textAfterClosingQuote }
                }
                fieldStarted = true
                keep(b, fieldStart: fieldStart, overflow: overflow)
            }
        }
    }

    /// Appends a byte of the current field, unless the field or the record is too long.
    @inline(__always)
    private mutating func keep(_ b: UInt8, fieldStart: Int, overflow: Bool) {
        if overflow { return }
        if fieldBytes.count - fieldStart < CSVReader.maxField {
            fieldBytes.append(b)
        } else if syntaxError == nil {
            syntaxError = .fieldTooLong(field: fieldEnds.count + 1)
        }
    }

    /// The record passed `maxRecord`: it is an error, and what was kept of it is dropped.
    private mutating func tooLong() {
        syntaxError = .recordTooLong
        fieldBytes.removeAll(keepingCapacity: true)
        fieldEnds.removeAll(keepingCapacity: true)
    }

    /// Bytes this reader holds (its read buffer and the current record), whatever the
    /// file: at most the chunk size, or a re-read record, plus about `maxRecord`.
    var heldBytes: Int { buffer.capacity + fieldBytes.capacity + fieldEnds.capacity * MemoryLayout<Int>.stride }
}

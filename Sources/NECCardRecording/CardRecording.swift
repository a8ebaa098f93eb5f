import Foundation
import NECCard

/// One command sent to a card during a recorded tap, and what came back.
public struct RecordedExchange: Sendable, Equatable {
    /// The command APDU as sent.
    public var command: [UInt8]
    /// The whole answer, status word last; nil when the transport failed instead.
    public var response: [UInt8]?
    /// What the transport reported when it failed (card removed, reader gone); nil with a response.
    public var error: String?
    /// How long the exchange took, in milliseconds.
    public var ms: Double

    /// - Parameters: see the properties.
    public init(command: [UInt8], response: [UInt8]?, error: String? = nil, ms: Double = 0) {
        self.command = command
        self.response = response
        self.error = response == nil ? (error ?? "no answer") : nil
        self.ms = ms
    }
}

/// One tap as `necctl scan --record` writes it: one JSON object on one line of the file.
///
/// ```json
/// {"atr":"3B8180018080","exchanges":[{"command":"FFCA000000","ms":0.412,"response":"041122334455669000"},...],
///  "necd_release":"1.1.0","read_ms":3.1,"reader":"ACS ACR122U 00 00","recording_format":1,
///  "redacted":true,"time":"2026-12-02T06:01:02.345Z"}
/// ```
/// Hex is upper case without spaces. docs/card-recordings.md describes every key.
public struct RecordedTap: Sendable, Equatable {
    /// The version of the format this type writes and reads.
    public static let currentFormat = 1

    /// `recording_format`: which version of the format the line is in.
    public var format: Int
    /// `necd_release`: the release of the necctl that recorded it.
    public var necdRelease: String
    /// `time`: when the card was seen, RFC 3339 UTC.
    public var time: String
    /// `reader`: the reader's name as pcscd gave it.
    public var reader: String
    /// `atr`: the ATR pcscd reported.
    public var atr: [UInt8]
    /// `redacted`: true when the ISRN and UID were replaced by synthetic ones.
    public var redacted: Bool
    /// `read_ms`: from the card seen present to the read finished.
    public var readMs: Double
    /// `exchanges`: every command of the read, in order.
    public var exchanges: [RecordedExchange]

    /// - Parameters: see the properties; `format` is the current one.
    public init(
        necdRelease: String, time: String, reader: String, atr: [UInt8], redacted: Bool = false,
        readMs: Double = 0, exchanges: [RecordedExchange]
    ) {
        self.format = RecordedTap.currentFormat
        self.necdRelease = necdRelease
        self.time = time
        self.reader = reader
        self.atr = atr
        self.redacted = redacted
        self.readMs = readMs
        self.exchanges = exchanges
    }
}

/// Why a recording could not be read. Every case names the line, so a technician can
/// look at it.
public struct CardRecordingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file, as given.
    public let path: String
    /// The line (1-based), or nil for the file as a whole.
    public let line: Int?
    /// What is wrong.
    public let reason: String

    /// - Parameters: see the properties.
    public init(path: String, line: Int?, reason: String) {
        self.path = path
        self.line = line
        self.reason = reason
    }

    public var description: String {
        "\(path)" + (line.map { " line \($0)" } ?? "") + ": \(reason)"
    }
}

/// The recording format's one owner: encodes a tap as a line, decodes lines back, and
/// reads whole files.
public enum CardRecording {
    /// The largest recording file read (a tap is well under 4 KiB).
    public static let maximumFileSize = 16 << 20

    /// The tap as one JSON line, newline included.
    public static func line(_ tap: RecordedTap) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings, numbers and booleans cannot fail; an empty object is
        // never written, so a failure would show as a line no reader accepts.
        let data = (try? encoder.encode(TapCoding(tap))) ?? Data()
        return Array(data) + [0x0A]
    }

    /// Decodes one line.
    /// - Throws: a sentence saying what is wrong (no path or line: the caller adds them).
    public static func tap(fromLine line: some Collection<UInt8>) throws(CardRecordingError) -> RecordedTap {
        let fail = { (reason: String) in CardRecordingError(path: "", line: nil, reason: reason) }
        let object: TapCoding
        do {
            object = try JSONDecoder().decode(TapCoding.self, from: Data(line))
        } catch let error as DecodingError {
            throw fail(Self.explain(error))
        } catch {
            throw fail("not a card recording (\(error.localizedDescription))")
        }
        guard object.recording_format == RecordedTap.currentFormat else {
            throw fail("recording_format \(object.recording_format) is not \(RecordedTap.currentFormat), the only one this necctl reads")
        }
        guard let atr = Hex.bytes(object.atr) else { throw fail("atr is not hex: \(object.atr)") }
        var exchanges: [RecordedExchange] = []
        for (index, x) in object.exchanges.enumerated() {
            let n = index + 1
            guard let command = Hex.bytes(x.command), !command.isEmpty else {
                throw fail("exchange \(n): command is not hex bytes: \(x.command)")
            }
            var response: [UInt8]? = nil
            if let text = x.response {
                guard let bytes = Hex.bytes(text), bytes.count >= 2 else {
                    throw fail("exchange \(n): response is not hex ending in a status word: \(text)")
                }
                response = bytes
            } else if x.error == nil {
                throw fail("exchange \(n): neither a response nor an error")
            }
            guard x.ms.isFinite, x.ms >= 0 else { throw fail("exchange \(n): ms is not a time") }
            exchanges.append(RecordedExchange(command: command, response: response, error: x.error, ms: x.ms))
        }
        var tap = RecordedTap(
            necdRelease: object.necd_release, time: object.time, reader: object.reader, atr: atr,
            redacted: object.redacted, readMs: object.read_ms, exchanges: exchanges)
        tap.format = object.recording_format
        return tap
    }

    /// Reads every tap of a recording file. Blank lines are skipped.
    /// - Throws: `CardRecordingError` for a file that cannot be read, is too large, holds
    ///   no tap, or has a line that is not a tap.
    public static func read(path: String) throws(CardRecordingError) -> [RecordedTap] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CardRecordingError(path: path, line: nil, reason: "cannot open it: \(String(cString: strerror(errno)))")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maximumFileSize + 1) ?? Data()
        } catch {
            throw CardRecordingError(path: path, line: nil, reason: "cannot read it: \(error.localizedDescription)")
        }
        guard data.count <= maximumFileSize else {
            throw CardRecordingError(path: path, line: nil, reason: "larger than \(maximumFileSize >> 20) MiB: not a recording")
        }
        var taps: [RecordedTap] = []
        for (index, line) in Array(data).split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.filter { $0 != 0x0D && $0 != 0x20 && $0 != 0x09 }
            if trimmed.isEmpty { continue }
            do {
                taps.append(try tap(fromLine: line))
            } catch {
                throw CardRecordingError(path: path, line: index + 1, reason: error.reason)
            }
        }
        guard !taps.isEmpty else { throw CardRecordingError(path: path, line: nil, reason: "holds no recorded tap") }
        return taps
    }

    private static func explain(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let context):
            "no \"\(Self.path(context.codingPath + [key]))\": not a card recording"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            "\"\(Self.path(context.codingPath))\" has the wrong type: not a card recording"
        case .dataCorrupted(let context):
            context.codingPath.isEmpty ? "not JSON: not a card recording" : "\"\(Self.path(context.codingPath))\" is unreadable"
        @unknown default:
            "not a card recording"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}

/// The JSON shape of a tap; the key names are the format's.
private struct TapCoding: Codable {
    struct Exchange: Codable {
        var command: String
        var response: String?
        var error: String?
        var ms: Double
    }

    var recording_format: Int
    var necd_release: String
    var time: String
    var reader: String
    var atr: String
    var redacted: Bool
    var read_ms: Double
    var exchanges: [Exchange]

    init(_ tap: RecordedTap) {
        recording_format = tap.format
        necd_release = tap.necdRelease
        time = tap.time
        reader = tap.reader
        atr = Hex.string(tap.atr)
        redacted = tap.redacted
        read_ms = Self.rounded(tap.readMs)
        exchanges = tap.exchanges.map {
            Exchange(command: Hex.string($0.command), response: $0.response.map { Hex.string($0) },
                     error: $0.response == nil ? $0.error : nil, ms: Self.rounded($0.ms))
        }
    }

    /// Milliseconds to the microsecond.
    static func rounded(_ ms: Double) -> Double { ms.isFinite ? (ms * 1000).rounded() / 1000 : 0 }
}

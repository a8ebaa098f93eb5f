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
        let data = (try? encoder.encode(tap)) ?? Data()
        return Array(data) + [0x0A]
    }

    /// Decodes one line.
    /// - Throws: a sentence saying what is wrong (no path or line: the caller adds them).
    public static func tap(fromLine line: some Collection<UInt8>) throws(CardRecordingError) -> RecordedTap {
        do {
            return try JSONDecoder().decode(RecordedTap.self, from: Data(line))
        } catch let error as DecodingError {
            throw CardRecordingError(path: "", line: nil, reason: Self.explain(error))
        } catch {
            throw CardRecordingError(path: "", line: nil, reason: "not a card recording (\(error.localizedDescription))")
        }
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
            // The format's own checks (RecordedTap.init(from:)) say what is wrong in words.
            context.codingPath.isEmpty ? "not JSON: not a card recording" : context.debugDescription
        @unknown default:
            "not a card recording"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.reduce("") { path, key in
            if let index = key.intValue { return path + "[\(index)]" }
            return path.isEmpty ? key.stringValue : path + "." + key.stringValue
        }
    }
}

/// The JSON shape of a tap: the format's key names, hex for bytes, and the checks a
/// line must pass to be a tap.
extension RecordedTap: Codable {
    private enum Key: String, CodingKey {
        case format = "recording_format", necdRelease = "necd_release", time, reader, atr, redacted
        case readMs = "read_ms", exchanges
    }

    private enum ExchangeKey: String, CodingKey { case command, response, error, ms }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(format, forKey: .format)
        try c.encode(necdRelease, forKey: .necdRelease)
        try c.encode(time, forKey: .time)
        try c.encode(reader, forKey: .reader)
        try c.encode(Hex.string(atr), forKey: .atr)
        try c.encode(redacted, forKey: .redacted)
        try c.encode(Self.rounded(readMs), forKey: .readMs)
        var list = c.nestedUnkeyedContainer(forKey: .exchanges)
        for x in exchanges {
            var e = list.nestedContainer(keyedBy: ExchangeKey.self)
            try e.encode(Hex.string(x.command), forKey: .command)
            if let response = x.response {
                try e.encode(Hex.string(response), forKey: .response)
            } else {
                try e.encode(x.error ?? "no answer", forKey: .error)
            }
            try e.encode(Self.rounded(x.ms), forKey: .ms)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let format = try c.decode(Int.self, forKey: .format)
        guard format == RecordedTap.currentFormat else {
            throw DecodingError.dataCorruptedError(forKey: .format, in: c, debugDescription:
                "recording_format \(format) is not \(RecordedTap.currentFormat), the only one this necctl reads")
        }
        let atrText = try c.decode(String.self, forKey: .atr)
        guard let atr = Hex.bytes(atrText) else {
            throw DecodingError.dataCorruptedError(forKey: .atr, in: c, debugDescription: "atr is not hex: \(atrText)")
        }
        var list = try c.nestedUnkeyedContainer(forKey: .exchanges)
        var exchanges: [RecordedExchange] = []
        while !list.isAtEnd {
            let n = exchanges.count + 1
            let e = try list.nestedContainer(keyedBy: ExchangeKey.self)
            let text = try e.decode(String.self, forKey: .command)
            guard let command = Hex.bytes(text), !command.isEmpty else {
                throw DecodingError.dataCorruptedError(forKey: .command, in: e, debugDescription: "exchange \(n): command is not hex bytes: \(text)")
            }
            var response: [UInt8]? = nil
            if let text = try e.decodeIfPresent(String.self, forKey: .response) {
                guard let bytes = Hex.bytes(text), bytes.count >= 2 else {
                    throw DecodingError.dataCorruptedError(forKey: .response, in: e, debugDescription:
                        "exchange \(n): response is not hex ending in a status word: \(text)")
                }
                response = bytes
            }
            let error = try e.decodeIfPresent(String.self, forKey: .error)
            guard response != nil || error != nil else {
                throw DecodingError.dataCorruptedError(forKey: .response, in: e, debugDescription: "exchange \(n): neither a response nor an error")
            }
            let ms = try e.decode(Double.self, forKey: .ms)
            guard ms.isFinite, ms >= 0 else {
                throw DecodingError.dataCorruptedError(forKey: .ms, in: e, debugDescription: "exchange \(n): ms is not a time")
            }
            exchanges.append(RecordedExchange(command: command, response: response, error: error, ms: ms))
        }
        self.init(
            necdRelease: try c.decode(String.self, forKey: .necdRelease), time: try c.decode(String.self, forKey: .time),
            reader: try c.decode(String.self, forKey: .reader), atr: atr, redacted: try c.decode(Bool.self, forKey: .redacted),
            readMs: try c.decode(Double.self, forKey: .readMs), exchanges: exchanges)
    }

    /// Milliseconds to the microsecond.
    private static func rounded(_ ms: Double) -> Double { ms.isFinite ? (ms * 1000).rounded() / 1000 : 0 }
}

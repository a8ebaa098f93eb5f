import Foundation
import NECCard
import NECCardReading
import NECCardRecording
import NECProtocol

/// `necctl scan --record FILE [--redact]`: every tap appended to the file, one JSON line
/// each, flushed before the next card is read.
final class ScanRecorder {
    let file: CardRecordingFile
    private var redactor: RecordingRedactor?

    /// Opens the file for appending, before any card is read.
    /// - Throws: `CardRecordingFile.Failure` saying why it cannot be opened.
    init(path: String, redact: Bool) throws(CardRecordingFile.Failure) {
        file = try CardRecordingFile(appendingTo: path)
        redactor = redact ? RecordingRedactor() : nil
    }

    /// The tap as the file holds it.
    static func recordedTap(_ reading: TapReading, release: String = ProtocolVersion.release) -> RecordedTap {
        RecordedTap(
            necdRelease: release,
            time: UTCTimestamp.string(secondsSince1970: reading.time.timeIntervalSince1970),
            reader: reading.reader, atr: reading.atr, readMs: ScanOutput.milliseconds(reading.readDuration),
            exchanges: reading.exchanges.map {
                RecordedExchange(command: $0.command, response: $0.response, error: $0.error, ms: ScanOutput.milliseconds($0.duration))
            })
    }

    /// Appends one tap (redacted when asked).
    func record(_ reading: TapReading) throws(CardRecordingFile.Failure) {
        var tap = Self.recordedTap(reading)
        if redactor != nil { tap = redactor!.redact(tap) }
        try file.append(tap)
    }

    /// The reading without its exchanges, for output when only --record asked for them.
    static func withoutTrace(_ reading: TapReading) -> TapReading {
        TapReading(
            reader: reading.reader, atr: reading.atr, result: reading.result, exchanges: [],
            seenAt: reading.seenAt, finishedAt: reading.finishedAt, time: reading.time)
    }
}

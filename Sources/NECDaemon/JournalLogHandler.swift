// Logging to stderr the way a systemd service should: `<N>` priority prefixes that journald
// turns into real priorities when stderr is the journal, timestamps otherwise.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import Logging
import NECCard

/// A swift-log handler writing one line per message to standard error.
///
/// Under systemd (stderr is the stream named by `$JOURNAL_STREAM`) each line starts with a
/// syslog priority such as `<4>`, which journald strips and records, so `journalctl -p
/// warning` works; there is no timestamp because the journal has its own. Anywhere else
/// lines start with an ISO 8601 UTC timestamp and the level's name.
public struct JournalLogHandler: LogHandler {
    /// How lines are written.
    public enum Format: Sendable, Equatable {
        /// `<N>label: message key=value`, for journald.
        case journal
        /// `2026-11-27T12:01:02.123Z info label: message key=value`, for a terminal or file.
        case plain
    }

    /// Where finished lines go. One call per log event with every line of it, so that lines
    /// from different threads do not interleave.
    public typealias Sink = @Sendable ([UInt8]) -> Void

    /// The logger's label, written before each message.
    public let label: String
    /// The line format.
    public let format: Format
    /// The least severe level written.
    public var logLevel: Logger.Level
    /// Metadata attached to every message of this handler.
    public var metadata: Logger.Metadata = [:]
    /// Supplies contextual metadata at each log call.
    public var metadataProvider: Logger.MetadataProvider?
    private let sink: Sink

    /// A handler with everything explicit, for tests and for callers that choose themselves.
    public init(
        label: String, format: Format, logLevel: Logger.Level,
        metadataProvider: Logger.MetadataProvider? = nil, sink: @escaping Sink = JournalLogHandler.standardError
    ) {
        self.label = label
        self.format = format
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
        self.sink = sink
    }

    /// A handler configured from the process environment: the format from `JOURNAL_STREAM`,
    /// the level from `NECD_LOG_LEVEL` (default `info`). Suitable for
    /// `LoggingSystem.bootstrap(JournalLogHandler.init(label:))`.
    public init(label: String) {
        let environment = currentEnvironment(["JOURNAL_STREAM", "NECD_LOG_LEVEL"])
        self.init(
            label: label, format: Self.format(environment: environment),
            logLevel: Self.logLevel(environment: environment))
    }

    /// `.journal` when `JOURNAL_STREAM` names the device and inode of the current stderr.
    ///
    /// Comparing them, rather than only checking the variable is set, keeps prefixes out of a
    /// file when someone runs `necd 2>log` from a shell inside a service.
    public static func format(environment: [String: String], standardErrorDescriptor: Int32 = 2) -> Format {
        guard let stream = environment["JOURNAL_STREAM"] else { return .plain }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return .plain }
        var status = stat()
        guard fstat(standardErrorDescriptor, &status) == 0 else { return .plain }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode ? .journal : .plain
    }

    /// The level named by `NECD_LOG_LEVEL` (swift-log's names, any case, plus `warn`), or
    /// `info` when it is unset or unknown.
    public static func logLevel(environment: [String: String]) -> Logger.Level {
        guard let name = environment["NECD_LOG_LEVEL"]?.lowercased() else { return .info }
        if name == "warn" { return .warning }
        return Logger.Level(rawValue: name) ?? .info
    }

    /// The syslog priority journald records for a level (sd-daemon(3)).
    public static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Writes all of `bytes` to file descriptor 2, retrying short writes; errors are dropped
    /// because there is nowhere left to report them.
    public static let standardError: Sink = { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }

    /// Reads or changes one metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Formats and writes one event.
    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        sink(Array(render(event: event, metadata: merged, now: Self.now()).utf8))
    }

    /// The text for one event: one line per line of the message, each with the full prefix,
    /// since journald starts a new record (at the default priority) at every newline.
    func render(event: LogEvent, metadata: Logger.Metadata, now: timespec) -> String {
        var suffix = ""
        for key in metadata.keys.sorted() {
            suffix += " \(key)=\(Self.quoted(metadata[key]!.description))"
        }
        if let error = event.error {
            suffix += " error=\(Self.quoted(String(describing: error)))"
        }
        let prefix: String
        switch format {
        case .journal: prefix = "<\(Self.syslogPriority(event.level))>\(label): "
        case .plain: prefix = "\(Self.timestamp(now)) \(event.level.rawValue) \(label): "
        }
        let lines = event.message.description.split(separator: "\n", omittingEmptySubsequences: false)
        var text = ""
        for (index, line) in lines.enumerated() {
            text += prefix + line.replacing("\r", with: "")
            if index == lines.count - 1 { text += suffix }
            text += "\n"
        }
        return text
    }

    /// A metadata value as written: bare when it is one plain word, otherwise in double quotes
    /// with `"`, `\` and control characters escaped, so one value never spans lines.
    static func quoted(_ value: String) -> String {
        let plain = !value.isEmpty && value.unicodeScalars.allSatisfy {
            $0.value > 0x20 && $0.value != 0x7F && $0 != "\"" && $0 != "\\" && $0 != "="
        }
        if plain { return value }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func now() -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC.
    static func timestamp(_ time: timespec) -> String {
        UTCTimestamp.string(millis: Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec / 1_000_000))
    }
}

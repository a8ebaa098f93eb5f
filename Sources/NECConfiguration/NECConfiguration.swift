// The daemon's configuration: /etc/necd/necd.toml, every key optional, every value checked.
//
// TOMLParser.swift parses the text; this file turns the document into typed settings
// and refuses anything it does not know, because a misspelt key that is silently ignored is
// worse than a daemon that will not start.

public import Entitlements
public import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a reader is used for, as written in a `[[reader]]` table's `role`: the decision
/// rules' own type, so configuration and decisions cannot disagree on the cases.
public typealias ReaderRoleSetting = EntitlementStore.ReaderRole

/// What to do with taps when the list is older than `max_list_age` (`stale_list_policy`).
public typealias StaleListPolicySetting = StaleListPolicy

/// Whether a reader shows decisions with its own light and buzzer (`feedback` in a
/// `[[reader]]` table).
public enum ReaderFeedbackSetting: String, Sendable, Hashable, CaseIterable {
    /// ACS LED and buzzer pseudo-APDUs, after the decision is published.
    case acs
    /// Nothing is sent to the reader after the read.
    case off = "none"

    /// The default for a reader no `feedback` key speaks for: `acs` for ACS readers
    /// (pcscd names them "ACS ..."), `none` for every other, the test rig's
    /// "Virtual PCD 00 00" included.
    public static func byName(_ readerName: String) -> ReaderFeedbackSetting {
        readerName.hasPrefix("ACS ") ? .acs : .off
    }
}

/// One `[[reader]]` table: which pcscd reader names it applies to, and what they are for.
public struct ReaderRule: Sendable, Hashable {
    /// A shell-style glob (`*`, `?`, `[...]`) matched against the whole pcscd reader name.
    public var match: String
    /// The role readers matching ``match`` get.
    public var role: ReaderRoleSetting
    /// A label copied into events from this reader, such as `till-1`; nil when not given.
    public var lane: String?
    /// The table's `feedback`; nil when not given (then the reader's name decides).
    public var feedback: ReaderFeedbackSetting?

    /// Creates a rule; ``match`` is a glob on the pcscd reader name.
    public init(match: String, role: ReaderRoleSetting = .till, lane: String? = nil, feedback: ReaderFeedbackSetting? = nil) {
        self.match = match
        self.role = role
        self.lane = lane
        self.feedback = feedback
    }

    /// Whether `readerName` matches this rule's glob, with fnmatch(3) semantics and no flags:
    /// `*` also matches `/`, and a leading `.` has no special meaning.
    public func matches(_ readerName: String) -> Bool {
        fnmatch(match, readerName, 0) == 0
    }
}

/// Everything necd reads from its configuration file. Every property has the documented
/// default, so `NECConfiguration()` is the configuration of a missing file.
public struct NECConfiguration: Sendable, Equatable {
    /// Where necd looks when no `--config` is given.
    public static let defaultPath = "/etc/necd/necd.toml"

    /// The client socket's path; ignored when systemd passes a listening socket.
    public var socket: String = "/run/necd/necd.sock"
    /// The group the client socket is given when necd creates it itself.
    public var socketGroup: String = "necd"
    /// The SQLite database (entitlement list, redemptions, event journal).
    public var database: String = "/var/lib/necd/necd.sqlite"
    /// The zone in which "today" is decided for daily limits and validity dates.
    public var timeZone: TimeZone = TimeZone(identifier: "Europe/London") ?? TimeZone(secondsFromGMT: 0)!
    /// How long a card held on, or laid again on, the same reader counts as the same tap.
    public var debounce: Duration = .seconds(2)
    /// Days after its import at which the entitlement list counts as stale.
    public var maxListAge: Int = 7
    /// What stale lists do to decisions.
    public var staleListPolicy: StaleListPolicySetting = .allow
    /// Days of tap events kept in the journal.
    public var eventRetention: Int = 14
    /// Clients connected to the socket at once before more are refused with an ERROR line.
    public var maxClients: Int = 256
    /// Whether unsigned or badly signed lists are refused.
    public var requireSignedLists: Bool = false
    /// Whether every tap also reads the card's ITSO Directory (one more APDU on DESFire)
    /// and declines a card it marks blocked (`card_blocked`).
    public var checkCardBlocked: Bool = false
    /// Raw 32-byte Ed25519 public keys whose list signatures are accepted.
    public var trustedListKeys: [[UInt8]] = []
    /// The `[[reader]]` tables, in file order; the first match wins.
    public var readers: [ReaderRule] = []
    /// The `[[service]]` tables: when lunches are served. None: at any time.
    public var serviceWindows: [ServiceWindow] = []
    /// The `[http]` table; nil (no table) for no HTTP listener.
    public var http: HTTPSettings?
    /// The file these settings came from, or nil when they are all defaults.
    public var source: String?

    /// The defaults, as for a missing file.
    public init() {}

    /// The role and lane for a pcscd reader name: the first matching `[[reader]]` table's,
    /// or a till with no lane when none matches.
    public func readerSettings(for readerName: String) -> (role: ReaderRoleSetting, lane: String?) {
        for rule in readers where rule.matches(readerName) {
            return (rule.role, rule.lane)
        }
        return (.till, nil)
    }

    /// The feedback for a pcscd reader name: the first matching `[[reader]]` table's
    /// `feedback` when it has one, else ``ReaderFeedbackSetting/byName(_:)``.
    public func readerFeedback(for readerName: String) -> ReaderFeedbackSetting {
        readers.first { $0.matches(readerName) }?.feedback ?? .byName(readerName)
    }

    /// Loads the configuration.
    ///
    /// - Parameter path: The file to read. With nil, ``defaultPath`` is read if it exists
    ///   and all defaults apply if it does not; a path given explicitly must exist.
    /// - Throws: ``ConfigurationError`` naming the file, line and key at fault.
    public static func load(path: String?) throws(ConfigurationError) -> NECConfiguration {
        try load(path: path, defaultPath: defaultPath)
    }

    /// ``load(path:)`` with the default location replaceable, for tests.
    static func load(path: String?, defaultPath: String) throws(ConfigurationError) -> NECConfiguration {
        let file = path ?? defaultPath
        let bytes: [UInt8]
        do {
            bytes = try readFile(file)
        } catch {
            if case .fileMissing = error, path == nil { return NECConfiguration() }
            throw error
        }
        return try parse(bytes: bytes, path: file)
    }

    /// Parses configuration text.
    ///
    /// - Parameters:
    ///   - text: The TOML document.
    ///   - path: The file name used in errors, and the base for relative `socket` and
    ///     `database` paths.
    public static func parse(_ text: String, path: String) throws(ConfigurationError) -> NECConfiguration {
        try parse(bytes: Array(text.utf8), path: path)
    }

    /// Parses configuration bytes, refusing anything that is not UTF-8 text.
    static func parse(bytes: [UInt8], path: String) throws(ConfigurationError) -> NECConfiguration {
        // Some Windows editors start UTF-8 files with a byte order mark; it means nothing here.
        let bytes = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .unreadable(path: path, reason: "not UTF-8 text")
        }
        // TOML forbids NUL anywhere; say so plainly rather than as a stray control character.
        if let nul = bytes.firstIndex(of: 0) {
            let line = bytes[..<nul].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            throw .syntax(path: path, line: line, column: 0, message: "NUL character in file")
        }
        let document: TOMLDocument
        do {
            document = try TOMLParser.parse(text)
        } catch {
            throw .syntax(path: path, line: error.line, column: error.column, message: error.message)
        }
        var configuration = try DocumentReader(path: path).read(document)
        configuration.source = path
        return configuration
    }

    /// Reads a whole file, telling a missing one apart from other failures.
    private static func readFile(_ path: String) throws(ConfigurationError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { throw .fileMissing(path: path) }
            throw .unreadable(path: path, reason: String(cString: strerror(code)))
        }
        defer { close(fd) }
        var status = stat()
        if fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
            throw .unreadable(path: path, reason: "is a directory")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        // A configuration file is small; a megabyte means someone pointed us at the wrong thing.
        let limit = 1 << 20
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .unreadable(path: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit {
                throw .unreadable(path: path, reason: "larger than 1 MiB")
            }
        }
        return bytes
    }
}

/// Why a configuration could not be loaded. The description is one line, in the
/// `file:line: key: reason` form editors and compilers use.
public enum ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file does not exist (only an error when it was named explicitly).
    case fileMissing(path: String)
    /// The file exists but could not be read, or is not text.
    case unreadable(path: String, reason: String)
    /// The file is not valid TOML.
    case syntax(path: String, line: Int, column: Int, message: String)
    /// A key necd does not know; `key` is dotted, e.g. `reader[2].lanes`.
    case unknownKey(path: String, line: Int?, key: String)
    /// A known key with a value of the wrong TOML type.
    case wrongType(path: String, line: Int?, key: String, expected: String, found: String)
    /// A known key with a value of the right type that is out of range or malformed.
    case badValue(path: String, line: Int?, key: String, reason: String)

    /// The file the error is about.
    public var path: String {
        switch self {
        case .fileMissing(let path), .unreadable(let path, _), .syntax(let path, _, _, _),
            .unknownKey(let path, _, _), .wrongType(let path, _, _, _, _), .badValue(let path, _, _, _):
            path
        }
    }

    /// The 1-based line at fault, when known.
    public var line: Int? {
        switch self {
        case .fileMissing, .unreadable: nil
        case .syntax(_, let line, _, _): line > 0 ? line : nil
        case .unknownKey(_, let line, _), .wrongType(_, let line, _, _, _), .badValue(_, let line, _, _): line
        }
    }

    /// The key at fault, when the error is about one.
    public var key: String? {
        switch self {
        case .fileMissing, .unreadable, .syntax: nil
        case .unknownKey(_, _, let key), .wrongType(_, _, let key, _, _), .badValue(_, _, let key, _): key
        }
    }

    /// `file:line: key: reason`, one line.
    public var description: String {
        let place = line.map { "\(path):\($0)" } ?? path
        switch self {
        case .fileMissing:
            return "\(place): configuration file does not exist"
        case .unreadable(_, let reason):
            return "\(place): cannot read configuration: \(reason)"
        case .syntax(_, _, _, let message):
            return "\(place): TOML syntax error: \(message)"
        case .unknownKey(_, _, let key):
            return "\(place): \(key): unknown key"
        case .wrongType(_, _, let key, let expected, let found):
            return "\(place): \(key): expected \(expected), found \(found)"
        case .badValue(_, _, let key, let reason):
            return "\(place): \(key): \(reason)"
        }
    }
}

/// Turns a parsed document into a ``NECConfiguration``, one checked key at a time, in file
/// order, so the first error reported is the first a person reading the file would meet.
private struct DocumentReader {
    let path: String

    /// The keys a `[[reader]]` table may have.
    static let readerKeys: Set<String> = ["match", "role", "lane", "feedback"]
    /// The keys a `[[service]]` table may have.
    static let serviceKeys: Set<String> = ["kind", "start", "end", "days"]
    /// The keys the `[http]` table may have.
    static let httpKeys: Set<String> = ["listen", "allowed_origins", "token_file", "allow_remote"]

    func read(_ document: TOMLDocument) throws(ConfigurationError) -> NECConfiguration {
        var configuration = NECConfiguration()
        var signedLine: Int?
        for item in document.items {
            switch item {
            case .entry(let entry):
                if entry.key == "require_signed_lists" { signedLine = entry.line }
                try apply(entry, to: &configuration)
            case .table("http", let line, let isArrayElement, let entries):
                guard !isArrayElement else {
                    throw .wrongType(path: path, line: line, key: "http", expected: "one [http] table", found: "[[http]]")
                }
                guard configuration.http == nil else {
                    throw .badValue(path: path, line: line, key: "http", reason: "appears twice")
                }
                configuration.http = try httpSettings(entries, headerLine: line)
            case .table(let name, let line, let isArrayElement, let entries):
                guard name == "reader" || name == "service" else {
                    throw .unknownKey(path: path, line: line, key: name)
                }
                guard isArrayElement else {
                    throw .wrongType(
                        path: path, line: line, key: name,
                        expected: "[[\(name)]] tables (note the double brackets)", found: "a table")
                }
                if name == "reader" {
                    let index = configuration.readers.count + 1
                    configuration.readers.append(try readerRule(entries, index: index, headerLine: line))
                } else {
                    let index = configuration.serviceWindows.count + 1
                    configuration.serviceWindows.append(try serviceWindow(entries, index: index, headerLine: line))
                }
            }
        }
        if configuration.requireSignedLists && configuration.trustedListKeys.isEmpty {
            throw .badValue(
                path: path, line: signedLine, key: "require_signed_lists",
                reason: "is true but trusted_list_keys is empty, so no list could ever be imported")
        }
        return configuration
    }

    private func apply(_ entry: TOMLEntry, to configuration: inout NECConfiguration) throws(ConfigurationError) {
        let key = entry.key
        let value = entry.value
        let line = entry.line
        switch key {
        case "socket":
            configuration.socket = try socketPath(string(value, key), key, line)
        case "socket_group":
            configuration.socketGroup = try groupName(string(value, key), key, line)
        case "database":
            configuration.database = try filePath(string(value, key), key, line)
        case "time_zone":
            let name = try string(value, key)
            guard let zone = TimeZoneName.zone(named: name) else {
                throw .badValue(
                    path: path, line: line, key: key,
                    reason: "unknown time zone \"\(name)\" (use an IANA name such as \"Europe/London\")")
            }
            configuration.timeZone = zone
        case "debounce":
            let seconds: Double
            switch value.kind {
            case .float(let number): seconds = number
            case .integer(let number): seconds = Double(number)
            default: throw wrongType(key, expected: "a number of seconds", found: value)
            }
            guard seconds.isFinite, seconds >= 0 else {
                throw .badValue(path: path, line: line, key: key, reason: "must be zero or more seconds, got \(seconds)")
            }
            guard seconds <= 3600 else {
                throw .badValue(path: path, line: line, key: key, reason: "must be at most 3600 seconds, got \(seconds)")
            }
            configuration.debounce = .milliseconds(Int64((seconds * 1000).rounded()))
        case "max_list_age":
            configuration.maxListAge = try days(value, key)
        case "stale_list_policy":
            let raw = try string(value, key)
            guard let policy = StaleListPolicySetting(rawValue: raw) else {
                throw .badValue(path: path, line: line, key: key, reason: "must be \"allow\" or \"decline\", got \"\(raw)\"")
            }
            configuration.staleListPolicy = policy
        case "event_retention":
            configuration.eventRetention = try days(value, key)
        case "max_clients":
            guard case .integer(let count) = value.kind else {
                throw wrongType(key, expected: "a whole number of clients", found: value)
            }
            guard count >= 1, count <= 65_536 else {
                throw .badValue(path: path, line: line, key: key, reason: "must be between 1 and 65536 clients, got \(count)")
            }
            configuration.maxClients = Int(count)
        case "require_signed_lists":
            guard case .boolean(let flag) = value.kind else {
                throw wrongType(key, expected: "true or false", found: value)
            }
            configuration.requireSignedLists = flag
        case "check_card_blocked":
            guard case .boolean(let flag) = value.kind else {
                throw wrongType(key, expected: "true or false", found: value)
            }
            configuration.checkCardBlocked = flag
        case "trusted_list_keys":
            configuration.trustedListKeys = try publicKeys(value, key)
        case "reader":
            throw wrongType(key, expected: "[[reader]] tables (note the double brackets)", found: value)
        case "service":
            throw wrongType(key, expected: "[[service]] tables (note the double brackets)", found: value)
        default:
            throw .unknownKey(path: path, line: line, key: key)
        }
    }

    // MARK: Typed values

    private func wrongType(_ key: String, expected: String, found value: TOMLValue) -> ConfigurationError {
        .wrongType(path: path, line: value.line, key: key, expected: expected, found: value.typeDescription)
    }

    private func string(_ value: TOMLValue, _ key: String) throws(ConfigurationError) -> String {
        guard case .string(let text) = value.kind else {
            throw wrongType(key, expected: "a string", found: value)
        }
        return text
    }

    private func days(_ value: TOMLValue, _ key: String) throws(ConfigurationError) -> Int {
        guard case .integer(let count) = value.kind else {
            throw wrongType(key, expected: "a whole number of days", found: value)
        }
        guard count >= 1, count <= 36_500 else {
            throw .badValue(path: path, line: value.line, key: key, reason: "must be between 1 and 36500 days, got \(count)")
        }
        return count
    }

    /// Relative paths are taken from the configuration file's directory, so a test or
    /// development configuration can sit beside its database.
    private func filePath(_ raw: String, _ key: String, _ line: Int) throws(ConfigurationError) -> String {
        guard !raw.isEmpty else {
            throw .badValue(path: path, line: line, key: key, reason: "must not be empty")
        }
        guard !raw.utf8.contains(0) else {
            throw .badValue(path: path, line: line, key: key, reason: "must not contain NUL")
        }
        if raw.hasPrefix("/") { return raw }
        guard let slash = path.lastIndex(of: "/") else { return "./" + raw }
        return String(path[..<slash]) + "/" + raw
    }

    private func socketPath(_ raw: String, _ key: String, _ line: Int) throws(ConfigurationError) -> String {
        let resolved = try filePath(raw, key, line)
        // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
        guard resolved.utf8.count <= 107 else {
            throw .badValue(
                path: path, line: line, key: key,
                reason: "is \(resolved.utf8.count) bytes long; a Unix socket path may have at most 107")
        }
        return resolved
    }

    private func groupName(_ raw: String, _ key: String, _ line: Int) throws(ConfigurationError) -> String {
        let allowed = raw.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "_-.".unicodeScalars.contains($0))
        }
        guard !raw.isEmpty, raw.utf8.count <= 32, allowed, !raw.hasPrefix("-") else {
            throw .badValue(path: path, line: line, key: key, reason: "\"\(raw)\" is not a valid group name")
        }
        return raw
    }

    private func publicKeys(_ value: TOMLValue, _ key: String) throws(ConfigurationError) -> [[UInt8]] {
        guard case .array(let elements) = value.kind else {
            throw wrongType(key, expected: "an array of base64 strings", found: value)
        }
        var keys: [[UInt8]] = []
        for (index, element) in elements.enumerated() {
            let name = "\(key)[\(index + 1)]"
            guard case .string(let text) = element.kind else {
                throw wrongType(name, expected: "a base64 string", found: element)
            }
            guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespaces)) else {
                throw .badValue(path: path, line: element.line, key: name, reason: "is not valid base64")
            }
            guard data.count == 32 else {
                throw .badValue(
                    path: path, line: element.line, key: name,
                    reason: "decodes to \(data.count) bytes; an Ed25519 public key is 32")
            }
            keys.append(Array(data))
        }
        return keys
    }

    /// One `[[service]]` table: `kind` (only `lunch`), `start` and `end` as local `HH:MM`
    /// (start inclusive, end exclusive, end after start; `24:00` is midnight at the end),
    /// and `days`, an optional array of `mon` ... `sun` (default every day).
    private func serviceWindow(_ entries: [TOMLEntry], index: Int, headerLine: Int) throws(ConfigurationError)
        -> ServiceWindow
    {
        let prefix = "service[\(index)]"
        let table = try TableEntries(entries, allowed: Self.serviceKeys, prefix: prefix, headerLine: headerLine, path: path)
        func entry(_ key: String) throws(ConfigurationError) -> TOMLEntry { try table.required(key) }
        let kindEntry = try entry("kind")
        let rawKind = try string(kindEntry.value, "\(prefix).kind")
        guard let kind = ServiceWindow.Kind(rawValue: rawKind) else {
            throw .badValue(
                path: path, line: kindEntry.line, key: "\(prefix).kind",
                reason: "must be \"lunch\" (the only service with hours), got \"\(rawKind)\"")
        }
        func minute(_ key: String) throws(ConfigurationError) -> (minute: Int, line: Int) {
            let e = try entry(key)
            let text = try string(e.value, "\(prefix).\(key)")
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count == 2, parts[0].count == 2, parts[1].count == 2,
               let h = Int(parts[0]), let m = Int(parts[1]), parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
               (0...23).contains(h) && (0...59).contains(m) || (h == 24 && m == 0)
            {
                return (h * 60 + m, e.line)
            }
            throw .badValue(
                path: path, line: e.line, key: "\(prefix).\(key)",
                reason: "must be a local time as \"HH:MM\" (00:00 to 24:00), got \"\(text)\"")
        }
        let start = try minute("start")
        let end = try minute("end")
        guard start.minute < 24 * 60 else {
            throw .badValue(path: path, line: start.line, key: "\(prefix).start", reason: "must be before 24:00")
        }
        guard end.minute > start.minute else {
            throw .badValue(
                path: path, line: end.line, key: "\(prefix).end",
                reason: "must be after start (a window that runs past midnight is two windows)")
        }
        var days = Set(ServiceWindow.Weekday.allCases)
        if let daysEntry = entries.first(where: { $0.key == "days" }) {
            guard case .array(let elements) = daysEntry.value.kind else {
                throw .wrongType(
                    path: path, line: daysEntry.line, key: "\(prefix).days", expected: "an array of day names",
                    found: daysEntry.value.typeDescription)
            }
            days = []
            for element in elements {
                guard case .string(let name) = element.kind, let day = ServiceWindow.Weekday(rawValue: name) else {
                    throw .badValue(
                        path: path, line: daysEntry.line, key: "\(prefix).days",
                        reason: "each day must be one of \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"")
                }
                days.insert(day)
            }
            guard !days.isEmpty else {
                throw .badValue(
                    path: path, line: daysEntry.line, key: "\(prefix).days",
                    reason: "must name at least one day (leave it out for every day)")
            }
        }
        return ServiceWindow(kind: kind, startMinute: start.minute, endMinute: end.minute, days: days)
    }

    private func readerRule(_ entries: [TOMLEntry], index: Int, headerLine: Int) throws(ConfigurationError)
        -> ReaderRule
    {
        let prefix = "reader[\(index)]"
        for entry in entries where !Self.readerKeys.contains(entry.key) {
            throw .unknownKey(path: path, line: entry.line, key: "\(prefix).\(entry.key)")
        }
        func entry(_ key: String) -> TOMLEntry? { entries.first { $0.key == key } }
        guard let matchEntry = entry("match") else {
            throw .badValue(path: path, line: headerLine, key: "\(prefix).match", reason: "is required")
        }
        let match = try string(matchEntry.value, "\(prefix).match")
        guard !match.isEmpty, !match.utf8.contains(0) else {
            throw .badValue(path: path, line: matchEntry.line, key: "\(prefix).match", reason: "must not be empty")
        }
        var rule = ReaderRule(match: match)
        if let roleEntry = entry("role") {
            rule.role = try oneOf(roleEntry, "\(prefix).role")
        }
        if let laneEntry = entry("lane") {
            let lane = try string(laneEntry.value, "\(prefix).lane")
            let printable = lane.unicodeScalars.allSatisfy { !$0.properties.generalCategory.isControl }
            guard !lane.isEmpty, lane.count <= 64, printable else {
                throw .badValue(
                    path: path, line: laneEntry.line, key: "\(prefix).lane", reason: "must be 1 to 64 printable characters")
            }
            rule.lane = lane
        }
        if let feedbackEntry = entry("feedback") {
            rule.feedback = try oneOf(feedbackEntry, "\(prefix).feedback")
        }
        return rule
    }

    /// The `[http]` table: `listen` and `token_file` required; a `listen` off loopback only
    /// with `allow_remote = true`; each of `allowed_origins` an exact browser origin.
    private func httpSettings(_ entries: [TOMLEntry], headerLine: Int) throws(ConfigurationError) -> HTTPSettings {
        let table = try TableEntries(entries, allowed: Self.httpKeys, prefix: "http", headerLine: headerLine, path: path)
        let listenEntry = try table.required("listen")
        let listen = try string(listenEntry.value, "http.listen")
        guard let (host, port) = HTTPSettings.parseListen(listen) else {
            throw .badValue(
                path: path, line: listenEntry.line, key: "http.listen",
                reason: "\"\(listen)\" is not address:port (e.g. \"127.0.0.1:8734\" or \"[::1]:8734\"; port 1 to 65535)")
        }
        var allowRemote = false
        if let remoteEntry = table.optional("allow_remote") {
            guard case .boolean(let flag) = remoteEntry.value.kind else {
                throw wrongType("http.allow_remote", expected: "true or false", found: remoteEntry.value)
            }
            allowRemote = flag
        }
        guard allowRemote || HTTPSettings.isLoopback(host) else {
            throw .badValue(
                path: path, line: listenEntry.line, key: "http.listen",
                reason: "\(host) is not a loopback address; set allow_remote = true to listen beyond this machine")
        }
        let tokenEntry = try table.required("token_file")
        let tokenFile = try filePath(string(tokenEntry.value, "http.token_file"), "http.token_file", tokenEntry.line)
        var origins: [String] = []
        if let originsEntry = table.optional("allowed_origins") {
            guard case .array(let elements) = originsEntry.value.kind else {
                throw wrongType("http.allowed_origins", expected: "an array of strings", found: originsEntry.value)
            }
            for (index, element) in elements.enumerated() {
                let name = "http.allowed_origins[\(index + 1)]"
                let origin = try string(element, name)
                guard HTTPSettings.isOrigin(origin) else {
                    throw .badValue(
                        path: path, line: element.line, key: name,
                        reason: "\"\(origin)\" is not an origin: http:// or https://, a lower-case host, an optional port, nothing after")
                }
                origins.append(origin)
            }
        }
        return HTTPSettings(host: host, port: port, allowedOrigins: origins, tokenFile: tokenFile, allowRemote: allowRemote)
    }

    /// A string that must name one of `Value`'s cases; the error lists them in order
    /// ("must be \"till\" or \"kiosk\", got \"cashier\"").
    private func oneOf<Value: RawRepresentable & CaseIterable>(_ entry: TOMLEntry, _ key: String) throws(ConfigurationError)
        -> Value where Value.RawValue == String
    {
        let raw = try string(entry.value, key)
        guard let value = Value(rawValue: raw) else {
            let names = Value.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
            throw .badValue(path: path, line: entry.line, key: key, reason: "must be \(names), got \"\(raw)\"")
        }
        return value
    }
}

/// One table's entries: keys it does not allow are refused when it is made, and a
/// required key that is missing is an error naming the table's header line.
private struct TableEntries {
    let entries: [TOMLEntry]
    /// How keys are named in errors: `http` gives `http.listen`.
    let prefix: String
    let headerLine: Int
    let path: String

    init(_ entries: [TOMLEntry], allowed: Set<String>, prefix: String, headerLine: Int, path: String)
        throws(ConfigurationError)
    {
        for entry in entries where !allowed.contains(entry.key) {
            throw .unknownKey(path: path, line: entry.line, key: "\(prefix).\(entry.key)")
        }
        self.entries = entries
        self.prefix = prefix
        self.headerLine = headerLine
        self.path = path
    }

    func optional(_ key: String) -> TOMLEntry? { entries.first { $0.key == key } }

    func required(_ key: String) throws(ConfigurationError) -> TOMLEntry {
        guard let found = optional(key) else {
            throw .badValue(path: path, line: headerLine, key: "\(prefix).\(key)", reason: "is required")
        }
        return found
    }
}

/// `time_zone` accepts IANA zone names only. Foundation's `TimeZone(identifier:)` also
/// takes abbreviations and offsets ("BST" is Bangladesh, UTC+6; "GMT+1"), which would
/// silently move "today" for the one-lunch-a-day rule; so a name must be one Foundation
/// knows as a zone identifier, or a zone file of the system's tz database.
enum TimeZoneName {
    /// Where the tz database's compiled zone files live.
    static let zoneDirectory = "/usr/share/zoneinfo"

    /// The zone called `name`, or nil when `name` is not an IANA zone name.
    static func zone(named name: String) -> TimeZone? {
        guard isIANAName(name) else { return nil }
        return TimeZone(identifier: name)
    }

    /// True for `Area/City` names, `UTC`, `Etc/...` and the other names of the tz database.
    static func isIANAName(_ name: String) -> Bool {
        if name == "UTC" || TimeZone.knownTimeZoneIdentifiers.contains(name) { return true }
        // Zone names are ASCII letters, digits, `_`, `-` and `+` in `/`-separated parts;
        // anything else (`..`, a leading `/`) could not name a zone file.
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        let wellFormed = !parts.isEmpty && parts.allSatisfy { part in
            guard let first = part.unicodeScalars.first, first.properties.isAlphabetic, first.isASCII else { return false }
            return part.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-+".unicodeScalars.contains($0)) }
        }
        // posix/ and right/ are copies of the database with other leap-second rules, not zones.
        guard wellFormed, parts[0] != "posix", parts[0] != "right" else { return false }
        return isZoneFile(zoneDirectory + "/" + name)
    }

    /// A regular file starting with the TZif magic (RFC 8536), as every compiled zone is.
    /// Links are followed: the database links its aliases (`UTC`, `GB`) to their zones.
    private static func isZoneFile(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return false }
        var magic = [UInt8](repeating: 0, count: 4)
        let count = magic.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4) }
        return count == 4 && magic == Array("TZif".utf8)
    }
}

extension Unicode.GeneralCategory {
    /// Control, format, surrogate, private-use and unassigned code points: none belongs in a label.
    fileprivate var isControl: Bool {
        switch self {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator: true
        default: false
        }
    }
}

import Foundation
import PropertyBased
import Testing
import Entitlements

@testable import NECConfiguration

/// A scratch directory removed when the value goes away.
final class ConfigurationScratch {
    let path: String

    init() {
        var template = Array((NSTemporaryDirectory() + "necd-test-XXXXXX").utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    /// Writes `text` to `name` inside the directory and returns its path.
    func write(_ name: String, _ text: String) -> String {
        let file = path + "/" + name
        let created = FileManager.default.createFile(atPath: file, contents: Data(text.utf8))
        precondition(created, "cannot create \(file)")
        return file
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Parses `text` as if it were in `/etc/necd/necd.toml`, returning the error it raises.
private func error(in text: String) -> ConfigurationError? {
    do {
        _ = try NECConfiguration.parse(text, path: "/etc/necd/necd.toml")
        return nil
    } catch {
        return error
    }
}

@Suite("Configuration")
struct ConfigurationTests {
    @Test("A missing default file means every default")
    func missingDefaultFile() throws {
        let scratch = ConfigurationScratch()
        let configuration = try NECConfiguration.load(path: nil, defaultPath: scratch.path + "/necd.toml")
        #expect(configuration == NECConfiguration())
        #expect(configuration.source == nil)
        #expect(configuration.socket == "/run/necd/necd.sock")
        #expect(configuration.socketGroup == "necd")
        #expect(configuration.database == "/var/lib/necd/necd.sqlite")
        #expect(configuration.timeZone.identifier == "Europe/London")
        #expect(configuration.debounce == .seconds(2))
        #expect(configuration.maxListAge == 7)
        #expect(configuration.staleListPolicy == .allow)
        #expect(configuration.eventRetention == 14)
        #expect(configuration.requireSignedLists == false)
        #expect(configuration.checkCardBlocked == false)
        #expect(configuration.trustedListKeys.isEmpty)
        #expect(configuration.readers.isEmpty)
    }

    @Test("A missing file named explicitly is an error")
    func missingExplicitFile() {
        let scratch = ConfigurationScratch()
        let path = scratch.path + "/absent.toml"
        #expect(throws: ConfigurationError.fileMissing(path: path)) {
            try NECConfiguration.load(path: path)
        }
    }

    @Test("A directory or a non-UTF-8 file is refused, naming the file")
    func unreadableFiles() throws {
        let scratch = ConfigurationScratch()
        #expect(throws: ConfigurationError.unreadable(path: scratch.path, reason: "is a directory")) {
            try NECConfiguration.load(path: scratch.path)
        }
        let binary = scratch.path + "/binary.toml"
        try #require(FileManager.default.createFile(atPath: binary, contents: Data([0x64, 0x65, 0xFF, 0xFE, 0x0A])))
        #expect(throws: ConfigurationError.unreadable(path: binary, reason: "not UTF-8 text")) {
            try NECConfiguration.load(path: binary)
        }
        let withNUL = scratch.write("nul.toml", "debounce = 1.0\n\0\n")
        #expect(throws: ConfigurationError.syntax(path: withNUL, line: 2, column: 0, message: "NUL character in file")) {
            try NECConfiguration.load(path: withNUL)
        }
    }

    @Test("The product's example file reads as written")
    func fullExample() throws {
        let key = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let scratch = ConfigurationScratch()
        let path = scratch.write(
            "necd.toml",
            """
            # every key, as in the product contract
            socket = "/run/necd-test/necd.sock"        # ignored when systemd passes a socket
            socket_group = "tills"
            database = "/var/lib/necd-test/necd.sqlite"
            time_zone = "Europe/Paris"
            debounce = 0.75                        # seconds
            max_list_age = 3                       # days
            stale_list_policy = "decline"
            event_retention = 30                   # days
            max_clients = 40
            require_signed_lists = true
            trusted_list_keys = ["\(key)"]
            check_card_blocked = true

            [[reader]]                             # zero or more; first match wins
            match = "ACS ACR1252*"
            role = "till"
            lane = "till-1"

            [[reader]]
            match = "HID Global OMNIKEY 5422*"
            role = "kiosk"

            """)
        let configuration = try NECConfiguration.load(path: path)
        #expect(configuration.source == path)
        #expect(configuration.socket == "/run/necd-test/necd.sock")
        #expect(configuration.socketGroup == "tills")
        #expect(configuration.database == "/var/lib/necd-test/necd.sqlite")
        #expect(configuration.timeZone.identifier == "Europe/Paris")
        #expect(configuration.debounce == .milliseconds(750))
        #expect(configuration.maxListAge == 3)
        #expect(configuration.staleListPolicy == .decline)
        #expect(configuration.eventRetention == 30)
        #expect(configuration.maxClients == 40)
        #expect(configuration.requireSignedLists)
        #expect(configuration.checkCardBlocked)
        #expect(configuration.trustedListKeys == [(0..<32).map { UInt8($0) }])
        #expect(
            configuration.readers == [
                ReaderRule(match: "ACS ACR1252*", role: .till, lane: "till-1"),
                ReaderRule(match: "HID Global OMNIKEY 5422*", role: .kiosk, lane: nil),
            ])
    }

    @Test("The first matching [[reader]] wins; unmatched readers are tills without a lane")
    func readerMatching() throws {
        let configuration = try NECConfiguration.parse(
            """
            [[reader]]
            match = "ACS ACR1252 01 00"
            role = "kiosk"
            lane = "library"
            [[reader]]
            match = "ACS ACR1252*"
            lane = "till-[any]"
            [[reader]]
            match = "*OMNIKEY 54[0-9][0-9]*"
            role = "kiosk"
            """, path: "/etc/necd/necd.toml")
        #expect(configuration.readerSettings(for: "ACS ACR1252 01 00") == (.kiosk, "library"))
        #expect(configuration.readerSettings(for: "ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00") == (.till, "till-[any]"))
        #expect(configuration.readerSettings(for: "HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422 CL] 00 00") == (.kiosk, nil))
        #expect(configuration.readerSettings(for: "Virtual PCD 00 00") == (.till, nil))
        #expect(configuration.readerSettings(for: "") == (.till, nil))
    }

    @Test("Whole seconds are accepted for debounce, and zero turns it off")
    func debounceNumbers() throws {
        #expect(try NECConfiguration.parse("debounce = 3", path: "x.toml").debounce == .seconds(3))
        #expect(try NECConfiguration.parse("debounce = 0", path: "x.toml").debounce == .zero)
        #expect(try NECConfiguration.parse("debounce = 0.0015", path: "x.toml").debounce == .milliseconds(2))
    }

    @Test("A UTF-8 byte order mark is ignored")
    func byteOrderMark() throws {
        let configuration = try NECConfiguration.parse("\u{FEFF}debounce = 1", path: "x.toml")
        #expect(configuration.debounce == .seconds(1))
    }

    @Test("Relative paths are taken from the configuration file's directory")
    func relativePaths() throws {
        let configuration = try NECConfiguration.parse(
            "database = \"state/necd.sqlite\"\nsocket = \"necd.sock\"", path: "/srv/necd-dev/necd.toml")
        #expect(configuration.database == "/srv/necd-dev/state/necd.sqlite")
        #expect(configuration.socket == "/srv/necd-dev/necd.sock")
        let bare = try NECConfiguration.parse("database = \"necd.sqlite\"", path: "necd.toml")
        #expect(bare.database == "./necd.sqlite")
    }

    @Test("An unknown key names itself and its line")
    func unknownKeys() {
        let top = error(in: "debounce = 1.0\n\nsokcet = \"/run/x.sock\"\n")
        #expect(top == .unknownKey(path: "/etc/necd/necd.toml", line: 3, key: "sokcet"))
        #expect(top?.description == "/etc/necd/necd.toml:3: sokcet: unknown key")

        let table = error(in: "debounce = 1.0\n[server]\nport = 1\n")
        #expect(table == .unknownKey(path: "/etc/necd/necd.toml", line: 2, key: "server"))

        let inReader = error(
            in: """
                [[reader]]
                match = "A*"
                [[reader]]
                match = "B*"
                lanes = "till-2"
                """)
        #expect(inReader == .unknownKey(path: "/etc/necd/necd.toml", line: 5, key: "reader[2].lanes"))
    }

    @Test("The first problem in file order is the one reported")
    func fileOrder() {
        // "zzz" comes first in the file and must be reported first, whatever the key order.
        let problem = error(in: "zzz = 1\naaa = 2\n")
        #expect(problem == .unknownKey(path: "/etc/necd/necd.toml", line: 1, key: "zzz"))
    }

    @Test(
        "Bad values are refused with the key, line and reason",
        arguments: [
            ("debounce = \"2\"", ConfigurationError.wrongType(path: "/etc/necd/necd.toml", line: 1, key: "debounce", expected: "a number of seconds", found: "a string")),
            ("debounce = -1.5", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "debounce", reason: "must be zero or more seconds, got -1.5")),
            ("debounce = nan", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "debounce", reason: "must be zero or more seconds, got nan")),
            ("debounce = 86400", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "debounce", reason: "must be at most 3600 seconds, got 86400.0")),
            ("time_zone = \"Europe/Edinburgh-on-Sea\"", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "time_zone", reason: "unknown time zone \"Europe/Edinburgh-on-Sea\" (use an IANA name such as \"Europe/London\")")),
            ("time_zone = \"\"", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "time_zone", reason: "unknown time zone \"\" (use an IANA name such as \"Europe/London\")")),
            ("max_list_age = 0", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "max_list_age", reason: "must be between 1 and 36500 days, got 0")),
            ("max_list_age = 7.5", .wrongType(path: "/etc/necd/necd.toml", line: 1, key: "max_list_age", expected: "a whole number of days", found: "a number with a fraction")),
            ("event_retention = -14", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "event_retention", reason: "must be between 1 and 36500 days, got -14")),
            ("max_clients = 0", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "max_clients", reason: "must be between 1 and 65536 clients, got 0")),
            ("max_clients = 2.5", .wrongType(path: "/etc/necd/necd.toml", line: 1, key: "max_clients", expected: "a whole number of clients", found: "a number with a fraction")),
            ("stale_list_policy = \"refuse\"", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "stale_list_policy", reason: "must be \"allow\" or \"decline\", got \"refuse\"")),
            ("check_card_blocked = 1", .wrongType(path: "/etc/necd/necd.toml", line: 1, key: "check_card_blocked", expected: "true or false", found: "an integer")),
            ("require_signed_lists = \"yes\"", .wrongType(path: "/etc/necd/necd.toml", line: 1, key: "require_signed_lists", expected: "true or false", found: "a string")),
            ("trusted_list_keys = \"AAAA\"", .wrongType(path: "/etc/necd/necd.toml", line: 1, key: "trusted_list_keys", expected: "an array of base64 strings", found: "a string")),
            ("trusted_list_keys = [\"not base64!\"]", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "trusted_list_keys[1]", reason: "is not valid base64")),
            ("trusted_list_keys = [\"\(Data(count: 31).base64EncodedString())\"]", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "trusted_list_keys[1]", reason: "decodes to 31 bytes; an Ed25519 public key is 32")),
            ("trusted_list_keys = [1]", .wrongType(path: "/etc/necd/necd.toml", line: 1, key: "trusted_list_keys[1]", expected: "a base64 string", found: "an integer")),
            ("socket = \"\"", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "socket", reason: "must not be empty")),
            ("socket = \"/\(String(repeating: "s", count: 107))\"", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "socket", reason: "is 108 bytes long; a Unix socket path may have at most 107")),
            ("socket_group = \"till users\"", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "socket_group", reason: "\"till users\" is not a valid group name")),
            ("database = 5", .wrongType(path: "/etc/necd/necd.toml", line: 1, key: "database", expected: "a string", found: "an integer")),
            ("require_signed_lists = true", .badValue(path: "/etc/necd/necd.toml", line: 1, key: "require_signed_lists", reason: "is true but trusted_list_keys is empty, so no list could ever be imported")),
        ])
    func badValues(text: String, expected: ConfigurationError) {
        #expect(error(in: text) == expected)
    }

    @Test(
        "Abbreviations and offsets are not time zones: only IANA names are",
        arguments: ["BST", "PST", "GMT+1", "UTC+1", "posix/Europe/London", "right/UTC", "../zoneinfo/UTC", "Europe/london", "zone.tab", "localtime/"])
    func timeZoneAbbreviations(name: String) {
        #expect(error(in: "debounce = 1\ntime_zone = \"\(name)\"\n") == .badValue(
            path: "/etc/necd/necd.toml", line: 2, key: "time_zone",
            reason: "unknown time zone \"\(name)\" (use an IANA name such as \"Europe/London\")"))
    }

    @Test(
        "IANA names are accepted, with their own offsets",
        arguments: [
            ("Europe/London", 0), ("UTC", 0), ("Etc/UTC", 0), ("Etc/GMT+12", -43_200), ("Etc/GMT-14", 50_400),
            ("America/Argentina/Buenos_Aires", -10_800), ("Asia/Dhaka", 21_600),
        ])
    func timeZoneNames(name: String, offsetInJanuary: Int) throws {
        let configuration = try NECConfiguration.parse("time_zone = \"\(name)\"\n", path: "/etc/necd/necd.toml")
        let january = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z
        #expect(configuration.timeZone.secondsFromGMT(for: january) == offsetInJanuary)
    }

    @Test("Bad [[reader]] tables are refused with the table's key and line")
    func badReaders() {
        let role = error(in: "debounce = 1\n\n[[reader]]\nmatch = \"ACS*\"\nrole = \"cashier\"\n")
        #expect(role == .badValue(path: "/etc/necd/necd.toml", line: 5, key: "reader[1].role", reason: "must be \"till\" or \"kiosk\", got \"cashier\""))
        #expect(role?.description == "/etc/necd/necd.toml:5: reader[1].role: must be \"till\" or \"kiosk\", got \"cashier\"")

        let noMatch = error(in: "[[reader]]\nmatch = \"A*\"\n\n[[reader]]\nrole = \"kiosk\"\n")
        #expect(noMatch == .badValue(path: "/etc/necd/necd.toml", line: 4, key: "reader[2].match", reason: "is required"))

        let emptyMatch = error(in: "[[reader]]\nmatch = \"\"\n")
        #expect(emptyMatch == .badValue(path: "/etc/necd/necd.toml", line: 2, key: "reader[1].match", reason: "must not be empty"))

        let lane = error(in: "[[reader]]\nmatch = \"A*\"\nlane = \"till\\u0007one\"\n")
        #expect(lane == .badValue(path: "/etc/necd/necd.toml", line: 3, key: "reader[1].lane", reason: "must be 1 to 64 printable characters"))

        let single = error(in: "[reader]\nmatch = \"A*\"\n")
        #expect(single == .wrongType(path: "/etc/necd/necd.toml", line: 1, key: "reader", expected: "[[reader]] tables (note the double brackets)", found: "a table"))
    }

    @Test("TOML syntax errors carry the line")
    func syntaxErrors() {
        guard case .syntax(let path, let line, _, let message) = error(in: "debounce = 1.0\nsocket = \n") else {
            Issue.record("expected a syntax error")
            return
        }
        #expect(path == "/etc/necd/necd.toml")
        #expect(line == 2)
        #expect(!message.isEmpty)

        guard case .syntax(_, let duplicate, _, _) = error(in: "debounce = 1.0\n\ndebounce = 2.0\n") else {
            Issue.record("a duplicate key must be a syntax error")
            return
        }
        #expect(duplicate == 3)
    }

    @Test("The TOML subset: strings, escapes, numbers, arrays over lines, CRLF")
    func tomlSubset() throws {
        let document = try TOMLParser.parse(
            "# comment\r\n\"quoted key\" = \"tab\\there \\u00e9 \\U0001F600 \\\"q\\\"\"  # trailing\r\n"
                + "literal = 'C:\\path\\no escapes'\n"
                + "big = +1_000_000\nneg = -7\nzero = 0\n"
                + "f1 = 2.5\nf2 = -1e-3\nf3 = 6.02E+23\nf4 = -inf\n"
                + "yes = true\nno = false\n"
                + "list = [\n  \"a\",  # first\n  'b',\n\n  [1, 2],\n]\n"
                + "empty = []\n"
                + "[[reader]]\nmatch = \"x\"\n[[reader]]\n[table]\nk = 1\n")
        let entries = document.items.compactMap { item -> TOMLEntry? in
            if case .entry(let entry) = item { return entry }
            return nil
        }
        let values = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value.kind) })
        #expect(values["quoted key"] == .string("tab\there \u{e9} \u{1F600} \"q\""))
        #expect(values["literal"] == .string("C:\\path\\no escapes"))
        #expect(values["big"] == .integer(1_000_000))
        #expect(values["neg"] == .integer(-7))
        #expect(values["zero"] == .integer(0))
        #expect(values["f1"] == .float(2.5))
        #expect(values["f2"] == .float(-0.001))
        #expect(values["f3"] == .float(6.02e23))
        #expect(values["f4"] == .float(-.infinity))
        #expect(values["yes"] == .boolean(true))
        #expect(values["no"] == .boolean(false))
        #expect(values["empty"] == .array([]))
        #expect(
            values["list"]
                == .array([
                    TOMLValue(kind: .string("a"), line: 14), TOMLValue(kind: .string("b"), line: 15),
                    TOMLValue(kind: .array([TOMLValue(kind: .integer(1), line: 17), TOMLValue(kind: .integer(2), line: 17)]), line: 17),
                ]))
        #expect(entries.first { $0.key == "empty" }?.line == 19)
        let tables = document.items.compactMap { item -> String? in
            if case .table(let name, let line, let isArray, let entries) = item { return "\(name)@\(line) \(isArray) \(entries.count)" }
            return nil
        }
        #expect(tables == ["reader@20 true 1", "reader@22 true 0", "table@23 false 1"])
    }

    @Test(
        "Malformed or unsupported TOML is a syntax error with its line",
        arguments: [
            ("[=", 1, "expected a key, found '='"),
            ("[.]", 1, "expected a key, found '.'"),
            ("[]", 1, "expected a key, found ']'"),
            ("[[reader]\n", 1, "expected ']]' to close [[reader]]"),
            ("a = 1\n\nb = ", 3, "expected a value, found end of file"),
            ("a.b = 1", 1, "dotted keys are not supported; use a [table] header"),
            ("a = {b = 1}", 1, "inline tables are not supported"),
            ("a = 1979-05-27", 1, "dates and times are not supported: 1979-05-27"),
            ("a = 07:32:00", 1, "dates and times are not supported: 07:32:00"),
            ("a = 0x1F", 1, "hexadecimal, octal and binary numbers are not supported: 0x1F"),
            ("a = 007", 1, "invalid value 007"),
            ("a = 1__0", 1, "invalid value 1__0"),
            ("a = 1.", 1, "invalid value 1."),
            ("a = yes", 1, "invalid value yes (strings need quotes)"),
            ("a = \"\"\"x\"\"\"", 1, "multi-line strings are not supported"),
            ("a = \"open\nb = 1", 1, "unterminated string"),
            ("a = \"\\q\"", 1, "unknown escape \\'q'"),
            ("a = \"\\uD800\"", 1, "\\u escape is not a Unicode scalar value"),
            ("a = 1 b = 2", 1, "expected end of line, found 'b'"),
            ("a = [1 2]", 1, "expected ',' or ']' in array, found '2'"),
            ("a = 1\na = 2", 2, "duplicate key a"),
            ("[t]\n[t]", 2, "table [t] defined twice"),
            ("[r]\n[[r]]", 2, "[[r]] redefines r"),
            ("a = \"bell\u{07}\"", 1, "control character byte 0x7 in string (write it as an escape)"),
        ])
    func tomlSyntaxErrors(text: String, line: Int, message: String) {
        guard case .syntax(_, let foundLine, _, let foundMessage) = error(in: text) else {
            Issue.record("\(text.debugDescription) was accepted")
            return
        }
        #expect(foundLine == line)
        #expect(foundMessage == message)
    }

    @Test("Hostile input never crashes the parser")
    func hostileInput() {
        // Seeded, so the fuzz rounds are the same on every run.
        var generator = Xoshiro(seed: (0x6E65_6364, 0x9E37_79B9_7F4A_7C15, 0xBF58_476D_1CE4_E5B9, 0x94D0_49BB_1331_11EB))
        let alphabet = Array("[]{}=\"'#.,\n\t abc019_-+:\\eE".utf8)
        for round in 0..<400 {
            let count = Int(generator.next() % 200)
            let bytes: [UInt8] = (0..<count).map { _ in
                round.isMultiple(of: 2)
                    ? alphabet[Int(generator.next() % UInt64(alphabet.count))]
                    : UInt8(truncatingIfNeeded: generator.next())
            }
            do {
                _ = try NECConfiguration.parse(bytes: bytes, path: "fuzz.toml")
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
        // Mutations of a valid file reach deeper into the parser than random bytes do.
        let valid = Array(
            """
            socket = "/run/necd/necd.sock"  # comment
            debounce = 2.0
            trusted_list_keys = ["\(Data(count: 32).base64EncodedString())", 'x']
            [[reader]]
            match = "ACS \\u0041*"
            lane = 'till-1'
            """.utf8)
        let tokens = Array("[]{}=\"'#.,\n\\ -+_eu0".utf8)
        for _ in 0..<2000 {
            var bytes = valid
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let position = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 3 {
                case 0: bytes.remove(at: position)
                case 1: bytes.insert(tokens[Int(generator.next() % UInt64(tokens.count))], at: position)
                default: bytes[position] = tokens[Int(generator.next() % UInt64(tokens.count))]
                }
                if bytes.isEmpty { bytes = valid }
            }
            do {
                _ = try NECConfiguration.parse(bytes: bytes, path: "fuzz.toml")
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
        // Deep nesting is a classic way to blow a recursive parser's stack.
        let deep = "trusted_list_keys = " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(error(in: deep) != nil)
    }
}

/// `[[service]]` tables: lunch windows, parsed into the decision policy.
@Suite("Configuration: service windows")
struct ServiceWindowConfigurationTests {
    @Test("[[service]] tables become the decision policy's windows, days defaulting to every day")
    func windows() throws {
        let configuration = try NECConfiguration.parse(
            """
            [[service]]
            kind = "lunch"
            start = "11:45"
            end = "13:45"
            days = ["mon", "tue", "wed", "thu", "fri"]

            [[service]]
            kind = "lunch"
            start = "00:00"
            end = "24:00"
            """, path: "/etc/necd/necd.toml")
        #expect(configuration.serviceWindows == [
            ServiceWindow(kind: .lunch, startMinute: 705, endMinute: 825, days: [.mon, .tue, .wed, .thu, .fri]),
            ServiceWindow(kind: .lunch, startMinute: 0, endMinute: 1440, days: Set(ServiceWindow.Weekday.allCases)),
        ])
        #expect(configuration.decisionPolicy.serviceWindows == configuration.serviceWindows)
        #expect(NECConfiguration().decisionPolicy.serviceWindows == [])
    }

    @Test("A bad [[service]] table names its key and line")
    func badWindows() {
        let path = "/etc/necd/necd.toml"
        #expect(error(in: "[[service]]\nkind = \"lunch\"\nstart = \"11:45\"\n")
            == .badValue(path: path, line: 1, key: "service[1].end", reason: "is required"))
        #expect(error(in: "[[service]]\nkind = \"breakfast\"\nstart = \"08:00\"\nend = \"09:00\"\n")
            == .badValue(path: path, line: 2, key: "service[1].kind", reason: "must be \"lunch\" (the only service with hours), got \"breakfast\""))
        #expect(error(in: "[[service]]\nkind = \"lunch\"\nstart = \"11.45\"\nend = \"13:45\"\n")
            == .badValue(path: path, line: 3, key: "service[1].start", reason: "must be a local time as \"HH:MM\" (00:00 to 24:00), got \"11.45\""))
        #expect(error(in: "[[service]]\nkind = \"lunch\"\nstart = \"13:00\"\nend = \"12:00\"\n")
            == .badValue(path: path, line: 4, key: "service[1].end", reason: "must be after start (a window that runs past midnight is two windows)"))
        #expect(error(in: "[[service]]\nkind = \"lunch\"\nstart = \"24:00\"\nend = \"24:00\"\n")
            == .badValue(path: path, line: 3, key: "service[1].start", reason: "must be before 24:00"))
        #expect(error(in: "[[service]]\nkind = \"lunch\"\nstart = \"11:00\"\nend = \"12:00\"\ndays = [\"monday\"]\n")
            == .badValue(path: path, line: 5, key: "service[1].days", reason: "each day must be one of \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\""))
        #expect(error(in: "[[service]]\nkind = \"lunch\"\nstart = \"11:00\"\nend = \"12:00\"\ndays = []\n")
            == .badValue(path: path, line: 5, key: "service[1].days", reason: "must name at least one day (leave it out for every day)"))
        #expect(error(in: "[[service]]\nkind = \"lunch\"\nstart = \"11:00\"\nend = \"12:00\"\nlane = \"x\"\n")
            == .unknownKey(path: path, line: 5, key: "service[1].lane"))
        #expect(error(in: "[service]\nkind = \"lunch\"\n")
            == .wrongType(path: path, line: 1, key: "service", expected: "[[service]] tables (note the double brackets)", found: "a table"))
        #expect(error(in: "service = 1\n")
            == .wrongType(path: path, line: 1, key: "service", expected: "[[service]] tables (note the double brackets)", found: "an integer"))
    }
}

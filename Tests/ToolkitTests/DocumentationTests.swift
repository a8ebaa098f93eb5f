import Foundation
import GRDB
import NECCard
import NECTestSupport
import Testing

/// The documentation says what the product does: every JSON example in docs/protocol.md
/// and necd-protocol(7) is JSON, every request shown with its answer is replayed against a
/// running necd and answered as shown, and the facts the docs repeat in several places
/// (card numbers, install paths) agree with each other and with the code.
struct DocumentationTests {
    // MARK: Reading the docs

    static func text(_ relative: String) throws -> String {
        try String(contentsOf: BuiltProducts.packageRoot.appendingPathComponent(relative), encoding: .utf8)
    }

    /// The ```json blocks of a Markdown file, each as its lines (one JSON object a line).
    static func jsonBlocks(markdown: String) -> [[String]] {
        var blocks: [[String]] = []
        var current: [String]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line.trimmingCharacters(in: .whitespaces) == "```json" {
                current = []
            } else if current != nil, line.trimmingCharacters(in: .whitespaces) == "```" {
                blocks.append(current!)
                current = nil
            } else if current != nil, !line.isEmpty {
                current!.append(String(line))
            }
        }
        return blocks
    }

    /// The JSON objects in a man page's `.EX`/`.EE` examples (troff escapes undone; an
    /// object may span lines). Shell and Python examples are skipped.
    static func jsonObjects(manPage: String) -> [String] {
        var objects: [String] = []
        var inExample = false
        var pending = ""
        for raw in manPage.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.hasPrefix(".EX") { inExample = true; pending = ""; continue }
            if line.hasPrefix(".EE") { inExample = false; continue }
            guard inExample else { continue }
            let text = line.replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\\(aq", with: "'")
                .replacingOccurrences(of: "\\e", with: "\\")
            if pending.isEmpty, !text.hasPrefix("{") { continue }
            pending += text.trimmingCharacters(in: .whitespaces)
            if balanced(pending) {
                objects.append(pending)
                pending = ""
            }
        }
        return objects
    }

    private static func balanced(_ text: String) -> Bool {
        var depth = 0
        var inString = false
        var escaped = false
        for character in text {
            if escaped { escaped = false; continue }
            switch character {
            case "\\" where inString: escaped = true
            case "\"": inString.toggle()
            case "{" where !inString: depth += 1
            case "}" where !inString: depth -= 1
            default: break
            }
        }
        return depth == 0
    }

    static func object(_ line: String) throws -> [String: Any] {
        let parsed = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(parsed as? [String: Any], "not a JSON object: \(line)")
    }

    // MARK: Checks that need no daemon

    @Test func everyJSONExampleInTheProtocolDocIsAnObjectWithClassOrCmd() throws {
        let blocks = Self.jsonBlocks(markdown: try Self.text("docs/protocol.md"))
        #expect(blocks.count >= 15, "protocol.md lost its examples?")
        for line in blocks.joined() {
            let parsed = try Self.object(line)
            #expect((parsed["class"] is String) != (parsed["cmd"] is String), "exactly one of class and cmd: \(line)")
        }
    }

    @Test func everyJSONExampleInTheManPageParsesAndUsesOnlyKeysTheProtocolDocUses() throws {
        var keysByClass: [String: Set<String>] = [:]
        for line in Self.jsonBlocks(markdown: try Self.text("docs/protocol.md")).joined() {
            let parsed = try Self.object(line)
            let name = (parsed["class"] as? String) ?? "cmd:" + ((parsed["cmd"] as? String) ?? "")
            keysByClass[name, default: []].formUnion(parsed.keys)
        }
        let objects = Self.jsonObjects(manPage: try Self.text("man/necd-protocol.7"))
        #expect(objects.count >= 3, "necd-protocol(7) lost its examples?")
        for text in objects {
            let parsed = try Self.object(text)
            let name = (parsed["class"] as? String) ?? "cmd:" + ((parsed["cmd"] as? String) ?? "")
            let known = try #require(keysByClass[name], "necd-protocol(7) shows \(name), which protocol.md never shows")
            #expect(Set(parsed.keys).isSubset(of: known), "\(name): keys \(Set(parsed.keys).subtracting(known)) not in protocol.md")
        }
    }

    /// An ISRN in the docs that fails Luhn is a card necd refuses: a reader who copies it
    /// gets an ERROR where the doc shows a success.
    @Test func everyISRNInTheDocsPassesLuhn() throws {
        let files = ["README.md", "docs/protocol.md", "docs/configuration.md", "docs/entitlements.md", "docs/hardware.md",
                     "man/necctl.1", "man/necd.8", "man/necd-protocol.7", "man/necd.toml.5",
                     "examples/python/README.md", "examples/quickstart/list.csv"]
        let pattern = try NSRegularExpression(pattern: #"(?<![0-9])633597(?:[ \\-]*[0-9]){12}(?![0-9])"#)
        var checked = 0
        for file in files {
            guard let text = try? Self.text(file) else { continue }
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let found = String(text[Range(match.range, in: text)!])
                let digits = found.filter(\.isNumber)
                guard digits.count == 18 else { continue }
                checked += 1
                #expect(Luhn.isValid(digits), "\(file): \(found) fails Luhn")
            }
        }
        #expect(checked >= 10, "found only \(checked) ISRNs: the pattern is broken")
    }

    /// `make install`, the README, necd(8), necctl(1), hardware.md and doctor all name one
    /// blacklist file.
    @Test func everyMentionOfThePN533BlacklistNamesTheFileMakeInstallPuts() throws {
        let manifest = try Self.text("mk/install.mk")
        #expect(manifest.contains("udev/blacklist-pn533.conf:$(PREFIX)/lib/modprobe.d/necd-blacklist-pn533.conf"))
        let pattern = try NSRegularExpression(pattern: #"modprobe\\?\.d/([A-Za-z0-9_.\\-]+\.conf)"#)
        for file in ["README.md", "docs/hardware.md", "man/necd.8", "man/necctl.1", "udev/blacklist-pn533.conf",
                     "Sources/necctl/Doctor.swift"] {
            let text = try Self.text(file)
            let names = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).map {
                String(text[Range($0.range(at: 1), in: text)!]).replacingOccurrences(of: "\\-", with: "-")
            }
            #expect(!names.isEmpty, "\(file) names no modprobe.d file")
            for name in names { #expect(name == "necd-blacklist-pn533.conf", "\(file) names \(name)") }
        }
    }

    /// Unit files are installed without docs/: their comments name man pages instead.
    @Test func unitCommentsNameOnlyWhatIsInstalled() throws {
        for file in ["systemd/necd.service", "systemd/necd.socket", "systemd/necd.sysusers", "systemd/necd.tmpfiles",
                     "udev/95-necd-readers.rules", "udev/blacklist-pn533.conf"] {
            let text = try Self.text(file)
            #expect(!text.contains("docs/"), "\(file) points at docs/, which is not installed")
            #expect(!text.contains("README"), "\(file) points at the README, which is not installed")
        }
    }

    @Test func readmeSaysHowToInstallPrebuiltBinaries() throws {
        let readme = try Self.text("README.md")
        #expect(readme.contains("RELEASE_BIN_DIR"))
        #expect(readme.contains("SKIP_BUILD=1"))
    }

    // MARK: Replayed against a running necd

    /// The request/answer pairs of docs/protocol.md, in order: a block of requests followed
    /// by a block whose first object is an answer.
    static func documentedExchanges() throws -> [(request: String, answers: [String])] {
        let blocks = jsonBlocks(markdown: try text("docs/protocol.md"))
        var exchanges: [(String, [String])] = []
        var index = 0
        while index < blocks.count {
            let block = blocks[index]
            if block.count == 1, block[0].contains("\"cmd\""), index + 1 < blocks.count,
                blocks[index + 1].first?.contains("\"class\"") == true
            {
                exchanges.append((block[0], blocks[index + 1]))
                index += 2
            } else {
                index += 1
            }
        }
        return exchanges
    }

    /// The blocks of docs/protocol.md that show a request and its answer together (a
    /// request line, then the event it is answered with), in order: the 1.1 requests.
    static func documentedPairs() throws -> [(request: String, answer: String)] {
        jsonBlocks(markdown: try text("docs/protocol.md")).compactMap { block in
            guard block.count == 2, block[0].contains("\"cmd\""), block[1].contains("\"class\"") else { return nil }
            return (block[0], block[1])
        }
    }

    /// necd with the documented cards on its list (TEST-0001 and TEST-0002, free meals,
    /// milk), 41 events already stored, and a till reader on the rig. The doc's first card
    /// is tapped (event 42, a lunch); then every request the doc shows gets the answer the
    /// doc shows, in the doc's order: the replay from 41, the lookup of the other card, the
    /// void of event 42.
    @Test(.needsDaemon)
    func everyDocumentedRequestGetsTheDocumentedAnswer() async throws {
        let exchanges = try Self.documentedExchanges()
        let commands = exchanges.compactMap { try? Self.object($0.request)["cmd"] as? String }
        for expected in ["watch", "readers", "status", "lookup", "void"] {
            #expect(commands.contains(expected), "protocol.md shows no \(expected) exchange")
        }
        let card = "633597999900000019"
        let scratch = try Scratch()
        let config = try scratch.write("necd.toml", """
            socket = "necd.sock"
            database = "necd.sqlite"
            debounce = 0.2
            [[reader]]
            match = "\(VirtualReaders.readers[0])"
            role = "till"
            lane = "till-1"
            """)
        // P0000042 is the pupil of the 1.1 examples: free meals and paid, a 250p daily
        // limit and 1500p in the account.
        let csv = try scratch.write(
            "list.csv", """
                card,pupil,entitlement,allergens,daily_limit,balance
                \(card),TEST-0001,fsm,milk,,
                633597999900000027,TEST-0002,fsm,milk,,
                633597999900000035,P0000042,fsm+paid,milk,250,1500

                """)
        let imported = try await ChildProcess.necctl(["list", "import", csv, "--database", scratch.file("necd.sqlite")])
        try #require(imported.status == 0, "import: \(imported.stderr)")
        try await storeFillerEvents(41, database: scratch.file("necd.sqlite"))

        let daemon = try ChildProcess(BuiltProducts.executable("necd"), ["--config", config], directory: scratch.path)
        defer { daemon.stop() }
        try await waitForDaemon(config: config)
        let socket = scratch.file("necd.sock")

        let tap = try await ChildProcess.necctl(["simulate", "--isrn", card, "--hold", "0.7", "--port", String(VirtualReaders.ports[0])])
        try #require(tap.status == 0, "simulate: \(tap.stderr)")
        try await waitForEvent(seq: 42, socket: socket)
        for (request, answers) in exchanges {
            let parsedRequest = try Self.object(request)
            let command = parsedRequest["cmd"] as? String ?? ""
            let documented = try answers.map(Self.object)
            let live = try await exchange(request, expecting: documented.count, socket: socket)
            try #require(live.count == documented.count, "\(request): \(live)")
            for (shown, got) in zip(documented, live) {
                let shownClass = shown["class"] as? String
                #expect(got["class"] as? String == shownClass, "\(request): got \(got)")
                let determined = command == "lookup" || command == "void" || shownClass == "ERROR"
                    || (shownClass == "WATCH" && parsedRequest["since"] != nil)
                if determined {
                    // Fully determined by the list and the journal: the same object.
                    #expect(NSDictionary(dictionary: got) == NSDictionary(dictionary: shown), "\(request): doc \(shown), necd \(got)")
                } else if shownClass == "TAP" {
                    // The same event but for when it happened and the rig's reader name.
                    var expected = shown
                    var actual = got
                    for key in ["time", "reader"] {
                        #expect(actual[key] is String, "\(request): TAP has no \(key): \(got)")
                        expected[key] = nil
                        actual[key] = nil
                    }
                    #expect(NSDictionary(dictionary: actual) == NSDictionary(dictionary: expected), "\(request): doc \(shown), necd \(got)")
                } else {
                    // Values that depend on the moment (uptime, since, readers): nothing the
                    // doc does not show.
                    for key in got.keys { #expect(shown[key] != nil, "\(request): necd sends \(key), the doc does not show it") }
                }
            }
        }
        // The 1.1 requests, in the doc's order on one connection: each answered with the
        // event shown but for when it happened and its place in the journal.
        let pairs = try Self.documentedPairs()
        let pairCommands = pairs.compactMap { try? Self.object($0.request)["cmd"] as? String }
        #expect(pairCommands == ["redeem", "redeem", "charge", "charge", "refund"], "protocol.md's 1.1 examples: \(pairCommands)")
        for (request, answer) in pairs {
            var expected = try Self.object(answer)
            let live = try await exchange(request, expecting: 1, socket: socket)
            var got = try #require(live.first, "\(request): no answer")
            #expect(got["seq"] is Int, "\(request): the answer is stored, so it has a seq: \(got)")
            #expect(got["time"] is String, "\(request): no time: \(got)")
            for key in ["seq", "time"] {
                expected[key] = nil
                got[key] = nil
            }
            #expect(NSDictionary(dictionary: got) == NSDictionary(dictionary: expected), "\(request): doc \(answer), necd \(got)")
        }
    }

    /// Writes `count` declined events straight into the journal, as if `count` unknown
    /// cards had been tapped, so the next event is `count + 1`.
    private func storeFillerEvents(_ count: Int, database: String) async throws {
        let queue = try DatabaseQueue(path: database)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try await queue.write { db in
            for index in 0..<count {
                try db.execute(
                    sql: """
                        INSERT INTO event (time_ms, class, reader, media, decision, reason, list_stale)
                        VALUES (?, 'TAP', 'Doc Reader 00 00', 'desfire', 'declined', 'unknown_card', 0)
                        """,
                    arguments: [now - Int64(count - index)])
            }
        }
    }

    /// Sends one request on a fresh connection and reads the banner and `count` answers.
    private func exchange(_ request: String, expecting count: Int, socket: String) async throws -> [[String: Any]] {
        let client = try LineSocket(path: socket)
        defer { client.close() }
        let banner = try Self.object(try #require(client.readLine(timeout: .seconds(10))))
        #expect(banner["class"] as? String == "VERSION")
        try client.send(request)
        var answers: [[String: Any]] = []
        while answers.count < count, let line = client.readLine(timeout: .seconds(10)) {
            answers.append(try Self.object(line))
        }
        return answers
    }

    private func waitForEvent(seq: Int, socket: String) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let status = try await exchange(#"{"cmd":"status"}"#, expecting: 1, socket: socket)
            if (status.first?["last_seq"] as? Int ?? 0) >= seq { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("event \(seq) was not stored within 20 s")
    }
}

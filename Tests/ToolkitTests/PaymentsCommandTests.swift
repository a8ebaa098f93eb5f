import Foundation
import NECTestSupport
import Testing

/// `necctl payments` and `necctl watch` against a real necd: a manual lunch, charges (one
/// over the daily limit), a refund and a void made over the socket, then the day's
/// payments in each format and the watcher's lines, exact.
struct PaymentsCommandTests {
    /// necd with a list of three pupils, its own database and socket, and no pcscd: no tap
    /// of another test on the rig's readers can take a place in this journal.
    final class Daemon {
        let scratch: Scratch
        let config: String
        let process: ChildProcess

        init() async throws {
            scratch = try Scratch()
            config = try scratch.write("necd.toml", """
                socket = "necd.sock"
                database = "necd.sqlite"
                time_zone = "Europe/London"
                """)
            let csv = try scratch.write("list.csv", """
                card,pupil,entitlement,daily_limit,balance
                633597999900000019,TEST-0001,fsm,,
                633597999900000027,TEST-0002,paid,250,1500
                633597999900000035,TEST-0003,fsm+paid,,

                """)
            let imported = try await ChildProcess.necctl(["list", "import", csv, "--config", config])
            try #require(imported.status == 0, "import: \(imported.stderr)")
            process = try ChildProcess(
                BuiltProducts.executable("necd"), ["--config", config],
                environment: ["PCSCLITE_CSOCK_NAME": scratch.file("no-pcscd.comm")])
            try await waitForDaemon(config: config)
        }

        deinit { process.stop() }

        /// Sends `request` on a new connection and returns the answer line.
        func ask(_ request: String) throws -> String {
            let client = try LineSocket(path: scratch.file("necd.sock"))
            defer { client.close() }
            _ = try #require(client.readLine(timeout: .seconds(10)), "no banner")
            try client.send(request)
            return try #require(client.readLine(timeout: .seconds(10)), "no answer to \(request)")
        }

        func necctl(_ arguments: [String]) async throws -> ChildProcess.Result {
            try await ChildProcess.necctl(arguments + ["--config", config])
        }
    }

    /// An answer's `time` as `watch` and `payments` show it: HH:mm:ss in Europe/London.
    static func clock(_ line: String) throws -> String {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return try localTime(#require(object["time"] as? String), format: "HH:mm:ss")
    }

    static func time(_ line: String) throws -> String {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return try #require(object["time"] as? String)
    }

    static func localTime(_ rfc3339: String, format: String) throws -> String {
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return localTime(try #require(parser.date(from: rfc3339), "not a time: \(rfc3339)"), format: format)
    }

    static func localTime(_ date: Date, format: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB_POSIX")
        formatter.timeZone = TimeZone(identifier: "Europe/London")
        formatter.dateFormat = format
        return formatter.string(from: date)
    }

    /// A till's txn or lane that a spreadsheet would run as a formula reaches the CSV as
    /// text: a leading `'`, quoted where RFC 4180 wants it; JSON keeps it as it was.
    @Test(.needsDaemon)
    func aTxnOrLaneThatLooksLikeAFormulaIsTextInTheCSV() async throws {
        let necd = try await Daemon()
        let charge = try necd.ask(#"{"cmd":"charge","pupil":"TEST-0003","amount":120,"txn":"=HYPERLINK(\"http://x\",\"y\")","lane":"@till"}"#)
        let time = try Self.time(charge)
        let day = try Self.localTime(time, format: "yyyy-MM-dd")
        let csv = try await necd.necctl(["payments", "--date", day, "--csv"])
        #expect(csv.status == 0, "\(csv.stderr)")
        #expect(csv.stdout == [
            "record,time,seq,lane,txn,pupil,kind,amount,decision,reason,net,charged,refunded,charges,refunds,declined",
            "payment,\(time),1,'@till,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",*******03,charge,120,authorised,,,,,,,",
            "pupil_total,,,,,*******03,,,,,120,120,0,1,0,0",
            "lane_total,,,'@till,,,,,,,120,120,0,1,0,0",
        ].map { $0 + "\r\n" }.joined())
        let json = try await necd.necctl(["payments", "--date", day, "--json", "--show-card-numbers"])
        #expect(json.lines.first == charge)
    }

    @Test(.needsDaemon)
    func paymentsAndWatchAfterRealChargesAndRefunds() async throws {
        let necd = try await Daemon()
        let lunch = try necd.ask(#"{"cmd":"redeem","pupil":"TEST-0001","lane":"till-7"}"#)
        let charge = try necd.ask(#"{"cmd":"charge","pupil":"TEST-0002","amount":235,"txn":"t-1","lane":"till-7"}"#)
        let overLimit = try necd.ask(#"{"cmd":"charge","pupil":"TEST-0002","amount":400,"txn":"t-2","lane":"till-7"}"#)
        let other = try necd.ask(#"{"cmd":"charge","pupil":"TEST-0003","amount":120,"txn":"t-3,\"b\"","lane":"till-8"}"#)
        let refund = try necd.ask(#"{"cmd":"refund","txn":"t-1"}"#)
        #expect(try necd.ask(#"{"cmd":"void","seq":1}"#) == #"{"class":"VOID","seq":1}"#)

        let (t1, t2, t3, t4, t5) = (try Self.time(lunch), try Self.time(charge), try Self.time(overLimit), try Self.time(other), try Self.time(refund))
        #expect(lunch == #"{"class":"TAP","seq":1,"time":"\#(t1)","lane":"till-7","method":"manual","decision":"authorised","kind":"lunch","pupil":"TEST-0001"}"#)
        #expect(charge == #"{"class":"PAYMENT","seq":2,"time":"\#(t2)","lane":"till-7","txn":"t-1","pupil":"TEST-0002","kind":"charge","amount":235,"decision":"authorised","spent_today":235,"remaining_today":15,"balance":1265}"#)
        #expect(overLimit == #"{"class":"PAYMENT","seq":3,"time":"\#(t3)","lane":"till-7","txn":"t-2","pupil":"TEST-0002","kind":"charge","amount":400,"decision":"declined","reason":"over_daily_limit","spent_today":235,"remaining_today":15,"balance":1265}"#)
        #expect(other == #"{"class":"PAYMENT","seq":4,"time":"\#(t4)","lane":"till-8","txn":"t-3,\"b\"","pupil":"TEST-0003","kind":"charge","amount":120,"decision":"authorised","spent_today":120}"#)
        #expect(refund == #"{"class":"PAYMENT","seq":5,"time":"\#(t5)","lane":"till-7","txn":"t-1","pupil":"TEST-0002","kind":"refund","amount":235,"decision":"authorised","spent_today":0,"remaining_today":250,"balance":1500}"#)

        let days = Set(try [t2, t3, t4, t5].map { try Self.localTime($0, format: "yyyy-MM-dd") })
        try #require(days.count == 1, "the charges straddled midnight in Europe/London; run the test again")
        let day = try #require(days.first)
        let (c1, c2, c3, c4, c5) = (try Self.clock(lunch), try Self.clock(charge), try Self.clock(overLimit), try Self.clock(other), try Self.clock(refund))

        // Text, pupils masked.
        let text = try await necd.necctl(["payments", "--date", day])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.lines == [
            "payments on \(day) (Europe/London)",
            "time      seq  lane    txn      pupil      kind    amount  decision    reason",
            "\(c2)   #2  till-7  t-1      *******02  charge   £2.35  authorised",
            "\(c3)   #3  till-7  t-2      *******02  charge   £4.00  declined    over the daily limit",
            "\(c4)   #4  till-8  t-3,\"b\"  *******03  charge   £1.20  authorised",
            "\(c5)   #5  till-7  t-1      *******02  refund   £2.35  authorised",
            "totals per pupil (authorised charges less refunds)",
            "  *******02  £0.00  1 charge £2.35, 1 refund £2.35, 1 declined",
            "  *******03  £1.20  1 charge £1.20",
            "totals per lane",
            "  till-7  £0.00  1 charge £2.35, 1 refund £2.35, 1 declined",
            "  till-8  £1.20  1 charge £1.20",
        ], "\(text.stdout)")
        #expect(text.stdout.contains("\n\ntotals per pupil"), "a blank line before the totals")
        #expect(!text.stdout.contains("TEST-000"))

        // JSON: the protocol's PAYMENT objects (pupils masked), then the totals.
        let json = try await necd.necctl(["payments", "--date", day, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let masked = { (line: String) in line.replacingOccurrences(of: "TEST-0002", with: "*******02").replacingOccurrences(of: "TEST-0003", with: "*******03") }
        #expect(json.lines == [charge, overLimit, other, refund].map(masked) + [
            #"{"class":"TOTAL","by":"pupil","pupil":"*******02","net":0,"charged":235,"refunded":235,"charges":1,"refunds":1,"declined":1}"#,
            #"{"class":"TOTAL","by":"pupil","pupil":"*******03","net":120,"charged":120,"refunded":0,"charges":1,"refunds":0,"declined":0}"#,
            #"{"class":"TOTAL","by":"lane","lane":"till-7","net":0,"charged":235,"refunded":235,"charges":1,"refunds":1,"declined":1}"#,
            #"{"class":"TOTAL","by":"lane","lane":"till-8","net":120,"charged":120,"refunded":0,"charges":1,"refunds":0,"declined":0}"#,
        ])
        // For the office, in full: the rows are the daemon's own lines, byte for byte.
        let full = try await necd.necctl(["payments", "--date", day, "--json", "--show-card-numbers"])
        #expect(Array(full.lines.prefix(4)) == [charge, overLimit, other, refund])
        #expect(full.lines[4] == #"{"class":"TOTAL","by":"pupil","pupil":"TEST-0002","net":0,"charged":235,"refunded":235,"charges":1,"refunds":1,"declined":1}"#)

        // CSV: RFC 4180, CRLF, the txn with a comma and quotes quoted.
        let csv = try await necd.necctl(["payments", "--date", day, "--csv"])
        #expect(csv.status == 0, "\(csv.stderr)")
        #expect(csv.stdout == [
            "record,time,seq,lane,txn,pupil,kind,amount,decision,reason,net,charged,refunded,charges,refunds,declined",
            "payment,\(t2),2,till-7,t-1,*******02,charge,235,authorised,,,,,,,",
            "payment,\(t3),3,till-7,t-2,*******02,charge,400,declined,over_daily_limit,,,,,,",
            "payment,\(t4),4,till-8,\"t-3,\"\"b\"\"\",*******03,charge,120,authorised,,,,,,,",
            "payment,\(t5),5,till-7,t-1,*******02,refund,235,authorised,,,,,,,",
            "pupil_total,,,,,*******02,,,,,0,235,235,1,1,1",
            "pupil_total,,,,,*******03,,,,,120,120,0,1,0,0",
            "lane_total,,,till-7,,,,,,,0,235,235,1,1,1",
            "lane_total,,,till-8,,,,,,,120,120,0,1,0,0",
        ].map { $0 + "\r\n" }.joined())

        // --pupil: that pupil's rows and totals only.
        let one = try await necd.necctl(["payments", "--date", day, "--pupil", "TEST-0003", "--json", "--show-card-numbers"])
        #expect(one.lines == [
            other,
            #"{"class":"TOTAL","by":"pupil","pupil":"TEST-0003","net":120,"charged":120,"refunded":0,"charges":1,"refunds":0,"declined":0}"#,
            #"{"class":"TOTAL","by":"lane","lane":"till-8","net":120,"charged":120,"refunded":0,"charges":1,"refunds":0,"declined":0}"#,
        ])

        // Another day has none: exit 0, and said so.
        let none = try await necd.necctl(["payments", "--date", "2020-02-29"])
        #expect(none.status == 0)
        #expect(none.stdout == "no payments on 2020-02-29\n")
        let noneJSON = try await necd.necctl(["payments", "--date", "2020-02-29", "--json"])
        #expect(noneJSON.status == 0)
        #expect(noneJSON.stdout.isEmpty)
        #expect(noneJSON.stderr == "no payments on 2020-02-29\n")
        let noneCSV = try await necd.necctl(["payments", "--date", "2020-02-29", "--csv"])
        #expect(noneCSV.stdout == "record,time,seq,lane,txn,pupil,kind,amount,decision,reason,net,charged,refunded,charges,refunds,declined\r\n")

        // Today by default (when today is still the charges' day).
        let today = try await necd.necctl(["payments", "--json"])
        if Self.localTime(Date(), format: "yyyy-MM-dd") == day {
            #expect(today.lines == json.lines)
        }

        // The watcher: a manual lunch, the payments and the void, in words; till-7's only.
        let watch = try ChildProcess(BuiltProducts.necctl, ["watch", "--since", "0", "--reader", "till-7", "--config", necd.config])
        defer { watch.stop() }
        let lines = await watch.waitForLines(5, timeout: .seconds(20))
        let voidClock = try #require(lines.last.map { String($0.prefix(8)) })
        #expect(lines == [
            "\(c1)        #1  till-7                by hand, no card      authorised: free lunch  pupil *******01",
            "\(c2)        #2  till-7                txn t-1               charged £2.35  pupil *******02  spent today £2.35  £0.15 left today  balance £12.65",
            "\(c3)        #3  till-7                txn t-2               charge of £4.00 declined: over the daily limit  pupil *******02  spent today £2.35  £0.15 left today  balance £12.65",
            "\(c5)        #5  till-7                txn t-1               refunded £2.35  pupil *******02  spent today £0.00  £2.50 left today  balance £15.00",
            "\(voidClock)        #6  till-7                                      voided: the lunch of #1 is released  pupil *******01",
        ], "stderr: \(watch.stderr)")
        let json6 = try ChildProcess(
            BuiltProducts.necctl, ["watch", "--json", "--since", "5", "--config", necd.config])
        defer { json6.stop() }
        let voided = await json6.waitForLines(1, timeout: .seconds(20))
        try #require(voided.count == 1, "stderr: \(json6.stderr)")
        let voidTime = try Self.time(voided[0])
        #expect(try Self.clock(voided[0]) == voidClock)
        #expect(voided == [#"{"class":"VOIDED","seq":6,"time":"\#(voidTime)","voided":1,"pupil":"*******01","lane":"till-7"}"#])
        // A PAYMENT through watch --json: the daemon's line with the pupil masked, and as it is with --show-card-numbers.
        let till8 = try ChildProcess(BuiltProducts.necctl, ["watch", "--json", "--since", "0", "--reader", "till-8", "--config", necd.config])
        defer { till8.stop() }
        #expect(await till8.waitForLines(1, timeout: .seconds(20)) == [masked(other)], "stderr: \(till8.stderr)")
        let till8Full = try ChildProcess(
            BuiltProducts.necctl, ["watch", "--json", "--since", "0", "--reader", "till-8", "--show-card-numbers", "--config", necd.config])
        defer { till8Full.stop() }
        #expect(await till8Full.waitForLines(1, timeout: .seconds(20)) == [other], "stderr: \(till8Full.stderr)")
    }

    /// A bad --date, or --json with --csv, is a usage error: status 2, nothing on
    /// standard output, a message that says what to give. No database is opened.
    @Test func badOptionsAreUsageErrors() async throws {
        let scratch = try Scratch()
        for (arguments, message) in [
            (["--date", "2026-13-01"], "--date must be a date as YYYY-MM-DD, such as 2026-12-01 (got '2026-13-01')"),
            (["--date", "yesterday"], "--date must be a date as YYYY-MM-DD, such as 2026-12-01 (got 'yesterday')"),
            (["--date", "2026-2-1"], "--date must be a date as YYYY-MM-DD, such as 2026-12-01 (got '2026-2-1')"),
            (["--json", "--csv"], "--json and --csv contradict each other: give one"),
            (["--pupil", ""], "--pupil must not be empty"),
        ] {
            let result = try await ChildProcess.necctl(["payments"] + arguments + ["--database", scratch.file("absent.sqlite")])
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stdout.isEmpty, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.file("absent.sqlite")))
        // A missing database is a fault, not "no payments".
        let missing = try await ChildProcess.necctl(["payments", "--database", scratch.file("absent.sqlite"), "--config", "/dev/null"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("no database at \(scratch.file("absent.sqlite"))"), "\(missing.stderr)")
    }

    /// necctl(1) names exactly the options `necctl payments --help` lists: in the SYNOPSIS
    /// and in the command's own section (where the common options are not repeated).
    @Test func theManPageNamesExactlyTheOptionsOfTheCommand() async throws {
        let help = try await ChildProcess.necctl(["payments", "--help"])
        #expect(help.status == 0)
        let optionLines = try #require(help.stdout.components(separatedBy: "OPTIONS:").last).split(separator: "\n")
            .map { $0.drop { $0 == " " } }.filter { $0.hasPrefix("-") }
        // The option names come before the two spaces that start the help text.
        let fromHelp = Self.longOptions(optionLines.map { String($0.components(separatedBy: "  ")[0]) }.joined(separator: " "))
            .subtracting(["--config", "--database", "--socket", "--help"])
        #expect(fromHelp == ["--date", "--pupil", "--json", "--csv", "--show-card-numbers"], "\(help.stdout)")

        let page = try DocumentationTests.text("man/necctl.1")
        let synopsisStart = try #require(page.range(of: "\n.B necctl payments\n"))
        let synopsisEnd = try #require(page.range(of: "\n.br\n", range: synopsisStart.upperBound..<page.endIndex))
        #expect(Self.longOptions(String(page[synopsisStart.upperBound..<synopsisEnd.lowerBound])) == fromHelp)
        let sectionStart = try #require(page.range(of: "\n.SS \"necctl payments"))
        let sectionEnd = try #require(page.range(of: "\n.SS ", range: sectionStart.upperBound..<page.endIndex))
        #expect(Self.longOptions(String(page[sectionStart.upperBound..<sectionEnd.lowerBound])) == fromHelp)
    }

    /// Every `--name` in `text`, roff's `\-` read as `-`.
    static func longOptions(_ text: String) -> Set<String> {
        let plain = text.replacingOccurrences(of: "\\-", with: "-")
        let pattern = try? NSRegularExpression(pattern: "(?<![A-Za-z0-9-])--[a-z][a-z0-9-]*")
        let matches = pattern?.matches(in: plain, range: NSRange(plain.startIndex..., in: plain)) ?? []
        return Set(matches.compactMap { Range($0.range, in: plain).map { String(plain[$0]) } })
    }
}

import Foundation
import NECTestSupport
import Testing

/// `necctl simulate` as a person meets it: its usage errors, and necctl(1) describing
/// exactly the options the command takes. No reader needed.
@Suite struct SimulateCommandTests {
    /// Runs the built necctl with `arguments`; returns its status, stdout and stderr.
    func necctl(_ arguments: [String]) async throws -> (Int32, String, String) {
        let process = try ChildProcess(BuiltProducts.executable("necctl"), arguments)
        let status = try #require(await process.wait(timeout: .seconds(20)).status, "necctl \(arguments) did not exit")
        return (status, process.outputLines.joined(separator: "\n"), process.stderr)
    }

    /// The long options in `text`, with roff's `\-` read as `-`.
    static func longOptions(_ text: some StringProtocol) -> Set<String> {
        let plain = text.replacingOccurrences(of: "\\-", with: "-")
        var found: Set<String> = []
        var rest = Substring(plain)
        while let start = rest.range(of: "--") {
            let tail = rest[start.upperBound...]
            let name = tail.prefix { $0.isLetter || $0.isNumber || $0 == "-" }
            if let first = name.first, first.isLetter { found.insert("--" + name) }
            rest = tail.dropFirst(name.count)
        }
        return found
    }

    /// The common options necctl(1) documents once for every command.
    static let commonOptions: Set<String> = ["--config", "--database", "--socket", "--help"]

    @Test func theManPageHasExactlyTheOptionsOfTheCommand() async throws {
        let (status, help, _) = try await necctl(["simulate", "--help"])
        #expect(status == 0)
        let optionsPart = try #require(help.components(separatedBy: "OPTIONS:").last)
        // An option's line starts with it, and two spaces part it from its help text;
        // continuation lines of help text start with spaces alone.
        let fromHelp = Set(optionsPart.split(separator: "\n").flatMap { line -> Set<String> in
            let trimmed = String(line.drop { $0 == " " })
            guard trimmed.hasPrefix("-") else { return [] }
            return Self.longOptions(trimmed.components(separatedBy: "  ")[0])
        }).subtracting(Self.commonOptions)
        #expect(fromHelp.contains("--no-expiry") && fromHelp.contains("--timestamps"), "help: \(help)")

        let page = try String(contentsOfFile: BuiltProducts.packageRoot.appendingPathComponent("man/necctl.1").path, encoding: .utf8)
        // SYNOPSIS: from ".B necctl simulate" to the next ".br".
        let synopsisStart = try #require(page.range(of: "\n.B necctl simulate\n"))
        let synopsisEnd = try #require(page.range(of: "\n.br\n", range: synopsisStart.upperBound..<page.endIndex))
        let synopsis = Self.longOptions(page[synopsisStart.upperBound..<synopsisEnd.lowerBound])
        #expect(synopsis == fromHelp, "SYNOPSIS lacks \(fromHelp.subtracting(synopsis)), has extra \(synopsis.subtracting(fromHelp))")

        // The command's own section names every option, and no option it lacks.
        let sectionStart = try #require(page.range(of: "\n.SS \"necctl simulate"))
        let sectionEnd = try #require(page.range(of: "\n.SS ", range: sectionStart.upperBound..<page.endIndex))
        let section = Self.longOptions(page[sectionStart.upperBound..<sectionEnd.lowerBound]).subtracting(Self.commonOptions)
        #expect(section == fromHelp, "section lacks \(fromHelp.subtracting(section)), has extra \(section.subtracting(fromHelp))")
    }

    @Test func expiredAndNoExpiryTogetherIsAUsageError() async throws {
        let (status, out, err) = try await necctl(["simulate", "--expired", "--no-expiry", "--port", "1"])
        #expect(status == 2)
        #expect(out.isEmpty)
        #expect(err.contains("--expired and --no-expiry contradict each other: give one"), "stderr: \(err)")
    }

    @Test func aShellOptionOnAClassicCardIsAUsageError() async throws {
        let (status, out, err) = try await necctl(["simulate", "--media", "classic", "--no-expiry", "--port", "1"])
        #expect(status == 2)
        #expect(out.isEmpty)
        #expect(err.contains("--no-expiry describes the ITSO shell, which a MIFARE Classic card does not carry"),
                "stderr: \(err)")
    }
}

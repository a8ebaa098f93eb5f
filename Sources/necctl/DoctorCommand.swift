import ArgumentParser
import Foundation
import NECProtocol

/// `necctl doctor`: everything a technician checks on a till whose reader "does not work",
/// one line each, with the fix for anything not ok. Exit 0 healthy, 1 warnings, 2 faults.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check pcscd, the readers, necd, its socket, the list, the database and the clock.",
        discussion: """
            Each check prints ok, warning or FAULT, and for anything not ok the fix in one line.
            Run it as root (or in group necd) to see the socket and the database.
            Exit status: 0 healthy, 1 warnings, 2 faults.
            """
    )

    @Flag(help: "One JSON object per check per line, then a summary object.")
    var json = false

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let findings = await Doctor(options: options).run()
        let colour = !json && isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        for finding in findings {
            if json { Output.write(MessageCoding.line(finding.report)) } else { printOut(finding.text(colour: colour)) }
        }
        let summary = DoctorSummary(findings)
        if json { Output.write(MessageCoding.line(summary.report)) } else { printOut(summary.text) }
        if summary.exitCode != 0 { throw ExitCode(summary.exitCode) }
    }
}

/// How a check came out.
enum CheckStatus: String, Comparable {
    case ok, warning, fault

    static func < (a: CheckStatus, b: CheckStatus) -> Bool { a.rank < b.rank }

    private var rank: Int {
        switch self {
        case .ok: 0
        case .warning: 1
        case .fault: 2
        }
    }
}

/// One check's result: its name, status, what was seen, and for anything not ok the fix.
struct Finding {
    var check: String
    var status: CheckStatus
    var detail: String
    var fix: String?

    static func ok(_ check: String, _ detail: String) -> Finding { Finding(check: check, status: .ok, detail: detail) }

    static func warning(_ check: String, _ detail: String, fix: String) -> Finding {
        Finding(check: check, status: .warning, detail: detail, fix: fix)
    }

    static func fault(_ check: String, _ detail: String, fix: String) -> Finding {
        Finding(check: check, status: .fault, detail: detail, fix: fix)
    }

    /// `{"check":..,"status":..,"detail":..,"fix":..}`; no `fix` when ok.
    var report: DoctorFindingReport {
        DoctorFindingReport(check: check, status: status.rawValue, detail: detail, fix: fix)
    }

    /// `ok       pcscd      running ...`, and for anything not ok an indented `fix:` line.
    func text(colour: Bool) -> String {
        let label: String
        let paint: String
        switch status {
        case .ok: (label, paint) = ("ok", "\u{1B}[32m")
        case .warning: (label, paint) = ("WARNING", "\u{1B}[33m")
        case .fault: (label, paint) = ("FAULT", "\u{1B}[31;1m")
        }
        let padded = label.padding(toLength: 8, withPad: " ", startingAt: 0)
        var line = (colour ? paint + padded + "\u{1B}[0m" : padded)
            + check.padding(toLength: 11, withPad: " ", startingAt: 0) + " " + detail
        if let fix { line += "\n" + String(repeating: " ", count: 20) + "fix: " + fix }
        return line
    }
}

/// The counts and the exit status.
struct DoctorSummary {
    var ok = 0
    var warnings = 0
    var faults = 0

    init(_ findings: [Finding]) {
        for finding in findings {
            switch finding.status {
            case .ok: ok += 1
            case .warning: warnings += 1
            case .fault: faults += 1
            }
        }
    }

    var status: CheckStatus { faults > 0 ? .fault : warnings > 0 ? .warning : .ok }
    var exitCode: Int32 { faults > 0 ? 2 : warnings > 0 ? 1 : 0 }

    var text: String {
        switch status {
        case .ok: "healthy: \(ok) checks ok"
        case .warning: "\(warnings) warning\(warnings == 1 ? "" : "s"), \(ok) ok"
        case .fault: "\(faults) fault\(faults == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s"), \(ok) ok"
        }
    }

    /// `{"check":"summary","status":..,"ok":..,"warnings":..,"faults":..,"exit":..}`.
    var report: DoctorSummaryReport {
        DoctorSummaryReport(status: status.rawValue, ok: ok, warnings: warnings, faults: faults, exit: exitCode)
    }
}

import ArgumentParser
import Entitlements
import Foundation
import NECCard
import NECProtocol
import ProtocolMapping

/// `necctl payments`: one day's charges and refunds, as necd stored them, with totals per
/// pupil and per lane, for the school office and the technician. It reads the state
/// database directly, in a read snapshot that never holds up necd's writes, so it works
/// whether or not necd runs.
struct PaymentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payments",
        abstract: "List one day's charges and refunds, with totals per pupil and per lane.",
        discussion: """
            One row per charge or refund, in the order necd decided them: time, seq, lane, txn, \
            pupil, kind, amount, decision and reason. Then, per pupil and per lane, the authorised \
            charges less the refunds, with how many of each and how many were declined. \
            The day is a local date in necd's time zone (time_zone), today by default; a refund \
            counts on the day it was made. Pupil references are masked (******42) in every format \
            unless --show-card-numbers is given. \
            --json prints the PAYMENT objects of the protocol, then TOTAL objects ("by":"pupil" or \
            "by":"lane"); --csv prints RFC 4180 CSV, amounts in whole pence. \
            Exit status: 0 (also when there are none), 2 a bad option or the database cannot be read.
            """
    )

    @Option(help: ArgumentHelp("The local date, YYYY-MM-DD (default today).", valueName: "YYYY-MM-DD"))
    var date: String?

    @Option(help: ArgumentHelp("Only this pupil's charges and refunds.", valueName: "pupil"))
    var pupil: String?

    @Flag(help: "One JSON object per line: the payments, then the totals.")
    var json = false

    @Flag(help: "CSV (RFC 4180) with a header line: the payments, then the totals.")
    var csv = false

    @Flag(help: "Show pupil references in full (the school office); masked by default, in --json and --csv too.")
    var showCardNumbers = false

    @OptionGroup var options: ConfigOptions

    func validate() throws {
        if json && csv { throw ValidationError("--json and --csv contradict each other: give one") }
        if let date, CivilDate(iso: date) == nil {
            throw ValidationError("--date must be a date as YYYY-MM-DD, such as 2026-12-01 (got '\(date)')")
        }
        if let pupil, pupil.isEmpty { throw ValidationError("--pupil must not be empty") }
    }

    func run() throws {
        let opened = try StoreAccess.open(options)
        let policy = opened.policy
        let day = date.flatMap { CivilDate(iso: $0) } ?? policy.localDate(of: Date())
        let events: [StoredEvent]
        do {
            events = try opened.store.payments(PaymentQuery(day: day, pupil: pupil), policy: policy)
        } catch {
            printError("necctl: cannot read the payments from \(opened.configuration.database): \(Doctor.oneLine(error))")
            throw ExitCode(2)
        }
        let report = PaymentReport(
            payments: events.map(PaymentEvent.init), showPupils: showCardNumbers, timeZone: policy.timeZone)
        let none = "no payments on \(day)" + (pupil.map { " for pupil " + report.pupil($0) } ?? "")
        if json {
            for line in report.jsonLines() { Output.write(line) }
            if report.payments.isEmpty { printError(none) }
        } else if csv {
            Output.write(Array(report.csv().utf8))
            if report.payments.isEmpty { printError(none) }
        } else if report.payments.isEmpty {
            printOut(none)
        } else {
            printOut("payments on \(day) (\(policy.timeZone.identifier))")
            printOut(report.text())
        }
    }
}

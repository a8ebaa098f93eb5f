import ArgumentParser
import Foundation
import Glibc
import NECCard
import NECCardReading
import NECProtocol
import PCSC

/// `necctl scan`: waits for cards and decodes each one for a technician.
struct ScanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Wait for cards and decode each one: ATR, UID, ISRN, expiry, MCRN, media and every check.",
        discussion: """
            Keeps running through pcscd restarts and readers coming and going. A card \
            removed during the read prints an error and no identity. Exit status with \
            --once: 0 when the card was read, 1 when the read failed.
            """
    )

    @Flag(help: "Exit after the first card.")
    var once = false

    @Flag(help: "One JSON object per card on standard output.")
    var json = false

    @Option(help: "Only this reader: its full name, a prefix of it, or a glob such as 'ACS*'.")
    var reader: String?

    @Flag(help: "Show every APDU with its direction, time taken and meaning.")
    var trace = false

    @Option(help: ArgumentHelp("Append every tap's commands and answers to this file, one JSON line per tap.", valueName: "file"))
    var record: String?

    @Flag(help: "With --record: replace the card's ISRN and UID in the file with synthetic ones that decode the same way.")
    var redact = false

    /// Accepted as by every command (necctl(1), COMMON OPTIONS); this one uses none of the files.
    @OptionGroup var options: ConfigOptions

    func validate() throws {
        if redact, record == nil { throw ValidationError("--redact says how to write --record's file: give --record FILE") }
    }

    func run() async throws {
        let filter = reader
        let trace = self.trace
        // The file first: one that cannot be written is an error before any card is read.
        var recorder: ScanRecorder? = nil
        if let record {
            do { recorder = try ScanRecorder(path: record, redact: redact) } catch {
                printError("necctl scan: \(error)")
                throw ExitCode(1)
            }
        }
        let exchanges = trace || recorder != nil
        let monitor = ReaderMonitor<TapReading?> { card in
            guard ReaderFilter.matches(card.reader, filter) else { return nil }
            return TapReading.read(card, trace: exchanges, directory: .inform)
        }
        // SIGINT / SIGTERM end the scan cleanly (SCardCancel through stop()).
        let signals = SignalStop(monitor: monitor)
        defer { signals.cancel() }
        // Every message for the person goes to standard error, so --json's standard
        // output holds only the cards.
        var readers = ReaderWait(filter: filter)
        let waitingForCards = json ? nil : "waiting for cards (Ctrl-C to stop)"
        // What pcscd has before the monitor starts: the monitor reports the readers it
        // finds, but says nothing when there are none.
        if let message = readers.start(listing: ReaderWait.listNow()) {
            printError(message)
        } else if let waitingForCards {
            printError(waitingForCards)
        }
        for await event in monitor {
            switch event {
            case .cardPresent(let name, _, let reading?):
                if case .failure(let failure) = reading.result, failure.cardLeftBeforeRead {
                    printError("\(name): card left before it could be read (\(failure.message))")
                    continue
                }
                if let recorder {
                    do { try recorder.record(reading) } catch {
                        printError("necctl scan: \(error); stopping, the taps before this one are in \(recorder.file.path)")
                        monitor.stop()
                        throw ExitCode(1)
                    }
                    printError("\(name): tap recorded in \(recorder.file.path)" + (redact ? " (redacted)" : ""))
                }
                let shown = trace ? reading : ScanRecorder.withoutTrace(reading)
                if json { Output.write(MessageCoding.line(ScanOutput.report(shown))) } else { printOut(ScanOutput.text(shown)) }
                if once {
                    monitor.stop()
                    throw ExitCode(reading.identity == nil ? 1 : 0)
                }
            case .cardPresent:
                break
            case .cardRemoved(let name):
                if !json, ReaderFilter.matches(name, filter) { printError("\(name): card removed") }
            case .readerAdded(let name):
                let ended = readers.added(name)
                printError("reader added: \(name)" + (ReaderFilter.matches(name, filter) ? "" : readers.ignoredNote))
                if ended, let waitingForCards { printError(waitingForCards) }
            case .readerRemoved(let name):
                printError("reader removed: \(name)")
                if let message = readers.gone(name) { printError(message) }
            case .readerUnavailable(let name):
                printError("reader unavailable: \(name)")
                if let message = readers.gone(name) { printError(message) }
            case .serviceLost(let error):
                readers.serviceLost()
                printError("pcscd unreachable (\(error)); waiting for it to come back")
            case .serviceRestored:
                printError("pcscd reachable again")
                if let message = readers.restored(listing: ReaderWait.listNow()) { printError(message) }
            }
        }
    }
}

/// Matches reader names against `--reader`: exact, prefix, or glob.
enum ReaderFilter {
    static func matches(_ name: String, _ filter: String?) -> Bool {
        guard let filter, !filter.isEmpty else { return true }
        if name == filter || name.hasPrefix(filter) { return true }
        return fnmatch(filter, name, 0) == 0
    }
}

/// Whether `scan` has a reader to wait on, so that it says so when it has none (as
/// pcsc_scan does) instead of waiting in silence: once when the wait begins (at start,
/// when the last matching reader goes, or when pcscd comes back without one), and
/// "reader added" when it ends.
struct ReaderWait {
    let filter: String?
    /// The matching readers known to be usable.
    private var usable: Set<String> = []
    /// True while the "Waiting for a reader" message stands.
    private(set) var waiting = false

    init(filter: String?) {
        self.filter = filter
    }

    /// The readers pcscd lists now, or nil when pcscd cannot be reached (the monitor
    /// reports that itself).
    static func listNow() -> [String]? {
        guard let context = try? PCSCContext.establish() else { return nil }
        defer { try? context.release() }
        do {
            return try context.listReaders()
        } catch .noReadersAvailable {
            return []
        } catch {
            return nil
        }
    }

    /// At start: the message to print when no reader matches, else nil.
    mutating func start(listing: [String]?) -> String? {
        guard let listing else { return nil }
        usable = Set(listing.filter { ReaderFilter.matches($0, filter) })
        return beginWaitIfNone(listing: listing)
    }

    /// pcscd is back: the message when it has no matching reader.
    mutating func restored(listing: [String]?) -> String? {
        guard let listing else { return nil }
        usable.formUnion(listing.filter { ReaderFilter.matches($0, filter) })
        return beginWaitIfNone(listing: listing)
    }

    /// A reader appeared; true when it ends a wait.
    mutating func added(_ name: String) -> Bool {
        guard ReaderFilter.matches(name, filter) else { return false }
        usable.insert(name)
        defer { waiting = false }
        return waiting
    }

    /// A reader went or became unusable: the message when no matching reader is left.
    mutating func gone(_ name: String) -> String? {
        guard usable.remove(name) != nil else { return nil }
        return beginWaitIfNone(listing: nil)
    }

    /// pcscd went away, and every reader with it; the monitor's own message says so. A
    /// wait for a reader that began before goes on: it ends when a reader comes.
    mutating func serviceLost() {
        usable = []
    }

    /// Appended to "reader added" for a reader `--reader` leaves out.
    var ignoredNote: String {
        filter.map { " (does not match --reader '\($0)': ignored)" } ?? ""
    }

    private mutating func beginWaitIfNone(listing: [String]?) -> String? {
        guard usable.isEmpty, !waiting else { return nil }
        waiting = true
        guard let filter, !filter.isEmpty else { return "Waiting for a reader... (Ctrl-C to stop)" }
        var message = "Waiting for a reader matching '\(filter)'..."
        if let listing {
            message += listing.isEmpty
                ? " (pcscd sees no reader)"
                : " (pcscd has: " + listing.joined(separator: ", ") + ")"
        }
        return message
    }
}

/// Stops a monitor on SIGINT or SIGTERM.
final class SignalStop {
    private let sources: [any DispatchSourceSignal]

    init<R>(monitor: ReaderMonitor<R>) {
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { monitor.stop() }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    func cancel() { sources.forEach { $0.cancel() } }
}

/// How `scan` shows a card.
enum ScanOutput {
    static func milliseconds(_ d: Duration) -> Double {
        let c = d.components
        let ms = Double(c.seconds) * 1000 + Double(c.attoseconds) / 1e15
        return (ms * 1000).rounded() / 1000
    }

    static func report(_ reading: TapReading) -> ScanReport {
        let kind = ATRKind(atr: reading.atr)
        var row = ScanReport(
            reader: reading.reader, time: UTCTimestamp.string(secondsSince1970: reading.time.timeIntervalSince1970), atr: Hex.string(reading.atr),
            atrMeaning: kind.meaning, apdus: 0, readMs: milliseconds(reading.readDuration)
        )
        switch reading.result {
        case .success(let id):
            row.media = id.media.rawValue
            row.uid = id.uidHex
            row.uidRandom = id.uidRandom
            row.isrn = id.isrn?.digits
            row.isrnGrouped = id.isrn?.grouped
            row.oid = id.isrn?.oid
            row.issn = id.isrn?.issn
            row.expiry = id.expiry?.description
            row.expired = id.noExpiry ? false : id.expiry.map { $0 < Today.utc() }
            row.noExpiry = id.noExpiry ? true : nil
            row.mcrn = id.mcrn
            row.checks = id.checks.map { ScanReport.Check(name: $0.name, ok: $0.ok, reason: $0.reason) }
            row.readable = id.isReadable
            row.unreadableReason = id.unreadableReason
            row.apdus = id.apduCount
            switch id.directory {
            case .read(let directory, let location):
                row.cardBlocked = directory.isBlocked
                row.directory = location
                row.directorySequence = Int(directory.sequence)
                row.ins = directory.shellIteration.map(Int.init)
            case .failed(let reason): row.directoryError = reason
            case .notRead, .absent: break
            }
            if id.media == .classic { row.itsoNotRead = ScanOutput.classicITSONotRead }
        case .failure(let failure):
            row.error = failure.message
            row.apdus = failure.apdus
        }
        if !reading.exchanges.isEmpty {
            row.trace = reading.exchanges.map {
                ScanReport.Exchange(
                    command: Hex.string($0.command), response: $0.response.map { Hex.string($0) },
                    error: $0.error, ms: milliseconds($0.duration), meaning: $0.meaning
                )
            }
        }
        return row
    }

    /// What `scan` says about the ITSO data on a MIFARE Classic NEC.
    static let classicITSONotRead = "not read: MIFARE Classic ITSO sectors need keys necd does not have; the UID is all it reads"

    static func text(_ reading: TapReading) -> String {
        var lines: [String] = []
        func add(_ label: String, _ value: String) {
            lines.append("  " + label.padding(toLength: 8, withPad: " ", startingAt: 0) + value)
        }
        lines.append("\(reading.reader): card at \(UTCTimestamp.string(secondsSince1970: reading.time.timeIntervalSince1970))")
        add("ATR", Hex.spaced(reading.atr))
        add("", ATRKind(atr: reading.atr).meaning)
        if !reading.exchanges.isEmpty {
            lines.append("  APDU trace (> to the card, < from it):")
            for x in reading.exchanges {
                let ms = String(format: "%.2f ms", milliseconds(x.duration))
                lines.append("    > \(Hex.spaced(x.command))")
                if let r = x.response {
                    lines.append("    < \(Hex.spaced(r))   [\(ms)] \(x.meaning)")
                } else {
                    lines.append("    < (\(x.error ?? "no answer"))   [\(ms)] \(x.meaning)")
                }
            }
        }
        switch reading.result {
        case .failure(let failure):
            add("ERROR", failure.message)
            add("", "no identity read")
        case .success(let id):
            add("media", id.media.rawValue)
            if let uid = id.uid {
                add("UID", Hex.spaced(uid) + " (\(uid.count) bytes)" + (id.uidRandom ? "  RANDOM: new on every tap, not an identity" : ""))
            } else {
                add("UID", "none")
            }
            if let isrn = id.isrn {
                add("ISRN", isrn.grouped)
                add("OID", isrn.oid + "   ISSN \(isrn.issn)")
            } else {
                add("ISRN", "none")
            }
            if let expiry = id.expiry {
                add("expiry", expiry.description + (expiry < Today.utc() ? "  EXPIRED" : ""))
            } else if id.noExpiry {
                add("expiry", "none (ITSO day 0: no expiry)")
            }
            if let mcrn = id.mcrn { add("MCRN", mcrn) }
            if id.uidRandom { add("", "the UID is a random ID: never looked up, shown or stored as this card") }
            if id.media == .classic { add("ITSO", classicITSONotRead) }
            switch id.directory {
            case .read(let directory, let location):
                add("blocked", directory.isBlocked ? "YES: the issuer has blocked this card" : "no")
                add("INS#", directory.shellIteration.map { String($0) } ?? "not on the card (directory has no InstanceID)")
                add("DIRS#", "\(directory.sequence)   (directory in \(location))")
            case .failed(let reason):
                add("blocked", "unknown: directory not read (\(reason))")
            case .absent, .notRead:
                break
            }
            lines.append("  checks:")
            for check in id.checks {
                let mark = check.ok ? "pass" : "FAIL"
                lines.append("    \(mark)  \(check.name)" + (check.reason.map { ": \($0)" } ?? ""))
            }
            if let why = id.unreadableReason {
                add("verdict", "UNREADABLE: \(why)")
            } else {
                add("verdict", "readable")
            }
        }
        let apdus = (try? reading.result.get().apduCount) ?? {
            if case .failure(let f) = reading.result { return f.apdus }
            return 0
        }()
        add("APDUs", "\(apdus) in " + String(format: "%.2f ms", milliseconds(reading.readDuration)))
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Today's date in UTC, for "expired" flags in technician output (the daemon uses
/// the configured time zone for decisions).
enum Today {
    static func utc() -> CivilDate {
        CivilDate(daysSinceUnixEpoch: Int((Date().timeIntervalSince1970 / 86_400).rounded(.down)))
    }
}

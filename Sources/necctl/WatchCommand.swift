import ArgumentParser
import Foundation
import NECCard
import NECClient
import NECConfiguration
import NECProtocol
import Synchronization

/// `necctl watch`: follows necd's events, like gpspipe. It fails at once when necd cannot be
/// reached at the start (a typo in --socket should not look like a quiet canteen), and once
/// running it rides out daemon restarts, resuming after the last event it showed, and says
/// (once) when necd goes away and when it is back.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow necd's events: taps, kiosk identifications, payments, voids and reader changes.",
        discussion: """
            On a terminal, one coloured line per event in fixed columns: time, seq, lane or reader, \
            card (or how the pupil was served), what happened in words, pupil and notes; a charge or \
            refund shows its amount in pounds and pence, the day's spending and the balance. \
            With --json, the daemon's protocol lines, \
            one JSON object per line. Card numbers, UIDs and pupil references are masked in both \
            (633597******5674) unless --show-card-numbers is given. \
            Reconnects by itself when necd restarts, without losing or repeating a stored event, \
            and says on standard error when necd is gone and when it is back.
            Exit status: 2 when necd cannot be reached at the start.
            """
    )

    @Option(help: ArgumentHelp("First replay the stored events with a seq greater than N.", valueName: "N"))
    var since: Int64?

    @Flag(help: "Print the protocol's JSON lines.")
    var json = false

    @Option(help: ArgumentHelp("Only events from this reader (pcscd name or lane label).", valueName: "name"))
    var reader: String?

    @Flag(help: "Show card numbers, UIDs and pupil references in full (the card office); masked by default, in --json too.")
    var showCardNumbers = false

    @OptionGroup var options: ConfigOptions

    func validate() throws {
        if let since, since < 0 { throw ValidationError("--since must be 0 or more") }
    }

    func run() async throws {
        let configuration = try options.resolveOrExit()
        let socket = configuration.socket
        let client = NECClient(socketPath: socket)
        do {
            _ = try await Doctor.withTimeout(.seconds(5)) { try await client.status() }
        } catch let error as NECClientError {
            if let problem = SocketProblem.diagnose(socket, group: configuration.socketGroup) {
                printError("necctl: cannot reach necd: \(problem.summary)")
                printError("  \(problem.fix)")
            } else {
                printError("necctl: cannot reach necd on \(socket): \(error.description)")
                printError("  is necd running? (systemctl status necd.socket necd; necctl doctor)")
            }
            throw ExitCode(2)
        } catch {
            printError("necctl: necd did not answer on \(socket) within 5 s")
            throw ExitCode(2)
        }
        let format = EventFormat(
            colour: isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil,
            timeZone: configuration.timeZone, showCardNumbers: showCardNumbers)
        let notices = ConnectionNotices(socket: socket, group: configuration.socketGroup)
        do {
            for try await event in client.events(since: since, connectionChanges: { notices.note($0) }) {
                if let reader, !Self.event(event, isFrom: reader) { continue }
                if json {
                    Output.write(format.jsonLine(event))
                } else {
                    printOut(format.line(event))
                }
            }
        } catch let error as NECClientError {
            printError("necctl: \(error.description)")
            throw ExitCode(2)
        } catch {
            printError("necctl: watching stopped: \(Doctor.oneLine(error))")
            throw ExitCode(2)
        }
    }

    static func event(_ event: DaemonEvent, isFrom name: String) -> Bool {
        switch event {
        case .tap(let tap): tap.reader == name || tap.lane == name
        case .reader(let change): change.name == name
        case .payment(let payment): payment.lane == name
        case .voided(let voided): voided.lane == name
        }
    }
}

/// Says once that necd has gone, and once that it is back, however many reconnection
/// attempts there are in between (on standard error, so --json output stays clean).
final class ConnectionNotices: Sendable {
    private let socket: String
    private let group: String
    /// True from the first WATCH answer until the connection is lost (and at the start:
    /// `watch` has just had necd answer `status`).
    private let watching = Mutex(true)

    init(socket: String, group: String) {
        self.socket = socket
        self.group = group
    }

    func note(_ change: NECClient.ConnectionChange) {
        let wasWatching = watching.withLock { state in
            defer { state = change == .watching }
            return state
        }
        switch change {
        case .lost where wasWatching:
            printError("necctl: " + lostMessage())
        case .watching where !wasWatching:
            printError("necctl: necd is back; following its events again")
        default:
            break
        }
    }

    private func lostMessage() -> String {
        guard let problem = SocketProblem.diagnose(socket, group: group) else {
            return "lost the connection to necd; reconnecting..."
        }
        if problem.necdIsDown {
            return "necd is not running (\(problem.summary)); waiting for it..."
        }
        return "cannot reach necd: \(problem.summary); waiting... (\(problem.fix))"
    }
}

/// How `watch` shows events to people: fixed columns, words instead of protocol codes, and
/// card numbers, UIDs and pupil references masked as necd's logs mask them (unless the
/// card office asks for them).
struct EventFormat {
    var colour: Bool
    var timeZone: TimeZone
    var showCardNumbers = false

    static let green = "\u{1B}[32m"
    static let red = "\u{1B}[31m"
    static let yellow = "\u{1B}[33m"
    private static let reset = "\u{1B}[0m"

    /// Column widths. A value longer than its column (a reader name of 30 characters) pushes
    /// the rest of its own line along; every other line keeps its columns.
    static let seqWidth = 8
    static let whereWidth = 20
    var cardWidth: Int { showCardNumbers ? 24 : 20 }

    /// The event as the daemon's JSON line, with the card and pupil masked unless shown.
    func jsonLine(_ event: DaemonEvent) -> [UInt8] {
        switch event {
        case .tap(let tap): MessageCoding.line(showCardNumbers ? tap : Self.masked(tap))
        case .reader(let change): MessageCoding.line(change)
        case .payment(let payment): MessageCoding.line(showCardNumbers ? payment : Self.masked(payment))
        case .voided(let voided): MessageCoding.line(showCardNumbers ? voided : Self.masked(voided))
        }
    }

    /// `tap` with its ISRN, UID and pupil masked (`633597******5674`, `******42`).
    static func masked(_ tap: TapEvent) -> TapEvent {
        var copy = tap
        copy.card.isrn = tap.card.isrn.map(ISRN.mask)
        copy.card.uid = tap.card.uid.map(ISRN.mask)
        copy.pupil = tap.pupil.map(ISRN.mask)
        return copy
    }

    func line(_ event: DaemonEvent) -> String {
        switch event {
        case .tap(let tap):
            var columns = [
                clock(tap.time), Self.right(tap.seq.map { "#\($0)" } ?? "", Self.seqWidth), Self.left(tap.lane ?? tap.reader, Self.whereWidth),
                Self.left(tap.isManual ? Self.byHand : card(tap.card), cardWidth),
            ]
            let entitled = tap.decision == .authorised
            columns.append(paint(Self.outcome(tap), entitled ? Self.green : Self.red))
            if let pupil = tap.pupil { columns.append("pupil " + (showCardNumbers ? pupil : ISRN.mask(pupil))) }
            if let limit = tap.dailyLimit { columns.append("daily limit \(Pence.pounds(limit))") }
            if let allergens = tap.allergens, !allergens.isEmpty { columns.append("allergens: " + allergens.joined(separator: ", ")) }
            if let message = tap.message { columns.append("\"\(message)\"") }
            if tap.listStale == true && tap.reason != .listStale { columns.append(paint("list out of date", Self.yellow)) }
            return columns.joined(separator: "  ")
        case .reader(let change):
            var text = "reader: " + Self.readerState(change.state)
            if let role = change.role { text += " (\(role.rawValue))" }
            if let atr = change.atr { text += ", ATR \(atr)" }
            let columns = [
                clock(nil), Self.left("", Self.seqWidth), Self.left(change.name, Self.whereWidth), Self.left("", cardWidth),
                paint(text, Self.yellow),
            ]
            return columns.joined(separator: "  ")
        case .payment(let payment):
            return line(payment)
        case .voided(let voided):
            return line(voided)
        }
    }

    /// `633597******5674`, `uid 04A1B2******E580`, or in full `633597 9999 0000 0018`.
    private func card(_ card: CardInfo) -> String {
        if let isrn = card.isrn { return showCardNumbers ? ISRN(unchecked: isrn).grouped : ISRN.mask(isrn) }
        if let uid = card.uid { return "uid " + (showCardNumbers ? uid : ISRN.mask(uid)) }
        return "no card number"
    }

    /// What happened, in words: `authorised: free lunch`, `declined: card expired`, and for
    /// a kiosk (which redeems nothing) `identified: entitled to a free lunch (nothing redeemed)`.
    static func outcome(_ tap: TapEvent) -> String {
        let kiosk = tap.messageClass == .identify
        if tap.decision == .authorised {
            let kind = tap.kind ?? .lunch
            if kiosk {
                switch kind {
                case .lunch: return "identified: entitled to a free lunch (nothing redeemed)"
                case .payment: return "identified: may pay from their account (nothing redeemed)"
                default: return "identified: entitled (\(words(kind.rawValue)); nothing redeemed)"
                }
            }
            switch kind {
            case .lunch: return "authorised: free lunch"
            case .payment: return "authorised: pays from their account"
            default: return "authorised: \(words(kind.rawValue))"
            }
        }
        if tap.decision == .declined {
            let reason = tap.reason.map(reasonWords) ?? "no reason given"
            return kiosk ? "identified: would be declined (\(reason))" : "declined: \(reason)"
        }
        return words(tap.decision.rawValue)
    }

    /// A decline reason in words.
    static func reasonWords(_ reason: DeclineReason) -> String {
        switch reason {
        case .unreadable: "card unreadable"
        case .cardExpired: "card expired"
        case .unknownCard: "card not on the list"
        case .hotlisted: "card hotlisted (lost, stolen or replaced)"
        case .notEntitled: "not entitled today"
        case .alreadyRedeemed: "already had today's lunch"
        case .unavailable: "could not be recorded (necd's database is unavailable)"
        case .listStale: "the list is out of date"
        case .listUntrusted: "the list in force is not signed by a trusted key"
        case .unknownPupil: "pupil not on the list"
        case .outsideService: "outside the lunch service hours"
        case .overDailyLimit: "over the daily limit"
        case .insufficientFunds: "not enough money in the account"
        default: words(reason.rawValue)
        }
    }

    private static func readerState(_ state: ReaderStatus) -> String {
        switch state {
        case .empty: "no card"
        case .present: "card present"
        case .unavailable: "unavailable"
        default: words(state.rawValue)
        }
    }

    /// A protocol code a newer daemon may send, readable: `some_code` becomes `some code`.
    static func words(_ code: String) -> String {
        code.replacingOccurrences(of: "_", with: " ")
    }

    static func left(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    static func right(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    func paint(_ text: String, _ code: String) -> String {
        colour ? code + text + Self.reset : text
    }

    /// The event's time (RFC 3339 UTC) as local HH:mm:ss in necd's zone; now for READER
    /// events, which carry no time.
    func clock(_ rfc3339: String?) -> String {
        var date = Date()
        if let rfc3339 {
            let parser = ISO8601DateFormatter()
            parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let parsed = parser.date(from: rfc3339) {
                date = parsed
            } else {
                parser.formatOptions = [.withInternetDateTime]
                date = parser.date(from: rfc3339) ?? date
            }
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB_POSIX")
        formatter.timeZone = timeZone
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: date)
    }
}

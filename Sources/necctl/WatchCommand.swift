import ArgumentParser
import Foundation
import NECCard
import NECClient
import NECDaemon
import NECProtocol

/// `necctl watch`: follows necd's events, like gpspipe. It fails at once when necd cannot be
/// reached at the start (a typo in --socket should not look like a quiet canteen), and once
/// running it rides out daemon restarts, resuming after the last event it showed.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow necd's events: taps, kiosk identifications and reader changes.",
        discussion: """
            On a terminal, one coloured line per event (green authorised, red declined, yellow reader \
            changes). With --json, the daemon's protocol lines, one JSON object per line. \
            Reconnects by itself when necd restarts, without losing or repeating a stored event.
            Exit status: 2 when necd cannot be reached at the start.
            """
    )

    @Option(help: ArgumentHelp("First replay the stored events with a seq greater than N.", valueName: "N"))
    var since: Int64?

    @Flag(help: "Print the protocol's JSON lines.")
    var json = false

    @Option(help: ArgumentHelp("Only events from this reader (pcscd name or lane label).", valueName: "name"))
    var reader: String?

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
            timeZone: configuration.timeZone)
        do {
            for try await event in client.events(since: since) {
                if let reader, !Self.event(event, isFrom: reader) { continue }
                if json {
                    let line: [UInt8]
                    switch event {
                    case .tap(let tap): line = MessageCoding.line(tap)
                    case .reader(let change): line = MessageCoding.line(change)
                    }
                    Output.write(line)
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
        }
    }
}

/// One readable line per event, for a person at a terminal.
struct EventFormat {
    var colour: Bool
    var timeZone: TimeZone

    private static let green = "\u{1B}[32m"
    private static let red = "\u{1B}[31m"
    private static let yellow = "\u{1B}[33m"
    private static let reset = "\u{1B}[0m"

    func line(_ event: DaemonEvent) -> String {
        switch event {
        case .tap(let tap):
            var parts = [clock(tap.time), tap.messageClass.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0), "#\(tap.seq)"]
            parts.append(tap.lane.map { "\(tap.reader) [\($0)]" } ?? tap.reader)
            if let isrn = tap.card.isrn {
                parts.append(ISRN(unchecked: isrn).grouped)
            } else if let uid = tap.card.uid {
                parts.append("uid \(uid)")
            }
            var outcome = tap.decision.rawValue
            if let kind = tap.kind { outcome += " \(kind.rawValue)" }
            if let reason = tap.reason { outcome += " \(reason.rawValue)" }
            parts.append(paint(outcome.uppercased(), tap.decision == .authorised ? Self.green : Self.red))
            if let pupil = tap.pupil { parts.append("pupil \(pupil)") }
            if let limit = tap.dailyLimit { parts.append("limit \(LookupCommand.pence(limit))") }
            if let allergens = tap.allergens, !allergens.isEmpty { parts.append("allergens: " + allergens.joined(separator: ", ")) }
            if let message = tap.message { parts.append("\"\(message)\"") }
            if tap.listStale == true { parts.append(paint("LIST STALE", Self.yellow)) }
            return parts.joined(separator: "  ")
        case .reader(let change):
            var text = "\(clock(nil))  READER    \(change.name): \(change.state.rawValue)"
            if let role = change.role { text += " (\(role.rawValue))" }
            if let atr = change.atr { text += "  ATR \(atr)" }
            return paint(text, Self.yellow)
        }
    }

    private func paint(_ text: String, _ code: String) -> String {
        colour ? code + text + Self.reset : text
    }

    /// The event's time (RFC 3339 UTC) as local HH:mm:ss in necd's zone; now for READER
    /// events, which carry no time.
    private func clock(_ rfc3339: String?) -> String {
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

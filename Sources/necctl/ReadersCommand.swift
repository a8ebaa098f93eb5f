import ArgumentParser
import Foundation
import NECCard
import NECConfiguration
import PCSC

/// `necctl readers`: the readers pcscd knows, their state, the role and lane necd gives
/// them (from the configuration's `[[reader]]` tables), and the ATR of any card on them.
struct ReadersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readers",
        abstract: "List the readers pcscd knows: state, role and lane, and the ATR of any card on them.",
        discussion: """
            The role (till or kiosk) and lane come from the [[reader]] tables of the configuration \
            (--config); a reader no table matches is a till without a lane.
            Exit status: 0 readers listed, 1 no reader, 2 pcscd not reachable or a bad configuration.
            """
    )

    @Flag(help: "One JSON object per reader.")
    var json = false

    @OptionGroup var options: ConfigOptions

    private struct Row: Encodable {
        let reader: String
        let state: String
        let role: String
        let lane: String?
        let atr: String?
        let atr_meaning: String?
        let flags: String
    }

    func run() throws {
        let configuration = try options.resolveOrExit()
        let context: PCSCContext
        do {
            context = try PCSCContext.establish()
        } catch {
            printError("necctl: cannot reach pcscd: \(error)")
            printError("  is pcscd installed and running? (systemctl status pcscd.socket)")
            throw ExitCode(2)
        }
        defer { try? context.release() }
        let names: [String]
        do {
            names = try context.listReaders()
        } catch .noReadersAvailable {
            names = []
        } catch {
            printError("necctl: pcscd could not list readers: \(error)")
            throw ExitCode(2)
        }
        if names.isEmpty {
            if json { printOut(#"{"readers":[]}"#) } else { printOut("no readers (pcscd is running but sees no reader)") }
            throw ExitCode(1)
        }
        var states = names.map { ReaderState(reader: $0) }
        do {
            try context.statusChange(&states, timeout: 0)
        } catch .timeout {
            // Nothing changed since "unaware" cannot happen, but a timeout still fills the states.
        } catch {
            printError("necctl: pcscd could not report reader states: \(error)")
            throw ExitCode(2)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        for state in states {
            let flags = state.eventState
            let stateName = ReaderStateName.of(flags)
            let atr = flags.contains(.present) && !state.atr.isEmpty ? state.atr : nil
            let settings = configuration.readerSettings(for: state.reader)
            let row = Row(
                reader: state.reader, state: stateName, role: settings.role.rawValue, lane: settings.lane,
                atr: atr.map { Hex.spaced($0) }, atr_meaning: atr.map { ATRKind(atr: $0).meaning }, flags: flags.description
            )
            if json {
                printOut(String(decoding: try encoder.encode(row), as: UTF8.self))
            } else {
                let lane = row.lane.map { ", lane \($0)" } ?? ", no lane"
                printOut("\(row.reader): \(row.state) (\(row.role)\(lane))")
                if let atr = row.atr, let meaning = row.atr_meaning {
                    printOut("  ATR \(atr)")
                    printOut("      \(meaning)")
                }
            }
        }
    }
}

/// The protocol's reader state names: `empty`, `present`, `unavailable`.
enum ReaderStateName {
    static func of(_ flags: ReaderStateFlags) -> String {
        if flags.contains(.unavailable) || flags.contains(.unknown) || flags.contains(.ignore) { return "unavailable" }
        if flags.contains(.present) { return "present" }
        return "empty"
    }
}

import ArgumentParser
import Foundation
import NECCard
import NECConfiguration
import NECProtocol
import PCSC
import ProtocolMapping

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
            if json { Output.write(MessageCoding.line(ReaderReportList())) } else { printOut("no readers (pcscd is running but sees no reader)") }
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
        for state in states {
            let flags = state.eventState
            let presence = ReaderStateName.of(flags)
            let atr = flags.contains(.present) && !state.atr.isEmpty ? state.atr : nil
            let settings = configuration.readerSettings(for: state.reader)
            let row = ReaderReport(
                reader: state.reader, state: ReaderStatus(presence), role: ReaderRole(settings.role), lane: settings.lane,
                atr: atr.map { Hex.spaced($0) }, atrMeaning: atr.map { ATRKind(atr: $0).meaning }, flags: flags.description
            )
            if json {
                Output.write(MessageCoding.line(row))
            } else {
                let lane = row.lane.map { ", lane \($0)" } ?? ", no lane"
                printOut("\(row.reader): \(row.state) (\(row.role)\(lane))")
                if let atr = row.atr, let meaning = row.atrMeaning {
                    printOut("  ATR \(atr)")
                    printOut("      \(meaning)")
                }
            }
        }
    }
}

/// What pcscd's flags say a reader holds.
enum ReaderStateName {
    static func of(_ flags: ReaderStateFlags) -> ReaderPresence {
        if flags.contains(.unavailable) || flags.contains(.unknown) || flags.contains(.ignore) { return .unavailable }
        if flags.contains(.present) { return .present }
        return .empty
    }
}

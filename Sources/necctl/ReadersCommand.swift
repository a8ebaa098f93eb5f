import ArgumentParser
import Foundation
import NECCard
import PCSC

/// `necctl readers`: the readers pcscd knows, their state and ATR.
struct ReadersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readers",
        abstract: "List the readers pcscd knows, their state and the ATR of any card on them."
    )

    @Flag(help: "One JSON object per reader.")
    var json = false

    private struct Row: Encodable {
        let reader: String
        let state: String
        let atr: String?
        let atr_meaning: String?
        let flags: String
    }

    func run() throws {
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
            let row = Row(
                reader: state.reader, state: stateName, atr: atr.map { Hex.spaced($0) },
                atr_meaning: atr.map { ATRKind(atr: $0).meaning }, flags: flags.description
            )
            if json {
                printOut(String(decoding: try encoder.encode(row), as: UTF8.self))
            } else {
                printOut("\(row.reader): \(row.state)")
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

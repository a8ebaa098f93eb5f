import ArgumentParser
import Foundation
import NECCard
import NECCardRecording
import Synchronization
import VirtualCard

/// `necctl simulate --replay FILE`: the taps of a recording played back through vpcd.
extension SimulateCommand {
    func validateReplay() throws {
        let modelOptions = [(isrn != nil, "--isrn"), (uid != nil, "--uid"), (list != nil, "--list"), (media != "desfire", "--media")]
            .filter(\.0).map(\.1) + shellFlags
        if let first = modelOptions.first {
            throw ValidationError("\(first) describes a virtual card, --replay plays a recorded one: give one or the other")
        }
        if let tap, tap < 1 { throw ValidationError("--tap must be at least 1") }
    }

    /// The recorded taps --reader and --tap choose, with their numbers in the file.
    func chosenTaps(_ taps: [RecordedTap], file: String) throws -> [(number: Int, tap: RecordedTap)] {
        var chosen = Array(taps.enumerated().map { (number: $0.offset + 1, tap: $0.element) })
        if let reader {
            chosen = chosen.filter { ReaderFilter.matches($0.tap.reader, reader) }
            guard !chosen.isEmpty else {
                let names = Set(taps.map(\.reader)).sorted().joined(separator: ", ")
                throw ReplayProblem(description: "\(file) has no tap recorded on a reader matching '\(reader)' (it has: \(names))")
            }
        }
        if let tap {
            guard let one = chosen.first(where: { $0.number == tap }) else {
                throw ReplayProblem(description: "\(file) has no tap \(tap)" + (reader == nil ? "" : " on that reader")
                    + " (it holds \(taps.count) tap\(taps.count == 1 ? "" : "s"))")
            }
            chosen = [one]
        }
        return chosen
    }

    struct ReplayProblem: Error, CustomStringConvertible { let description: String }

    func runReplay(_ file: String) async throws {
        let chosen: [(number: Int, tap: RecordedTap)]
        do {
            chosen = try chosenTaps(try CardRecording.read(path: file), file: file)
        } catch {
            printError("necctl simulate: \(error)")
            throw ExitCode(1)
        }
        var answered = 0
        var missing: [[UInt8]] = []
        var taps = 0
        for round in 0..<count {
            for (index, (number, recorded)) in chosen.enumerated() {
                // --gap: the pause between taps the user asked for (pacing, not a wait for an event).
                if round > 0 || index > 0 { try await Task.sleep(for: .seconds(gap)) }
                let unrecorded = Mutex<[[UInt8]]>([])
                let card = ReplayedCard(recorded) { command in unrecorded.withLock { $0.append(command) } }
                let stats: VirtualCardSession.Statistics
                do {
                    let session = try await VirtualCardSession.insert(replaying: card, host: host, port: port)
                    stats = await session.hold(for: .seconds(hold))
                } catch {
                    printError("necctl simulate: \(error)")
                    throw ExitCode(2)
                }
                taps += 1
                let notFound = unrecorded.withLock { $0 }
                for command in notFound {
                    printError("necctl simulate: tap \(number) of the recording has no answer to \(Hex.spaced(command)) "
                        + "(\(APDUMeaning.describe(command: command))): answered \(Hex.spaced(CardReplay.unrecordedStatus))")
                }
                answered += stats.apdusAnswered - notFound.count
                missing += notFound
                var line = "tap \(taps): recorded tap \(number) (\(recorded.reader), \(recorded.exchanges.count) exchange"
                    + "\(recorded.exchanges.count == 1 ? "" : "s")\(recorded.redacted ? ", redacted" : "")) on \(host):\(port): "
                    + "\(stats.apdusAnswered - notFound.count) APDUs answered from the recording, \(notFound.count) not in it"
                if case .removalFault? = stats.ending { line += "; left the reader where the recorded card did" }
                if timestamps {
                    line += " last_answer_unix_ns=" + (stats.lastAnsweredAt.map { String($0.unixNanoseconds) } ?? "-")
                }
                printOut(line)
            }
        }
        printOut("replayed \(taps) tap\(taps == 1 ? "" : "s") of \(file): \(answered) APDUs answered from the recording, "
            + "\(missing.count) not in it" + (missing.isEmpty ? "" : " (" + Set(missing.map { Hex.string($0) }).sorted().joined(separator: ", ") + ")"))
        if !missing.isEmpty { throw ExitCode(1) }
    }
}

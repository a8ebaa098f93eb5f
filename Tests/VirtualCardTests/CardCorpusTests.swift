import Foundation
import NECCard
import NECCardRecording
import Testing
import VirtualCard

/// The recorded corpus (Tests/CardCorpus) replayed through the decoder alone: every
/// recording must decode to the identity in the file beside it. Through pcscd and vpcd,
/// EndToEndTests.CorpusReplayEndToEndTests replays the same files.
@Suite struct CardCorpusTests {
    /// Every recording in the folder, with its expectation; fails on an empty folder, a
    /// recording without an expectation, or an expectation without a recording.
    static func corpus() throws -> [(name: String, taps: [RecordedTap], expected: CorpusExpectation)] {
        let names = try FileManager.default.contentsOfDirectory(atPath: CardCorpus.folder.path).sorted()
        let recordings = names.filter { $0.hasSuffix(".jsonl") }.map { String($0.dropLast(".jsonl".count)) }
        let expectations = names.filter { $0.hasSuffix(".expected.json") }.map { String($0.dropLast(".expected.json".count)) }
        try #require(!recordings.isEmpty, "no recording in \(CardCorpus.folder.path)")
        let unexpected = Set(recordings).subtracting(expectations).sorted(), unrecorded = Set(expectations).subtracting(recordings).sorted()
        try #require(unexpected.isEmpty && unrecorded.isEmpty,
                     "recordings without an expectation: \(unexpected); expectations without a recording: \(unrecorded)")
        return try recordings.map { name in
            let taps = try CardRecording.read(path: CardCorpus.folder.appendingPathComponent(name + ".jsonl").path)
            let data = try Data(contentsOf: CardCorpus.folder.appendingPathComponent(name + ".expected.json"))
            return (name, taps, try JSONDecoder().decode(CorpusExpectation.self, from: data))
        }
    }

    /// What the decoder makes of a recorded tap, in the expectation's terms.
    static func decoded(_ tap: RecordedTap) -> (CorpusExpectation, CardReplay) {
        var transport = ReplayTransport(tap)
        do {
            // As necctl scan reads a card: the ITSO Directory too.
            let identity = try CardReader.read(atr: tap.atr, transport: &transport, directory: .inform)
            return (CorpusExpectation(identity), transport.replay)
        } catch {
            guard case .transport(let underlying, let apdus) = error else { return (CorpusExpectation(readErrorAfter: -1), transport.replay) }
            #expect(underlying is ReplayTransport.RecordedFailure, "\(underlying)")
            return (CorpusExpectation(readErrorAfter: apdus), transport.replay)
        }
    }

    @Test func everyRecordingDecodesToItsExpectedIdentity() throws {
        let corpus = try Self.corpus()
        for (name, taps, expected) in corpus {
            #expect(taps.count == 1, "\(name): \(taps.count) taps")
            let (got, replay) = Self.decoded(taps[0])
            #expect(got == expected, "\(name): decoded \(got), expected \(expected)")
            #expect(replay.unrecorded.isEmpty, "\(name): the decoder asked for what the card was never asked: \(replay.unrecorded.map { Hex.spaced($0) })")
        }
    }

    @Test func theCorpusHoldsNoRealCardNumber() throws {
        for (name, taps, expected) in try Self.corpus() {
            // Every ISRN is synthetic (OID 9999) or one of Flipso's public demo shells.
            if let isrn = expected.isrn {
                #expect(isrn.hasPrefix("6335979999") || ["633597022602000029", "633597028707000079"].contains(isrn), "\(name): \(isrn)")
            }
            // Generated from the models, or a technician's recording redacted by necctl.
            #expect(taps.allSatisfy { $0.necdRelease == "corpus" || $0.redacted }, "\(name) is neither generated nor redacted")
        }
    }

    /// What the generator makes now is what the folder holds, so the corpus is the
    /// models' (run scripts/gen-card-corpus after changing a model or the decoder).
    @Test func theFolderIsWhatTheGeneratorMakes() throws {
        for entry in CardCorpus.entries {
            let recording = try Data(contentsOf: CardCorpus.folder.appendingPathComponent(entry.name + ".jsonl"))
            #expect(Array(recording) == CardRecording.line(entry.tap), "\(entry.name).jsonl is stale: run scripts/gen-card-corpus")
            let expected = try Data(contentsOf: CardCorpus.folder.appendingPathComponent(entry.name + ".expected.json"))
            #expect(expected == entry.expected.json + Data("\n".utf8), "\(entry.name).expected.json is stale")
        }
    }

    /// scripts/gen-card-corpus: writes the corpus from the models.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["NECD_WRITE_CARD_CORPUS"] == "1"))
    func writeTheCorpus() throws {
        try CardCorpus.write()
    }
}

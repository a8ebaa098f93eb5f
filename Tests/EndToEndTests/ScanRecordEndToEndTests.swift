import Foundation
import NECCard
import NECCardRecording
import NECTestSupport
import Testing
import VirtualCard

/// `necctl scan --record FILE [--redact]` through a real pcscd and vpcd, and the recording
/// played back with `necctl simulate --replay` to the same identity.
@Suite(.serialized, .needsRig)
struct ScanRecordEndToEndTests {
    let port = VirtualReaders.ports.first ?? 40960
    let reader = VirtualReaders.readers.first ?? "Virtual Reader 00 00"

    static func temporaryFile() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("necctl-record-\(UUID().uuidString).jsonl").path
    }

    /// `scan --once --json` with `extra` options while `tap` lays a card: the JSON printed.
    func scanOnce(_ extra: [String], tap: () async throws -> Void) async throws -> [String: Any] {
        try await scanOnceWithStandardError(extra, tap: tap).json
    }

    /// As `scanOnce`, with what scan wrote on standard error.
    func scanOnceWithStandardError(_ extra: [String], tap: () async throws -> Void) async throws -> (json: [String: Any], stderr: String) {
        try await VirtualReaders.waitUntilEmpty([reader])
        let scan = try ChildProcess(BuiltProducts.necctl, ["scan", "--once", "--json", "--reader", reader] + extra)
        defer { scan.stop() }
        #expect(await scan.waitForStandardError(containing: "reader added: \(reader)", timeout: .seconds(10)))
        try await tap()
        _ = await scan.wait(timeout: .seconds(10))
        let lines = scan.outputLines
        try #require(lines.count == 1, "scan printed \(lines), stderr: \(scan.stderr)")
        return (try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]), scan.stderr)
    }

    static let card = VirtualCardModel.desfireITSO(
        uid: [0x04, 0x5E, 0x11, 0x7A, 0x2C, 0x90, 0x81],
        shell: VirtualShell(isrn: syntheticISRN(4242), expiry: CivilDate(iso: "2031-03-31")!))

    @Test func everyExchangeOfTheTapIsRecordedAndReplaysToTheSameCard() async throws {
        let file = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let first = try await scanOnce(["--record", file]) {
            try await VirtualCardRunner.tap(card: Self.card, port: port, hold: .milliseconds(600))
        }
        #expect(first["trace"] == nil, "--record alone shows no trace")
        let taps = try CardRecording.read(path: file)
        try #require(taps.count == 1)
        let tap = taps[0]
        #expect(tap.format == 1 && tap.necdRelease == "0.1.0" && tap.reader == reader && !tap.redacted)
        #expect(tap.atr == Self.card.atr)
        // As scan reads every card: the shell, then the ITSO Directory (file 0x00 for the
        // usual geometry) with its InstanceID, 64 bytes in two frames.
        let commands = [
            CardUID.getDataCommand, DESFire.selectITSO, DESFire.readShell, DESFire.readData(file: 0x00, length: 64),
            DESFire.additionalFrame,
        ]
        #expect(tap.exchanges.map(\.command) == commands)
        #expect(tap.exchanges.map(\.response) == Self.card.respond(to: commands))
        #expect(tap.exchanges.allSatisfy { $0.ms >= 0 && $0.error == nil })

        // Played back, the recording is the same card to scan.
        let replayed = try await scanOnce([]) {
            let simulate = try ChildProcess(BuiltProducts.necctl, ["simulate", "--replay", file, "--port", String(port), "--hold", "0.6"])
            let result = await simulate.wait(timeout: .seconds(20))
            #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
            #expect(result.lines == [
                "tap 1: recorded tap 1 (\(reader), 5 exchanges) on 127.0.0.1:\(port): 5 APDUs answered from the recording, 0 not in it",
                "replayed 1 tap of \(file): 5 APDUs answered from the recording, 0 not in it",
            ])
        }
        for key in ["media", "uid", "isrn", "expiry", "readable", "apdus", "atr"] {
            #expect("\(replayed[key] ?? "-")" == "\(first[key] ?? "-")", "\(key)")
        }
        #expect(replayed["isrn"] as? String == syntheticISRN(4242).digits)

        // A second tap is appended, never written over the first.
        _ = try await scanOnce(["--record", file]) {
            try await VirtualCardRunner.tap(card: Self.card, port: port, hold: .milliseconds(600))
        }
        #expect(try CardRecording.read(path: file).count == 2)
    }

    @Test func aRedactedRecordingHoldsOtherNumbersAndDecodesTheSame() async throws {
        let file = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let bad = Self.card.with(.badLuhn)
        let (shown, stderr) = try await scanOnceWithStandardError(["--record", file, "--redact"]) {
            try await VirtualCardRunner.tap(card: bad, port: port, hold: .milliseconds(600))
        }
        #expect(stderr.contains("\(reader): tap recorded in \(file) (redacted)\n"), "\(stderr)")
        // The technician sees the card as it is; only the file is redacted.
        #expect(shown["uid"] as? String == "045E117A2C9081")
        let tap = try #require(try CardRecording.read(path: file).first)
        #expect(tap.redacted)
        let line = String(decoding: CardRecording.line(tap), as: UTF8.self)
        #expect(!line.contains("045E117A2C9081") && !line.contains("5E117A2C9081"))
        #expect(!line.contains("99990004242"))
        var original = ReplayTransport(CardCorpusRecord.of(bad))
        var redacted = ReplayTransport(tap)
        let a = try CardReader.read(atr: bad.atr, transport: &original)
        let b = try CardReader.read(atr: tap.atr, transport: &redacted)
        #expect(a.checks.map(\.name) == b.checks.map(\.name) && a.checks.map(\.ok) == b.checks.map(\.ok))
        #expect(b.checks.first { !$0.ok }?.name == "luhn")
        #expect(b.isrn?.oid == "9999" && b.isrn != a.isrn && b.uid?.first == 0x04 && b.uid != a.uid)
    }
}

extension ScanRecordEndToEndTests {
    /// A recording that lacks the shell's read: the reader asks it, the replay answers
    /// 6D 00 and says so, on standard error and in the summary, and exits 1.
    @Test func aCommandTheCardWasNeverAskedIsAnsweredAndReported() async throws {
        let file = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        var tap = CardCorpusRecord.of(Self.card)
        // The UID and the select only: the shell's read (and the Directory's after it) are gone.
        tap.exchanges = Array(tap.exchanges.prefix(2))
        try Data(CardRecording.line(tap)).write(to: URL(fileURLWithPath: file))
        var replayed: ChildProcess.Result? = nil
        let json = try await scanOnce([]) {
            let simulate = try ChildProcess(BuiltProducts.necctl, ["simulate", "--replay", file, "--port", String(port), "--hold", "0.6"])
            replayed = await simulate.wait(timeout: .seconds(20))
        }
        let result = try #require(replayed)
        #expect(result.status == 1)
        #expect(result.stderr == "necctl simulate: tap 1 of the recording has no answer to 90 BD 00 00 07 0F 00 00 00 00 00 00 00 "
            + "(read file 0x0F (shell)): answered 6D 00\n")
        #expect(result.lines.last == "replayed 1 tap of \(file): 2 APDUs answered from the recording, 1 not in it (90BD0000070F00000000000000)")
        let failed = (json["checks"] as? [[String: Any]] ?? []).filter { $0["ok"] as? Bool == false }.compactMap { $0["name"] as? String }
        #expect(failed == ["shell_read"])
    }
}

/// A model read by the decoder, as the recording of it holds it (for comparing with what
/// scan recorded).
enum CardCorpusRecord {
    static func of(_ model: VirtualCardModel) -> RecordedTap {
        // As scan reads every card: the shell, then the ITSO Directory (file 0x00 for the
        // usual geometry) with its InstanceID, 64 bytes in two frames.
        let commands = [
            CardUID.getDataCommand, DESFire.selectITSO, DESFire.readShell, DESFire.readData(file: 0x00, length: 64),
            DESFire.additionalFrame,
        ]
        return RecordedTap(necdRelease: "test", time: "-", reader: "-", atr: model.atr, exchanges: zip(commands, model.respond(to: commands)).map {
            RecordedExchange(command: $0.0, response: $0.1)
        })
    }
}

/// `scan --record` and `simulate --replay` refusing what they cannot do, before any reader.
@Suite struct RecordOptionTests {
    func necctl(_ arguments: [String]) async throws -> (Int32, String, String) {
        let process = try ChildProcess(BuiltProducts.executable("necctl"), arguments)
        let status = try #require(await process.wait(timeout: .seconds(20)).status, "necctl \(arguments) did not exit")
        return (status, process.outputLines.joined(separator: "\n"), process.stderr)
    }

    @Test func aRecordingFileThatCannotBeOpenedIsAnErrorBeforeAnyCard() async throws {
        let (status, out, err) = try await necctl(["scan", "--record", "/nonexistent-necd-dir/tap.jsonl"])
        #expect(status == 1)
        #expect(out.isEmpty)
        #expect(err == "necctl scan: cannot open /nonexistent-necd-dir/tap.jsonl to record into: No such file or directory\n")
    }

    @Test func redactWithoutRecordIsAUsageError() async throws {
        let (status, _, err) = try await necctl(["scan", "--redact"])
        #expect(status == 2)
        #expect(err.contains("--redact says how to write --record's file: give --record FILE"), "\(err)")
    }

    @Test func replayRefusesModelOptionsAndBadFiles() async throws {
        var (status, _, err) = try await necctl(["simulate", "--replay", "x.jsonl", "--isrn", "633597999900000019"])
        #expect(status == 2)
        #expect(err.contains("--isrn describes a virtual card, --replay plays a recorded one: give one or the other"), "\(err)")
        (status, _, err) = try await necctl(["simulate", "--tap", "2", "--port", "1"])
        #expect(status == 2)
        #expect(err.contains("--reader and --tap choose taps of a recording: give --replay FILE"), "\(err)")
        (status, _, err) = try await necctl(["simulate", "--replay", "/nonexistent-necd-dir/x.jsonl", "--port", "1"])
        #expect(status == 1)
        #expect(err == "necctl simulate: /nonexistent-necd-dir/x.jsonl: cannot open it: No such file or directory\n")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("necctl-bad-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data("\n{\"not\":\"a tap\"}\n".utf8).write(to: URL(fileURLWithPath: file))
        (status, _, err) = try await necctl(["simulate", "--replay", file, "--port", "1"])
        #expect(status == 1)
        #expect(err == "necctl simulate: \(file) line 2: no \"recording_format\": not a card recording\n")
    }

    @Test func replayChoosesTapsByNumberAndReader() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("necctl-two-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let tap = RecordedTap(necdRelease: "t", time: "t", reader: "ACS ACR1252 00 00", atr: [0x3B, 0x00], exchanges: [])
        try Data(CardRecording.line(tap) + CardRecording.line(tap)).write(to: URL(fileURLWithPath: file))
        var (status, _, err) = try await necctl(["simulate", "--replay", file, "--tap", "3", "--port", "1"])
        #expect(status == 1)
        #expect(err == "necctl simulate: \(file) has no tap 3 (it holds 2 taps)\n")
        (status, _, err) = try await necctl(["simulate", "--replay", file, "--reader", "Virtual*", "--port", "1"])
        #expect(status == 1)
        #expect(err == "necctl simulate: \(file) has no tap recorded on a reader matching 'Virtual*' (it has: ACS ACR1252 00 00)\n")
    }
}

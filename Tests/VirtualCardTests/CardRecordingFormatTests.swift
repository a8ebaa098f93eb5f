import Foundation
import NECCard
import NECCardRecording
import Testing

/// The recording file's format, its writer, and the replay's matching rule.
@Suite struct CardRecordingFormatTests {
    static let tap = RecordedTap(
        necdRelease: "0.1.0", time: "2026-12-02T06:01:02.345Z", reader: "ACS ACR122U 00 00", atr: [0x3B, 0x81, 0x80, 0x01, 0x80, 0x80],
        readMs: 3.25, exchanges: [
            RecordedExchange(command: CardUID.getDataCommand, response: [0x04, 0x11, 0x90, 0x00], ms: 0.5),
            RecordedExchange(command: DESFire.selectITSO, response: nil, error: "card removed", ms: 1.0),
        ])

    @Test func aTapIsOneLineWithTheDocumentedKeys() throws {
        let line = String(decoding: CardRecording.line(Self.tap), as: UTF8.self)
        #expect(line == #"{"atr":"3B8180018080","exchanges":[{"command":"FFCA000000","ms":0.5,"response":"04119000"},"#
            + #"{"command":"905A0000031602A000","error":"card removed","ms":1}],"necd_release":"0.1.0","read_ms":3.25,"#
            + #""reader":"ACS ACR122U 00 00","recording_format":1,"redacted":false,"time":"2026-12-02T06:01:02.345Z"}"# + "\n")
        #expect(try CardRecording.tap(fromLine: Array(line.utf8).dropLast()) == Self.tap)
    }

    @Test func hostileLinesAreRefusedWithTheirReason() {
        func reason(_ text: String) -> String? {
            do { _ = try CardRecording.tap(fromLine: Array(text.utf8)); return nil } catch { return error.reason }
        }
        let good = String(decoding: CardRecording.line(Self.tap).dropLast(), as: UTF8.self)
        #expect(reason("hello") == "not JSON: not a card recording")
        #expect(reason("{}") == "no \"recording_format\": not a card recording")
        #expect(reason(good.replacingOccurrences(of: #""recording_format":1"#, with: #""recording_format":2"#))
                == "recording_format 2 is not 1, the only one this necctl reads")
        #expect(reason(good.replacingOccurrences(of: "04119000", with: "0411900")) == "exchange 1: response is not hex ending in a status word: 0411900")
        #expect(reason(good.replacingOccurrences(of: "04119000", with: "90")) == "exchange 1: response is not hex ending in a status word: 90")
        #expect(reason(good.replacingOccurrences(of: #""command":"FFCA000000""#, with: #""command":"""#)) == "exchange 1: command is not hex bytes: ")
        #expect(reason(good.replacingOccurrences(of: #""atr":"3B8180018080""#, with: #""atr":7"#)) == "\"atr\" has the wrong type: not a card recording")
        #expect(reason(good.replacingOccurrences(of: #","ms":0.5"#, with: "")) == "no \"exchanges[0].ms\": not a card recording")
        #expect(reason(good.replacingOccurrences(of: #""ms":0.5"#, with: #""ms":-1"#)) == "exchange 1: ms is not a time")
        #expect(reason(good.replacingOccurrences(of: #""error":"card removed","#, with: "")) == "exchange 2: neither a response nor an error")
    }

    @Test func theFileIsAppendedTapByTapAndReadBack() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rec-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try CardRecordingFile(appendingTo: path).append(Self.tap)
        try CardRecordingFile(appendingTo: path).append(Self.tap)
        #expect(try CardRecording.read(path: path) == [Self.tap, Self.tap])
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // A broken line names its number, and nothing after it is taken for a tap.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"atr\":\n".utf8))
        try handle.close()
        #expect(throws: CardRecordingError(path: path, line: 3, reason: "not JSON: not a card recording")) { try CardRecording.read(path: path) }
    }

    @Test func aFileThatCannotBeOpenedSaysWhy() {
        #expect(throws: CardRecordingFile.Failure.self) { try CardRecordingFile(appendingTo: "/nonexistent-dir/rec.jsonl") }
        do { _ = try CardRecordingFile(appendingTo: "/nonexistent-dir/rec.jsonl") } catch {
            #expect(error.description == "cannot open /nonexistent-dir/rec.jsonl to record into: No such file or directory")
        }
        do { _ = try CardRecordingFile(appendingTo: "/tmp") } catch {
            #expect(error.description.hasPrefix("cannot open /tmp to record into: Is a directory"))
        }
        #expect(throws: CardRecordingError(path: "/nonexistent-dir/rec.jsonl", line: nil, reason: "cannot open it: No such file or directory")) {
            try CardRecording.read(path: "/nonexistent-dir/rec.jsonl")
        }
    }

    @Test func theReplayAnswersInRecordedOrderAndSaysWhatItWasNeverAsked() {
        let a: [UInt8] = [0x90, 0x60, 0x00, 0x00, 0x00], more = DESFire.additionalFrame, read = DESFire.readShell
        let tap = RecordedTap(necdRelease: "t", time: "t", reader: "r", atr: [0x3B], exchanges: [
            RecordedExchange(command: a, response: [0x01, 0x91, 0xAF]),
            RecordedExchange(command: more, response: [0x02, 0x91, 0x00]),
            RecordedExchange(command: read, response: [0x03, 0x91, 0xAF]),
            RecordedExchange(command: more, response: [0x04, 0x91, 0x00]),
            RecordedExchange(command: read, response: [0x05, 0x91, 0x00]),
        ])
        var replay = CardReplay(tap)
        // Asked out of order: each continuation follows the command before it.
        #expect(replay.answer(read) == .response([0x03, 0x91, 0xAF]))
        #expect(replay.answer(more) == .response([0x04, 0x91, 0x00]))
        #expect(replay.answer(read) == .response([0x05, 0x91, 0x00]))  // the second time: the second answer
        #expect(replay.answer(a) == .response([0x01, 0x91, 0xAF]))
        #expect(replay.answer(more) == .response([0x02, 0x91, 0x00]))
        #expect(replay.answer(more) == .unrecorded)
        #expect(replay.answer(read) == .unrecorded)
        #expect(replay.unrecorded == [more, read])
        #expect(replay.response(to: [0x00, 0xB0, 0x00, 0x00, 0x10]) == [0x6D, 0x00])
        replay.reset()
        #expect(replay.answer(read) == .response([0x03, 0x91, 0xAF]))
    }
}

/// docs/card-recordings.md's example line is a tap that reads.
@Suite struct CardRecordingDocumentationTests {
    @Test func theDocumentedExampleDecodes() throws {
        let page = try String(contentsOf: CardCorpus.folder.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/card-recordings.md"), encoding: .utf8)
        let block = try #require(page.components(separatedBy: "```json\n").dropFirst().first?.components(separatedBy: "```").first)
        let line = block.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined()
        let tap = try CardRecording.tap(fromLine: Array(line.utf8))
        #expect(tap.redacted && tap.exchanges.count == 3)
        var transport = ReplayTransport(tap)
        let identity = try CardReader.read(atr: tap.atr, transport: &transport)
        #expect(identity.isReadable && identity.apduCount == 3)
        #expect(identity.isrn?.digits == "633597999931840250")
        #expect(identity.expiry == CivilDate(iso: "2030-02-11"))
    }
}

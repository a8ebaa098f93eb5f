import Foundation
import NECTestSupport
import Testing

/// The recorded corpus (Tests/CardCorpus) replayed through a real pcscd and vpcd with
/// `necctl simulate --replay`, read by `necctl scan --once --json`: every recording must
/// give the identity in the file beside it. (VirtualCardTests.CardCorpusTests replays the
/// same files through the decoder alone.)
@Suite(.serialized, .needsRig)
struct CorpusReplayEndToEndTests {
    let port = VirtualReaders.ports.first ?? 40960
    let reader = VirtualReaders.readers.first ?? "Virtual Reader 00 00"
    static let folder = BuiltProducts.packageRoot.appendingPathComponent("Tests/CardCorpus")

    /// The expectation's keys, from what `scan --json` printed.
    static func identity(_ scan: [String: Any]) -> [String: Any] {
        var out: [String: Any] = [:]
        for key in ["media", "uid", "uid_random", "isrn", "expiry", "no_expiry", "mcrn", "readable", "apdus", "card_blocked", "directory_sequence", "ins"] {
            if let value = scan[key] { out[key] = value }
        }
        if let checks = scan["checks"] as? [[String: Any]] {
            out["failed_checks"] = checks.filter { $0["ok"] as? Bool == false }.compactMap { $0["name"] as? String }
        }
        if scan["error"] != nil { out["read_error"] = true }
        return out
    }

    static func canonical(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test func everyRecordingGivesItsExpectedIdentityThroughPCSCD() async throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { $0.hasSuffix(".jsonl") }.sorted()
        try #require(!names.isEmpty, "no recording in \(Self.folder.path)")
        for name in names {
            let base = String(name.dropLast(".jsonl".count))
            let expectedPath = Self.folder.appendingPathComponent(base + ".expected.json")
            let expectedData = try #require(FileManager.default.contents(atPath: expectedPath.path), "\(base) has no expected identity")
            let expected = try #require(try JSONSerialization.jsonObject(with: expectedData) as? [String: Any])

            try await VirtualReaders.waitUntilEmpty([reader])
            let scan = try ChildProcess(BuiltProducts.necctl, ["scan", "--once", "--json", "--reader", reader])
            defer { scan.stop() }
            #expect(await scan.waitForStandardError(containing: "reader added: \(reader)", timeout: .seconds(10)))
            let simulate = try ChildProcess(BuiltProducts.necctl, [
                "simulate", "--replay", Self.folder.appendingPathComponent(name).path, "--port", String(port), "--hold", "0.6",
            ])
            let replayed = await simulate.wait(timeout: .seconds(20))
            #expect(replayed.status == 0, "\(base): simulate: \(replayed.stdout) \(replayed.stderr)")
            #expect(replayed.lines.last?.hasSuffix("APDUs answered from the recording, 0 not in it") == true,
                    "\(base): \(replayed.stdout) \(replayed.stderr)")
            let status = await scan.wait(timeout: .seconds(10)).status
            let lines = scan.outputLines
            try #require(lines.count == 1, "\(base): scan printed \(lines), stderr: \(scan.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
            // Both as canonical JSON text (sorted keys), so values compare exactly.
            let got = try Self.canonical(Self.identity(json)), want = try Self.canonical(expected)
            #expect(got == want, "\(base): scan gave \(got), expected \(want)")
            #expect(status == (expected["read_error"] == nil ? 0 : 1), "\(base)")
        }
    }
}

import Foundation
import NECTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension VirtualReaders {
    /// Runs `$NECD_PCSCD_CTL verb` (stop, kill, start).
    static func pcscd(_ verb: String) async throws {
        let control = try #require(environment["NECD_PCSCD_CTL"])
        let result = try await ChildProcess.run("/bin/sh", ["-c", "\(control) \(verb)"], timeout: .seconds(30))
        #expect(result.status == 0, "pcscd \(verb): \(result.stderr)")
    }
}

extension ChildProcess {
    /// Runs necctl as user nobody (group nogroup, no other groups), so file modes apply:
    /// the tests run as root, which no permission stops.
    static func necctlAsNobody(_ arguments: [String]) async throws -> Result {
        try await run("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", BuiltProducts.necctl] + arguments)
    }
}

/// A scratch directory, removed when the test is done with it.
final class Scratch: @unchecked Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("toolkit-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try text.write(toFile: file(name), atomically: true, encoding: .utf8)
        return file(name)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// One `necctl doctor --json` line.
struct DoctorLine: Decodable {
    var check: String
    var status: String
    var detail: String?
    var fix: String?
}

/// Parses doctor's JSON lines, keyed by check name.
func doctorLines(_ output: String) throws -> [String: DoctorLine] {
    var lines: [String: DoctorLine] = [:]
    for line in output.split(separator: "\n") {
        let parsed = try JSONDecoder().decode(DoctorLine.self, from: Data(line.utf8))
        lines[parsed.check] = parsed
    }
    return lines
}

/// A synthetic list from scripts/gen-list, imported into `database`. Returns the CSV's path.
@discardableResult
func importGeneratedList(rows: Int, into database: String, scratch: Scratch, name: String = "list.csv") async throws -> String {
    let csv = scratch.file(name)
    let generated = try await ChildProcess.run(
        "/usr/bin/env", ["python3", BuiltProducts.packageRoot.appendingPathComponent("scripts/gen-list").path, String(rows), "--seed", "5", "--out", csv])
    try #require(generated.status == 0, "gen-list: \(generated.stderr)")
    let imported = try await ChildProcess.necctl(["list", "import", csv, "--database", database])
    try #require(imported.status == 0, "list import: \(imported.stderr)")
    return csv
}

/// Keeps the tests that stop the rig's pcscd apart from those that need it running: the
/// suites run in parallel, and a tap simulated while another test has pcscd down fails for
/// no fault of its own. Many tests may hold it shared; a test that stops pcscd holds it
/// alone, and starts pcscd again before it lets go.
actor PcscdLock {
    static let shared = PcscdLock()

    private var users = 0
    private var stopper = false
    private var waiting: [(exclusive: Bool, resume: CheckedContinuation<Void, Never>)] = []

    private func canEnter(_ exclusive: Bool) -> Bool { exclusive ? (users == 0 && !stopper) : !stopper }

    private func enter(_ exclusive: Bool) {
        if exclusive { stopper = true } else { users += 1 }
    }

    private func acquire(exclusive: Bool) async {
        // First come, first served: a waiting stopper is not overtaken by later users.
        if waiting.isEmpty && canEnter(exclusive) {
            enter(exclusive)
            return
        }
        await withCheckedContinuation { waiting.append((exclusive, $0)) }
    }

    private func release(exclusive: Bool) {
        if exclusive { stopper = false } else { users -= 1 }
        while let next = waiting.first, canEnter(next.exclusive) {
            waiting.removeFirst()
            enter(next.exclusive)
            next.resume.resume()
        }
    }

    /// Runs `body` while pcscd stays up (other such bodies may run at the same time).
    static func withPcscdRunning<T>(_ body: () async throws -> T) async rethrows -> T {
        try await holding(exclusive: false, body)
    }

    /// Runs `body`, which may stop pcscd (and must start it again), with no other pcscd user.
    static func withPcscdToItself<T>(_ body: () async throws -> T) async rethrows -> T {
        try await holding(exclusive: true, body)
    }

    /// Runs `body` holding the lock, shared or exclusive, and releases it however `body` ends.
    private static func holding<T>(exclusive: Bool, _ body: () async throws -> T) async rethrows -> T {
        await shared.acquire(exclusive: exclusive)
        do {
            let result = try await body()
            await shared.release(exclusive: exclusive)
            return result
        } catch {
            await shared.release(exclusive: exclusive)
            throw error
        }
    }
}

import Foundation
import NECTestSupport
import Testing
@testable import Entitlements

/// What feeds `necctl list import`'s progress bar: a phase, and a total that is true.
@Suite struct ImportProgressTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")

    @Test func phasesAndTotalsAreTrue() throws {
        let (store, dir) = try Fixture.store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/list.csv"
        Fixture.write(Fixture.twoCardList(pupils: 40_000), to: path)
        let size = Int64(try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int))
        #expect(size > 2 << 20)
        var seen: [[ImportProgress]] = []
        for _ in 0..<3 {
            var values: [ImportProgress] = []
            try store.importList(path: path, at: now, progress: { values.append($0) })
            seen.append(values)
        }
        for (n, values) in seen.enumerated() {
            // Phases in order, each starting at 0 and ending at its total.
            let phases = values.map(\.phase).reduce(into: [ImportProgress.Phase]()) { if $0.last != $1 { $0.append($1) } }
            // The third import deletes the first list (the second is kept as previous).
            #expect(phases == (n == 2 ? [.checking, .installing, .tidying] : [.checking, .installing]))
            let checking = values.filter { $0.phase == .checking }
            #expect(checking.first == ImportProgress(phase: .checking, done: 0, total: size, rows: 0))
            #expect(checking.last == ImportProgress(phase: .checking, done: size, total: size, rows: 80_000))
            // One report per MiB read, in between.
            #expect(checking.count == 2 + Int(size >> 20))
            let installing = values.filter { $0.phase == .installing }
            #expect(installing.first == ImportProgress(phase: .installing, done: 0, total: 80_000, rows: 0))
            #expect(installing.last == ImportProgress(phase: .installing, done: 80_000, total: 80_000, rows: 80_000))
            if n == 2 {
                let tidying = values.filter { $0.phase == .tidying }
                #expect(tidying.first == ImportProgress(phase: .tidying, done: 0, total: 80_000, rows: 0))
                #expect(tidying.last == ImportProgress(phase: .tidying, done: 80_000, total: 80_000, rows: 80_000))
            }
            for phase in phases {
                let done = values.filter { $0.phase == phase }.map(\.done)
                #expect(done == done.sorted(), "\(phase) goes backwards")
            }
            #expect(values.allSatisfy { $0.done <= $0.total })
        }
    }

    @Test func lineRendering() {
        #expect(ImportProgress(phase: .checking, done: 3_000_000, total: 10_000_000, rows: 60_000).line()
            == "checking    [#########---------------------]  30%  3.0 of 10.0 MB, 60,000 rows")
        #expect(ImportProgress(phase: .checking, done: 10_000_000, total: 10_000_000, rows: 200_000).line(width: 10)
            == "checking    [##########] 100%  10.0 of 10.0 MB, 200,000 rows")
        #expect(ImportProgress(phase: .installing, done: 250_000, total: 1_000_000, rows: 250_000).line(width: 8)
            == "installing  [##------]  25%  250,000 of 1,000,000 rows")
        #expect(ImportProgress(phase: .tidying, done: 999, total: 1_000, rows: 999).line(width: 4)
            == "tidying     [###-]  99%  999 of 1,000 rows of the list before the previous one deleted")
        // Done never passes the total; nothing to do is all done.
        #expect(ImportProgress(phase: .installing, done: 12, total: 10, rows: 12).done == 10)
        #expect(ImportProgress(phase: .installing, done: 0, total: 0, rows: 0).line(width: 4)
            == "installing  [####] 100%  0 of 0 rows")
    }
}

/// The bar `necctl list import` draws on a terminal: the built necctl, its standard
/// error a pseudo-terminal.
@Suite struct ImportProgressBarTests {
    static let necctl = Fixture.builtExecutable("necctl")

    /// Runs `exe args` with standard error on a new pseudo-terminal; returns what it wrote
    /// there and its exit status.
    static func onTerminal(_ exe: String, _ args: [String]) throws -> (output: String, status: Int32) {
        // posix_openpt(3) by hand (the C library's wrappers are not visible to Swift here):
        // TIOCSPTLCK and TIOCGPTN, _IOW('T', 0x31, int) and _IOR('T', 0x30, unsigned), as
        // Linux encodes them on x86-64 and arm64.
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        var unlock: CInt = 0
        var number: CUnsignedInt = 0
        guard master >= 0, ioctl(master, 0x4004_5431, &unlock) == 0, ioctl(master, 0x8004_5430, &number) == 0 else {
            throw ImportConcurrencyTests.Failure("no pseudo-terminal: \(String(cString: strerror(errno)))")
        }
        defer { close(master) }
        let name = "/dev/pts/\(number)"
        guard let terminal = FileHandle(forWritingAtPath: name) else {
            throw ImportConcurrencyTests.Failure("cannot open \(name)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = terminal
        // Read while it runs, so a full terminal buffer never blocks it.
        let collected = Collected()
        let reader = Thread {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(master, &chunk, chunk.count)
                if n <= 0 { break }  // EIO once the last writer closed the terminal
                collected.append(chunk[0..<n])
            }
            collected.finish()
        }
        try p.run()
        try terminal.close()
        reader.start()
        p.waitUntilExit()
        return (collected.wait(), p.terminationStatus)
    }

    final class Collected: @unchecked Sendable {
        private let lock = NSCondition()
        private var bytes: [UInt8] = []
        private var done = false
        func append(_ b: ArraySlice<UInt8>) { lock.lock(); bytes += b; lock.unlock() }
        func finish() { lock.lock(); done = true; lock.broadcast(); lock.unlock() }
        func wait() -> String {
            lock.lock()
            defer { lock.unlock() }
            // The reader ends when the child's side of the terminal closes (it has exited).
            while !done { if !lock.wait(until: Date().addingTimeInterval(60)) { break } }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    @Test(.needs("needs necctl built next to the tests (swift build --build-tests)") { necctl != nil })
    func barShowsThePhaseAndATrueTotal() throws {
        let exe = try #require(Self.necctl)
        let dir = Fixture.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let list = dir + "/list.csv"
        Fixture.write(Fixture.twoCardList(pupils: 40_000), to: list)
        let size = Int64(try #require(try FileManager.default.attributesOfItem(atPath: list)[.size] as? Int))
        let (output, status) = try Self.onTerminal(exe, ["list", "import", list, "--database", dir + "/necd.sqlite"])
        #expect(status == 0)
        let lines = output.split(separator: "\r").map { $0.replacingOccurrences(of: "\u{1B}[K", with: "") }
        // Each phase is drawn at its end, with its true total.
        #expect(lines.contains(ImportProgress(phase: .checking, done: size, total: size, rows: 80_000).line()))
        #expect(lines.contains(ImportProgress(phase: .installing, done: 80_000, total: 80_000, rows: 80_000).line()))
        #expect(lines.contains { $0.hasPrefix("checking    [") })
        // The bar is cleared before the summary.
        #expect(output.hasSuffix("\r\u{1B}[K"))
    }
}

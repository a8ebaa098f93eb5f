import Foundation
import Testing

/// Where the package's built executables are: `swift test` builds them into the same
/// folder as the test bundle's parent.
enum BuiltProducts {
    static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// The path of a built executable such as `necctl`.
    static func executable(_ name: String) -> String {
        if let dir = ProcessInfo.processInfo.environment["NECD_BIN_DIR"] {
            return dir + "/" + name
        }
        // The test bundle lives in .build/<triple>/debug; so do the executables.
        let bundle = Bundle.main.bundleURL.deletingLastPathComponent()
        let candidate = bundle.appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        return packageRoot.appendingPathComponent(".build/debug/\(name)").path
    }
}

/// The private pcscd started by `scripts/with-virtual-readers`, as the tests see it.
enum VirtualReaders {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// True when the tests run inside the virtual-reader rig.
    static var available: Bool { environment["NECD_TEST_PCSCD"] == "1" }

    /// The vpcd ports of the rig's readers, in reader order.
    static var ports: [UInt16] {
        (environment["NECD_VPCD_PORTS"] ?? "").split(separator: ",").compactMap { UInt16($0) }
    }
}

/// A child process whose standard output is read line by line while it runs.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var lines: [String] = []
    private var partial = Data()
    private var errData = Data()
    private let outPipe = Pipe()
    private let errPipe = Pipe()

    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = FileHandle.nullDevice
        outPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.append(data)
        }
        errPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            self.lock.lock()
            self.errData.append(data)
            self.lock.unlock()
        }
        try process.run()
    }

    private func append(_ data: Data) {
        lock.lock()
        defer { lock.unlock() }
        partial.append(data)
        while let nl = partial.firstIndex(of: 0x0A) {
            let line = String(decoding: partial[partial.startIndex..<nl], as: UTF8.self)
            lines.append(line)
            partial.removeSubrange(partial.startIndex...nl)
        }
    }

    /// Every complete line read so far.
    var outputLines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    /// Everything written to standard error so far.
    var standardError: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: errData, as: UTF8.self)
    }

    /// Waits until at least `count` lines have arrived, or the timeout passes.
    func waitForLines(_ count: Int, timeout: Duration) async -> [String] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let l = outputLines
            if l.count >= count { return l }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return outputLines
    }

    /// Waits until standard error contains `text`, or the timeout passes.
    func waitForStandardError(containing text: String, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if standardError.contains(text) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Waits for the process to exit; returns its status, or nil on timeout (then kills it).
    func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                // Let the readability handlers drain the pipes.
                try? await Task.sleep(for: .milliseconds(50))
                return process.terminationStatus
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        terminate()
        return nil
    }

    /// Stops the process (SIGTERM, then SIGKILL).
    func terminate() {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<100 where process.isRunning { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { terminate() }
}

public import Foundation

/// Where the package's built executables are, for tests that run them as child processes:
/// `$NECD_BIN_DIR` when set, else next to the test bundle (`.build/<triple>/debug`), else
/// `.build/debug` under the package.
public enum BuiltProducts {
    /// The package's root folder (this file is two folders below it).
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// The path of a built executable such as `necd`.
    public static func executable(_ name: String) -> String {
        if let directory = ProcessInfo.processInfo.environment["NECD_BIN_DIR"] {
            return directory + "/" + name
        }
        let besideBundle = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name).path
        if FileManager.default.isExecutableFile(atPath: besideBundle) { return besideBundle }
        return packageRoot.appendingPathComponent(".build/debug/\(name)").path
    }

    /// The built necctl.
    public static var necctl: String { executable("necctl") }
}

/// The private pcscd and vpcd readers of `scripts/with-virtual-readers`, as the tests see them.
public enum VirtualReaders {
    /// The test process's environment, where the rig describes itself.
    public static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// True when the tests run inside the rig.
    public static var available: Bool { environment["NECD_TEST_PCSCD"] == "1" }

    /// True inside the rig when the daemon tests are asked for (`NECD_TEST_DAEMON=1`) and necd is built.
    public static var daemonAvailable: Bool {
        available && environment["NECD_TEST_DAEMON"] == "1"
            && FileManager.default.isExecutableFile(atPath: BuiltProducts.executable("necd"))
    }

    /// The vpcd ports of the rig's readers, in reader order.
    public static var ports: [UInt16] {
        (environment["NECD_VPCD_PORTS"] ?? "").split(separator: ",").compactMap { UInt16($0) }
    }

    /// The names pcscd gives the rig's readers, in reader order.
    public static var readers: [String] {
        (environment["NECD_VPCD_READERS"] ?? "").split(separator: "\n").map(String.init)
    }

    /// The name of the reader whose card emulator connects to vpcd on `port`.
    public static func reader(onPort port: UInt16) -> String? {
        zip(ports, readers).first { $0.0 == port }?.1
    }

    /// Waits until pcscd reports no card on any of `names`, asking `necctl readers --json`:
    /// pcscd polls vpcd every 0.4 s, so a card just lifted may still show, and a card laid
    /// on before pcscd has seen the last one go would be taken for the same card.
    public static func waitUntilEmpty(_ names: [String], timeout: Duration = .seconds(10)) async throws {
        var last = ""
        try await waitUntil("pcscd reports \(names) empty", timeout: timeout, every: .milliseconds(50), detail: { last }) {
            let result = try await ChildProcess.necctl(["readers", "--json"])
            last = result.stdout + result.stderr
            let empty = result.lines.compactMap { line -> String? in
                let row = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return row?["state"] as? String == "empty" ? row?["reader"] as? String : nil
            }
            return Set(names).isSubset(of: empty)
        }
    }
}

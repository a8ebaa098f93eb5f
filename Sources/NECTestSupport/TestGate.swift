public import Testing
import Foundation

/// What a gated test needs from the machine: a tool, root, the virtual-reader rig, a built
/// executable. Where the need is not met the test is skipped with the reason, except under
/// CI (`CI=true`), where every need must be met and a missing one fails the test, naming
/// what to install. `scripts/run-tests` fails a run with any skipped test as well, so a
/// broken rig or a missing package cannot turn a check into a silent pass.
public enum TestGate {
    /// True when the tests run in CI, which sets `CI=true`.
    public static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The first executable called `name` in the directories Debian installs programs to.
    public static func tool(_ name: String) -> String? {
        ["/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/", "/usr/local/bin/"].map { $0 + name }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The reason a test needs `tool`, naming the Debian package that has it.
    public static func reason(tool: String, package: String) -> String {
        "needs \(tool) (apt-get install \(package); `make deps` installs it)"
    }

    /// A need found missing with `CI=true`: the error that fails the test.
    public struct Unmet: Error, CustomStringConvertible {
        /// What the test needs.
        public var reason: String
        public var description: String { "CI=true, where no gated test may be skipped: \(reason)" }
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test or suite when `met()` holds. Otherwise it is skipped with `reason`, or
    /// fails with it under CI.
    /// - Parameters:
    ///   - reason: what is needed and how to get it, e.g. "needs node (apt-get install nodejs)".
    ///   - met: whether the need is met; asked when the test is about to run.
    public static func needs(_ reason: String, _ met: @escaping @Sendable () -> Bool) -> Self {
        .enabled(Comment(rawValue: reason)) {
            if met() { return true }
            if TestGate.inCI { throw TestGate.Unmet(reason: reason) }
            return false
        }
    }

    /// Runs when the program `tool` is installed, found with ``TestGate/tool(_:)``.
    /// - Parameters:
    ///   - tool: the program's name, e.g. `udevadm`.
    ///   - package: the Debian package that installs it, e.g. `udev`.
    public static func needs(tool: String, package: String) -> Self {
        needs(TestGate.reason(tool: tool, package: package)) { TestGate.tool(tool) != nil }
    }

    /// Runs inside `scripts/with-virtual-readers` (a private pcscd with vpcd readers).
    public static var needsRig: Self {
        needs("needs the virtual-reader rig: run via `make test`, scripts/run-tests or scripts/with-virtual-readers") {
            VirtualReaders.available
        }
    }

    /// Runs inside the rig with `NECD_TEST_DAEMON=1` and a built necd.
    public static var needsDaemon: Self {
        needs("needs NECD_TEST_DAEMON=1, a built necd and the rig (scripts/run-tests sets them)") {
            VirtualReaders.daemonAvailable
        }
    }

    /// Runs as root (CI runs as root): the test creates users or namespaces.
    /// - Parameter purpose: what root is needed for.
    public static func needsRoot(_ purpose: String) -> Self {
        needs("needs root to \(purpose)") { geteuid() == 0 }
    }

}

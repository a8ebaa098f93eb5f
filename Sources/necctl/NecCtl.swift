import ArgumentParser
import Foundation

/// `necctl`: the operator's tool. Exit codes (necctl(1)): 0 success, 1 a user-facing
/// failure (bad file, unknown card), 2 a usage error or a fault.
@main
struct NecCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "necctl",
        abstract: "Look at readers and cards, manage necd's entitlement list, look cards up and list payments.",
        subcommands: [
            ReadersCommand.self, ScanCommand.self, ListCommand.self, LookupCommand.self,
            SimulateCommand.self, WatchCommand.self, PaymentsCommand.self, DoctorCommand.self, DebugInfoCommand.self,
        ]
    )

    /// ArgumentParser exits 64 on a usage error; necctl(1) says 2, and 2 for faults too.
    static func main() async {
        Output.prepare()
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help, --version
            printError(fullMessage(for: error))
            Foundation.exit(2)
        }
    }
}

import ArgumentParser
import Entitlements
import Foundation
import NECConfiguration

/// `--config`, `--database` and `--socket`: where necctl finds necd's settings, and the two
/// paths a technician most often needs to point elsewhere: necctl reads necd's own file for
/// `database` and `socket` (necctl(1), COMMON OPTIONS).
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "necd's configuration file (default \(NECConfiguration.defaultPath); a missing default file means all defaults).",
        valueName: "path"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("The state database (overrides `database` in the configuration).", valueName: "path"))
    var database: String?

    @Option(name: .long, help: ArgumentHelp("necd's socket (overrides `socket` in the configuration).", valueName: "path"))
    var socket: String?

    /// The configuration with the command line's overrides applied.
    /// - Throws: ``ConfigurationError`` when the file is missing (if named), unreadable or invalid.
    func resolve() throws(ConfigurationError) -> NECConfiguration {
        var configuration = try NECConfiguration.load(path: config)
        applyOverrides(to: &configuration)
        return configuration
    }

    /// ``resolve()``, or a one-line message and exit status 2: a command that cannot know
    /// where the database is must not guess.
    func resolveOrExit() throws -> NECConfiguration {
        do {
            return try resolve()
        } catch {
            printError("necctl: \(error.description)")
            throw ExitCode(2)
        }
    }

    /// Puts `--database` and `--socket` over what the file says.
    func applyOverrides(to configuration: inout NECConfiguration) {
        if let database { configuration.database = database }
        if let socket { configuration.socket = socket }
    }
}


import ArgumentParser
import Foundation
import Logging
import NECDaemon
import NECProtocol

/// `necd`: the NEC reader daemon. See necd(8).
@main
struct NECD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "necd",
        abstract: "Read National Entitlement Cards through pcscd and tell tills over a Unix socket.",
        discussion: "SIGHUP reloads the configuration; SIGTERM stops. Logs go to standard error.",
        version: ProtocolVersion.release
    )

    @Option(help: "The configuration file (default /etc/necd/necd.toml; defaults when it is absent).")
    var config: String?

    func run() async throws {
        LoggingSystem.bootstrap { JournalLogHandler(label: $0) }
        let logger = Logger(label: "necd")
        do {
            try await Daemon.run(configurationPath: config, logger: logger)
        } catch {
            logger.critical("necd cannot run: \(error)")
            throw ExitCode(2)
        }
    }
}


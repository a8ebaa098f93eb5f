import ArgumentParser
import Entitlements
import Foundation
import NECConfiguration
import NECProtocol

/// `necctl list ...`: install, inspect and roll back the entitlement list; make and use
/// list-signing keys on the council's side.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Manage the entitlement list.",
        subcommands: [Import.self, Status.self, Rollback.self, Keygen.self, Sign.self]
    )

    /// Trust options, added to `trusted_list_keys` and `require_signed_lists` from the
    /// configuration file: a flag can add a key or demand a signature, never drop one.
    struct TrustOptions: ParsableArguments {
        @Option(name: .customLong("trusted-key"), help: "A trusted Ed25519 public key, base64 (repeatable).")
        var trustedKeys: [String] = []

        @Flag(name: .customLong("require-signed"), help: "Refuse a list without a valid signature.")
        var requireSigned = false

        func trust(_ configuration: NECConfiguration) throws -> ListTrust {
            var keys: [ListSigningKey.Public] = []
            for raw in configuration.trustedListKeys {
                // The configuration has checked these are 32-byte keys.
                keys.append(try ListSigningKey.Public(base64: Data(raw).base64EncodedString()))
            }
            for text in trustedKeys {
                do {
                    keys.append(try ListSigningKey.Public(base64: text))
                } catch {
                    throw ValidationError(error.description)
                }
            }
            return ListTrust(trustedKeys: keys, requireSigned: requireSigned || configuration.requireSignedLists)
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a list and put it in force, all or nothing.",
            discussion: "Every error is printed as FILE:LINE: reason. Exit status: 0 imported, 1 rejected, 2 usage error or fault."
        )

        @Argument(help: "The CSV file.")
        var file: String

        @Option(help: "Its detached Ed25519 signature (base64).")
        var signature: String?

        @OptionGroup var trustOptions: TrustOptions
        @OptionGroup var options: ConfigOptions

        func run() throws {
            let configuration = try options.resolveOrExit()
            // The trust options are checked before anything is created.
            let trust = try trustOptions.trust(configuration)
            BackgroundPriority.lower()
            let store = try StoreAccess.open(configuration, creating: true)
            let bar = ProgressBar(enabled: isatty(STDERR_FILENO) == 1)
            do {
                let summary = try store.importList(
                    path: file, signaturePath: signature, trust: trust, at: Date(),
                    progress: bar.enabled ? { bar.show($0) } : nil,
                    report: { issue in
                        bar.clear()
                        printError(issue.description)
                    })
                bar.clear()
                let s = summary.status
                let signed = s.signer.map { "signed by \($0)" } ?? "unsigned"
                printOut("imported \(s.rows) rows from \(file) (\(signed), sha256 \(s.sha256))")
            } catch let error as ListImportError {
                bar.clear()
                printError("necctl: \(error.description)")
                throw ExitCode(1)
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the list in force: rows, when and from which file it was imported, age, signer.",
            discussion: "Exit status: 0 a list is in force, 1 none, 2 fault."
        )

        @Flag(help: "One JSON object.")
        var json = false

        @OptionGroup var options: ConfigOptions

        func run() throws {
            let opened = try StoreAccess.open(options)
            let now = Date()
            guard let s = try opened.store.listStatus() else {
                if json { Output.write(MessageCoding.line(ListStatusReport.absent)) } else { printOut("no list imported") }
                throw ExitCode(1)
            }
            let policy = opened.policy
            let stale = s.isStale(at: now, policy: policy)
            if json {
                Output.write(MessageCoding.line(Self.report(s, now: now, stale: stale)))
            } else {
                let formatter = ISO8601DateFormatter()
                formatter.timeZone = policy.timeZone
                printOut("""
                    rows      \(s.rows)
                    imported  \(formatter.string(from: s.importedAt)) (\(Self.age(s.age(at: now))) ago)\(stale ? ", STALE" : "")
                    file      \(s.file)
                    sha256    \(s.sha256)
                    signed    \(s.signer.map { "yes, by \($0)" } ?? "no")
                    previous  \(s.previousAvailable ? "kept (necctl list rollback)" : "none")
                    """)
            }
        }

        /// The `--json` object: `imported` in UTC with milliseconds, `age` in whole seconds.
        static func report(_ s: ListStatus, now: Date, stale: Bool) -> ListStatusReport {
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return ListStatusReport(
                rows: s.rows, imported: f.string(from: s.importedAt), age: Int(s.age(at: now)), file: s.file,
                sha256: s.sha256, signer: s.signer, stale: stale, previous: s.previousAvailable, generation: s.generation)
        }

        static func age(_ seconds: TimeInterval) -> String {
            let s = Int(max(0, seconds))
            if s < 120 { return "\(s) s" }
            if s < 7200 { return "\(s / 60) min" }
            if s < 172_800 { return "\(s / 3600) h" }
            return "\(s / 86_400) days"
        }
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put the previous list back in force (a second rollback undoes the first)."
        )

        @OptionGroup var options: ConfigOptions

        func run() throws {
            let store = try StoreAccess.open(options).store
            do {
                let s = try store.rollbackList()
                printOut("rolled back: \(s.rows) rows from \(s.file) are in force")
            } catch let error as ListImportError {
                printError("necctl: \(error.description)")
                throw ExitCode(1)
            }
        }
    }

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an Ed25519 list-signing key pair (council side).",
            discussion: "Writes the private key to --out (mode 0600) and the public key to --out.pub, and prints the public key for trusted_list_keys."
        )

        @Option(help: "The private key file to create.")
        var out = "list-signing.key"

        /// Accepted as by every command (necctl(1), COMMON OPTIONS); this one uses none of the files.
        @OptionGroup var options: ConfigOptions

        func run() throws {
            guard !FileManager.default.fileExists(atPath: out) else {
                printError("necctl: \(out) exists; not overwriting a key")
                throw ExitCode(1)
            }
            let key = ListSigningKey.Private()
            guard FileManager.default.createFile(
                atPath: out, contents: Data((key.base64 + "\n").utf8), attributes: [.posixPermissions: 0o600])
            else {
                printError("necctl: cannot write \(out)")
                throw ExitCode(2)
            }
            let pub = key.publicKey.base64
            _ = FileManager.default.createFile(atPath: out + ".pub", contents: Data((pub + "\n").utf8))
            printOut("trusted_list_keys = [\"\(pub)\"]")
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a list file with a private key (council side).",
            discussion: "Writes the detached signature (base64) to --out, by default FILE.sig."
        )

        @Argument(help: "The CSV file to sign.")
        var file: String

        @Option(help: "The private key file from `necctl list keygen`.")
        var key: String

        @Option(help: "The signature file to write (default FILE.sig).")
        var out: String?

        /// Accepted as by every command (necctl(1), COMMON OPTIONS); this one uses none of the files.
        @OptionGroup var options: ConfigOptions

        func run() throws {
            guard let keyText = try? String(contentsOfFile: key, encoding: .utf8) else {
                printError("necctl: cannot read \(key)")
                throw ExitCode(1)
            }
            let privateKey: ListSigningKey.Private
            do {
                privateKey = try ListSigningKey.Private(base64: keyText)
            } catch {
                printError("necctl: \(key): \(error.description)")
                throw ExitCode(1)
            }
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: file), options: .alwaysMapped) else {
                printError("necctl: cannot read \(file)")
                throw ExitCode(1)
            }
            let signature = try privateKey.sign(data)
            let path = out ?? file + ".sig"
            guard FileManager.default.createFile(atPath: path, contents: Data((signature.base64EncodedString() + "\n").utf8)) else {
                printError("necctl: cannot write \(path)")
                throw ExitCode(2)
            }
            printOut("wrote \(path) (public key \(privateKey.publicKey.base64))")
        }
    }
}

/// A one-line progress bar on standard error (`ImportProgress.line()`): the phase, and
/// how much of it is done. Redrawn at most ten times a second, and whenever a phase
/// starts or ends.
final class ProgressBar {
    let enabled: Bool
    private var last = Date.distantPast
    private var phase: ImportProgress.Phase?
    private var drawn = false

    init(enabled: Bool) { self.enabled = enabled }

    func show(_ progress: ImportProgress) {
        guard enabled else { return }
        let edge = progress.phase != phase || progress.done == progress.total
        guard edge || Date().timeIntervalSince(last) > 0.1 else { return }
        last = Date()
        phase = progress.phase
        Output.errorText("\r\(progress.line())\u{1B}[K")
        drawn = true
    }

    func clear() {
        guard drawn else { return }
        Output.errorText("\r\u{1B}[K")
        drawn = false
    }
}

import ArgumentParser
import Entitlements
import Foundation
import NECConfiguration

#if canImport(Glibc)
import Glibc
#endif

/// Opens the state database for the list commands and `lookup`, telling apart the three
/// things a technician must do something different about: there is no database (import a
/// list), this user may not open it (run as its owner), or it is broken (see doctor).
///
/// `FileManager.fileExists` cannot be used to ask: it says false both for a missing file
/// and for one in a folder this user may not enter (/var/lib/necd is 0700 necd), which
/// sent people off to import a list that was already there.
///
/// Every necctl command that opens the store opens it here; `doctor` alone reads the file
/// another way (read-only, never migrated, see ``Doctor``).
enum StoreAccess {
    /// A command's settings and the store they name.
    struct Opened {
        /// The configuration, with `--database` and `--socket` applied.
        let configuration: NECConfiguration
        /// The store at the configuration's `database`.
        let store: EntitlementStore
        /// The decision policy the configuration gives, for lookups and list status.
        var policy: DecisionPolicy { configuration.decisionPolicy }
    }

    /// The configuration `options` name and the store it points at, or a message on
    /// standard error and exit status 2.
    static func open(_ options: ConfigOptions) throws -> Opened {
        let configuration = try options.resolveOrExit()
        return Opened(configuration: configuration, store: try open(configuration))
    }

    /// Why the database could not be opened.
    enum Problem: Equatable {
        /// No file at the path (and creating one was not asked for).
        case missing
        /// The file or its folder does not let this user in.
        case permissionDenied
        /// Anything else, in words.
        case other(String)
    }

    /// The store at `configuration`'s `database`, or a message on standard error and exit
    /// status 2.
    /// - Parameters:
    ///   - configuration: the resolved configuration.
    ///   - creating: true for `list import`, which makes the folder and the file if missing.
    static func open(_ configuration: NECConfiguration, creating: Bool = false) throws -> EntitlementStore {
        let path = configuration.database
        do {
            return try store(path: path, creating: creating)
        } catch let problem as ProblemError {
            printError("necctl: " + message(problem.problem, path: path))
            throw ExitCode(2)
        }
    }

    /// The one-line message for `problem`.
    static func message(_ problem: Problem, path: String) -> String {
        switch problem {
        case .missing:
            return "no database at \(path) (import a list first, or pass --database)"
        case .permissionDenied:
            let command = invocation()
            guard let owner = owner(of: path), owner != "root" else {
                return "cannot open DB \(path): permission denied; run as root (sudo \(command))"
            }
            if owner == currentUser() {
                return "cannot open DB \(path): permission denied to its owner \(owner); check the mode of the file and its folder"
            }
            return "cannot open DB \(path): permission denied; run as user \(owner) (sudo -u \(owner) \(command))"
        case .other(let reason):
            return "cannot open DB \(path): \(reason) (necctl doctor checks it)"
        }
    }

    private struct ProblemError: Error { var problem: Problem }

    private static func store(path: String, creating: Bool) throws -> EntitlementStore {
        var info = stat()
        if stat(path, &info) != 0 {
            let code = errno
            switch code {
            case ENOENT where creating:
                try makeFolder(of: path)
            case ENOENT:
                throw ProblemError(problem: .missing)
            case EACCES, EPERM:
                throw ProblemError(problem: .permissionDenied)
            default:
                throw ProblemError(problem: .other(String(cString: strerror(code))))
            }
        } else if access(path, R_OK | W_OK) != 0, errno == EACCES {
            // Opening runs the schema migration and shares the WAL index: it needs both.
            throw ProblemError(problem: .permissionDenied)
        }
        do {
            return try EntitlementStore(path: path, readerCount: 1)
        } catch {
            // SQLite says "unable to open database file" whatever the cause; ask the files.
            let folder = folderPath(of: path)
            if access(path, R_OK | W_OK) != 0 && errno == EACCES || access(folder, W_OK | X_OK) != 0 && errno == EACCES {
                throw ProblemError(problem: .permissionDenied)
            }
            throw ProblemError(problem: .other(Doctor.oneLine(error)))
        }
    }

    private static func folderPath(of path: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        return folder.isEmpty ? "." : folder
    }

    /// Creates the database's folder (0750) when it is missing.
    private static func makeFolder(of path: String) throws {
        let folder = folderPath(of: path)
        var info = stat()
        if stat(folder, &info) == 0 { return }
        if errno == EACCES { throw ProblemError(problem: .permissionDenied) }
        do {
            try FileManager.default.createDirectory(
                atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        } catch {
            if access(folderPath(of: folder), W_OK | X_OK) != 0 && errno == EACCES {
                throw ProblemError(problem: .permissionDenied)
            }
            throw ProblemError(problem: .other("cannot create \(folder): \(error.localizedDescription)"))
        }
    }

    /// The user owning the database, or (when the file cannot be seen) its folder.
    private static func owner(of path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 || stat(folderPath(of: path), &info) == 0 else { return nil }
        return getpwuid(info.st_uid).map { String(cString: $0.pointee.pw_name) }
    }

    static func currentUser() -> String {
        getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? String(geteuid())
    }

    /// This command line as a person would retype it after `sudo`: `necctl list status --json`.
    static func invocation() -> String {
        (["necctl"] + CommandLine.arguments.dropFirst().map(shellQuoted)).joined(separator: " ")
    }

    private static func shellQuoted(_ word: String) -> String {
        let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }
        if plain && !word.isEmpty { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

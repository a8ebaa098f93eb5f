#if canImport(Glibc)
import Glibc
#endif

/// The lock an import holds while it has a list staged: an exclusive `flock(2)` on
/// `DATABASE.import-lock`, next to the database. The kernel drops it when the importing
/// process ends, however it ends, so a staged list whose lock is free is a dead import's
/// and can go; one whose lock is held is being imported and is left alone. One import
/// at a time per database.
///
/// A file of its own: SQLite's locks on the database are POSIX record locks, which a
/// process loses when it closes any descriptor of that file, so nothing else may open it.
final class StagingLock {
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    deinit { close(fd) }

    /// The lock file of the database at `database`.
    static func path(database: String) -> String { database + ".import-lock" }

    /// Takes the lock if no other import holds it; nil when one does.
    /// - Throws: `ListImportError.cannotRead` (of the lock file) when it cannot be opened.
    static func tryAcquire(database: String) throws -> StagingLock? {
        let path = path(database: database)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ListImportError.cannotRead(file: path, errno: errno) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let e = errno
            close(fd)
            if e == EWOULDBLOCK { return nil }
            throw ListImportError.cannotRead(file: path, errno: e)
        }
        return StagingLock(fd: fd)
    }
}

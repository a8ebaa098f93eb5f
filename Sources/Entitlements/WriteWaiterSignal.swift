#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// How a writer waiting for SQLite's write lock tells an import, in another process, that
/// it waits: `DATABASE.waiting`, next to the database, holds 12 bytes: the monotonic clock
/// (nanoseconds, `CLOCK_MONOTONIC`, the same in every process) of the latest retry of any
/// waiter, and that waiter's process id (an import does not wait for itself). A waiter writes it each time its busy handler runs (every 0.1 ms while it
/// waits, see `TapLockWait`); the import reads it as it works and, when it is fresh, ends
/// its transaction and leaves the lock free until it goes stale (see
/// `EntitlementStore.stage`). So an import can write in long transactions while no one
/// waits, and still give a tap the lock within a fraction of a millisecond.
///
/// Nothing depends on it for correctness: SQLite's lock decides who writes. A waiter that
/// cannot write the file (a directory it may not write) only waits longer: the import
/// also leaves the lock free for a moment after every transaction. A file of its own, not
/// the database's: closing a descriptor of a file SQLite has open drops SQLite's locks.
final class WriteWaiterSignal: Sendable {
    /// The signal file of the database at `database`.
    static func path(database: String) -> String { database + ".waiting" }

    /// How long after a waiter's latest retry it counts as still waiting: a few of its
    /// 0.1 ms polls.
    static let freshNanos: UInt64 = 400_000

    private let database: String
    private let path: String
    /// The descriptor, once opened for writing; -1 before, -2 when it cannot be.
    private let fd = Mutex<Int32>(-1)

    /// - Parameter database: the database file's path.
    init(database: String) {
        self.database = database
        path = WriteWaiterSignal.path(database: database)
    }

    deinit {
        fd.withLock { if $0 >= 0 { close($0) } }
    }

    /// Says "I am waiting, now". Best effort: a failure is a waiter that only waits longer.
    /// - Parameter first: whether this is a wait's first retry (a file that could not be
    ///   opened is tried again then, not on every poll).
    func announce(first: Bool) {
        fd.withLock { fd in
            if fd == -2 && first { fd = -1 }
            if fd == -1 { fd = openForWriting() }
            guard fd >= 0 else { return }
            var stamp = (WriteBudget.nanos(), UInt32(bitPattern: getpid()))
            _ = withUnsafeBytes(of: &stamp) { pwrite(fd, $0.baseAddress!, 12, 0) }
        }
    }

    /// Opens the file for writing, creating it with mode 0600 (like the database) and the
    /// database's owner (so that a file made by root's `necctl` is still necd's to write).
    /// - Returns: the descriptor, or -2.
    private func openForWriting() -> Int32 {
        let created = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if created >= 0 {
            var st = stat()
            if stat(database, &st) == 0 && st.st_uid != geteuid() { _ = fchown(created, st.st_uid, st.st_gid) }
            return created
        }
        let existing = Glibc.open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
        return existing >= 0 ? existing : -2
    }

    /// The import's side: reads the signal file, opening it when it appears.
    final class Watch {
        private let path: String
        private var fd: Int32 = -1
        private let me: UInt32

        /// - Parameters:
        ///   - database: the database file's path.
        ///   - me: the process whose own waits are not counted (this one).
        init(database: String, me: UInt32 = UInt32(bitPattern: getpid())) {
            path = WriteWaiterSignal.path(database: database)
            self.me = me
        }

        deinit { close() }

        /// Closes the file.
        func close() {
            if fd >= 0 { _ = Glibc.close(fd) }
            fd = -1
        }

        /// Whether some writer has retried for the lock within ``WriteWaiterSignal/freshNanos``.
        /// - Parameter now: the monotonic clock, in nanoseconds.
        func someoneWaits(now: UInt64 = WriteBudget.nanos()) -> Bool {
            if fd < 0 {
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                if fd < 0 { return false }
            }
            var stamp: (nanos: UInt64, pid: UInt32) = (0, 0)
            let n = withUnsafeMutableBytes(of: &stamp) { pread(fd, $0.baseAddress!, 12, 0) }
            guard n == 12, stamp.pid != me else { return false }
            let at = stamp.nanos
            // A stamp from the future (a torn write) counts as waiting: one pause too many.
            return at > now || now - at < WriteWaiterSignal.freshNanos
        }
    }
}

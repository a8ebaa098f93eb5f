#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock(2)` on a lock file, held for as long as necd runs, so that one
/// database and one socket path are served by one necd at a time. Two daemons on one
/// database would both decide every tap (one `authorised`, the other `already_redeemed`).
///
/// The lock file holds the owner's pid, for the refusal message of the next one. It is
/// never deleted: removing a lock file while another process waits on it would let two
/// processes hold "the" lock on two different files. The kernel drops the lock when the
/// process ends, however it ends, so a killed necd leaves nothing stale behind.
///
/// The lock is a file of its own beside the database, not the database itself: SQLite
/// uses POSIX record locks on the database, and closing any descriptor of a file drops
/// every POSIX lock the process holds on it.
final class InstanceLock: Sendable {
    /// The lock file.
    let path: String
    private let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Why the lock could not be taken.
    enum Failure: Error, CustomStringConvertible {
        /// Another process holds it; `pid` is what the lock file says, when it says.
        case held(pid: Int32?)
        /// The lock file cannot be opened or locked.
        case failed(path: String, errno: Int32)

        var description: String {
            switch self {
            case .held(let pid): pid.map { "pid \($0)" } ?? "pid unknown"
            case .failed(let path, let code): "\(path): \(String(cString: strerror(code)))"
            }
        }
    }

    /// Takes the lock at `path` (creating the file, mode 0600) without waiting.
    /// - Throws: ``Failure/held(pid:)`` when another process holds it.
    static func acquire(path: String) throws(Failure) -> InstanceLock {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw .failed(path: path, errno: errno) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            let owner = code == EWOULDBLOCK ? readPID(fd) : nil
            close(fd)
            if code == EWOULDBLOCK { throw .held(pid: owner) }
            throw .failed(path: path, errno: code)
        }
        // Ours now: say who holds it. A failure here only costs the next necd the pid.
        let line = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 {
            _ = line.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
        return InstanceLock(path: path, descriptor: fd)
    }

    /// Releases the lock (also done by the kernel when the process ends).
    func release() {
        close(descriptor)
    }

    /// The pid written in the lock file, if it holds one.
    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self)
        guard let pid = Int32(text.trimmingWhitespace()), pid > 0 else { return nil }
        return pid
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return self[start...end]
    }
}

internal import Glibc

/// A recording file open for appending: each tap is one `write` of one whole line,
/// then `fsync`, so a tap is either in the file entire or not at all, and nothing
/// already recorded is ever rewritten.
public final class CardRecordingFile {
    /// The path, as given.
    public let path: String
    private let fd: Int32

    /// Why the file could not be opened or written.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// One sentence for a technician.
        public let description: String
    }

    /// Opens (creating it, mode 0600: recordings hold children's card numbers unless
    /// redacted) for appending.
    /// - Throws: `Failure` naming the path and the system's reason.
    public init(appendingTo path: String) throws(Failure) {
        self.path = path
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw Failure(description: "cannot open \(path) to record into: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        if fstat(fd, &info) == 0, info.st_mode & S_IFMT != S_IFREG {
            close(fd)
            throw Failure(description: "cannot record into \(path): not a regular file")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Appends one tap and flushes it to the disk.
    /// - Throws: `Failure` when the write or the flush fails (disk full, ...).
    public func append(_ tap: RecordedTap) throws(Failure) {
        let line = CardRecording.line(tap)
        var written = 0
        while written < line.count {
            let n = line.withUnsafeBytes { raw in
                write(fd, raw.baseAddress! + written, line.count - written)
            }
            if n > 0 {
                written += n
            } else if n < 0, errno == EINTR {
                continue
            } else {
                throw Failure(description: "cannot write to \(path): \(String(cString: strerror(errno)))")
            }
        }
        guard fsync(fd) == 0 else {
            throw Failure(description: "cannot flush \(path) to the disk: \(String(cString: strerror(errno)))")
        }
    }
}

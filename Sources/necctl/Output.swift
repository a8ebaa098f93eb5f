import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Every byte necctl writes to standard output or standard error goes through here.
///
/// Standard output is often a pipe into `head`, `grep -m1` or `jq`, which close it as soon
/// as they have what they want. When that happens necctl stops at once and quietly with
/// exit status 141, the status a shell reports for a tool ended by SIGPIPE, so
/// `necctl doctor | head -1` behaves like `yes | head -1`. Status 141, not 0: the output
/// was cut short, so it does not claim doctor's "healthy" (0) for a till it did not finish
/// checking.
///
/// SIGPIPE itself is ignored (``prepare()``): whether a process dies of it would otherwise
/// depend on whether something in it (NIO does, lazily, for its sockets) has already
/// ignored it, and a socket write must see EPIPE rather than kill necctl. Foundation's
/// `FileHandle.write(_:)` is not used: it ends the process with a fatal error on EPIPE.
enum Output {
    /// The exit status when the reader of standard output has gone.
    static let readerGoneStatus: Int32 = 141

    /// Call once, first thing: SIGPIPE ignored, so a closed pipe is an EPIPE we handle.
    static func prepare() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Writes `text` and a newline to standard output, unbuffered, so a program reading
    /// the pipe sees each line as soon as it is made.
    static func line(_ text: String) {
        write(Array((text + "\n").utf8))
    }

    /// Writes `bytes` to standard output; exits 141 when its reader has gone.
    static func write(_ bytes: [UInt8]) {
        switch writeAll(STDOUT_FILENO, bytes) {
        case 0:
            return
        case EPIPE:
            readerGone()
        case let code:
            // A full disk under a redirect, a revoked terminal: nothing more can be shown.
            errorLine("necctl: cannot write to standard output: \(String(cString: strerror(code)))")
            _exit(2)
        }
    }

    /// Writes `text` and a newline to standard error. A failure there is ignored: there is
    /// nowhere left to report it, and losing a message must not stop a running command.
    static func errorLine(_ text: String) {
        _ = writeAll(STDERR_FILENO, Array((text + "\n").utf8))
    }

    /// Writes progress text (no newline) to standard error, ignoring failures.
    static func errorText(_ text: String) {
        _ = writeAll(STDERR_FILENO, Array(text.utf8))
    }

    /// The reader left: stop now, without running exit handlers or flushing stdio into the
    /// same closed pipe, and without a word (it is not an error the person needs to see).
    static func readerGone() -> Never {
        _exit(readerGoneStatus)
    }

    /// Writes every byte, retrying short writes and EINTR. Returns 0 or the errno.
    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Int32 {
        bytes.withUnsafeBytes { buffer -> Int32 in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return 0
        }
    }
}

/// Writes `text` and a newline to standard error.
func printError(_ text: String) {
    Output.errorLine(text)
}

/// Writes `text` and a newline to standard output at once (no stdio buffering), so a
/// program reading our pipe sees each card as it is decoded; exits 141 when the reader has
/// gone (see ``Output``).
func printOut(_ text: String) {
    Output.line(text)
}

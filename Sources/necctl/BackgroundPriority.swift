import Foundation
import Glibc

/// A list import is background work on a machine that serves a queue: it lowers its own
/// CPU priority (nice 10, like necd's request threads) so that on a two-core till the
/// kernel runs necd's tap path first. The import takes a little longer while the machine
/// is busy and no longer otherwise.
enum BackgroundPriority {
    static let niceness: Int32 = 10

    /// Lowers every thread of this process to ``niceness`` (Linux keeps the nice value per
    /// thread; threads started later inherit it). A thread already nicer is left as it is.
    static func lower() {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? ["0"]
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        for task in tasks {
            guard let tid = id_t(task) else { continue }
            errno = 0
            let current = getpriority(which, tid)
            if errno == 0 && current >= niceness { continue }
            // Best effort: a priority that cannot be changed leaves the import as it was.
            _ = setpriority(which, tid, niceness)
        }
    }
}

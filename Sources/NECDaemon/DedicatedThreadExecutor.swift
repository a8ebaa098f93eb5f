/// A `TaskExecutor` with one thread of its own: async code that prefers it
/// (`withTaskExecutorPreference`) runs there, never on the cooperative pool, so the
/// tap path keeps its pace whatever the socket's clients make the pool do.
final class DedicatedThreadExecutor: TaskExecutor {
    private let thread: BlockingWorkers

    /// - Parameter name: the thread's name.
    init(name: String) {
        thread = BlockingWorkers(name: name, threads: 1)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        thread.submit { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// Ends the thread once the jobs queued now have run.
    func stop() { thread.stop() }
}

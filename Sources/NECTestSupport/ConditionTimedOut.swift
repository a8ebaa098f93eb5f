/// A condition a test waited for did not become true in time: thrown by
/// ``waitUntil(_:timeout:every:detail:_:)``, so the test fails saying what it waited for
/// instead of going on as if it had happened.
public struct ConditionTimedOut: Error, CustomStringConvertible {
    public let description: String
}

/// Waits until `condition` holds, looking again every `interval`; throws (naming `what`,
/// and what `detail` gives) when it does not within `timeout`. For state the code under
/// test cannot announce (a connection count after a client left, a reader pcscd has seen
/// emptied), in place of a fixed sleep: it returns as soon as the condition holds, and a
/// machine too slow for the bound fails loudly. The default bound only stops a hang.
/// - Parameters:
///   - what: the condition, completing "timed out waiting until ...".
///   - timeout: how long at most.
///   - interval: how long between two looks.
///   - detail: what the waiter saw last (a child's output, an answer), asked only on failure.
///   - condition: true once the wait is over.
public func waitUntil(
    _ what: String, timeout: Duration = .seconds(60), every interval: Duration = .milliseconds(5),
    detail: () -> String = { "" }, _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            let seen = detail()
            throw ConditionTimedOut(description: "timed out after \(timeout) waiting until \(what)" + (seen.isEmpty ? "" : "; last seen: \(seen)"))
        }
        // A test helper's poll of a condition it cannot be told about, bounded by the deadline.
        try await Task.sleep(for: interval)
    }
}

/// The journal could not be written now: another connection held the write lock for
/// longer than a tap may wait (``EntitlementStore/tapBusyTimeout``), or the disk failed.
/// Nothing was changed; trying again later may succeed.
public struct JournalUnavailable: Error, Sendable, CustomStringConvertible {
    /// What SQLite said, for the log.
    public var reason: String
    /// - Parameter reason: what SQLite said.
    public init(reason: String) { self.reason = reason }
    /// A message for the log.
    public var description: String { "the journal cannot be written now: \(reason)" }
}

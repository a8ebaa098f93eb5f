/// What `necctl readers --json` prints when pcscd sees no reader: `{"readers":[]}`.
/// Not sent on the socket.
public struct ReaderReportList: Codable, Hashable, Sendable {
    /// The readers; empty, since otherwise each has a line of its own (``ReaderReport``).
    public var readers: [ReaderReport]

    /// Creates the list.
    /// - Parameter readers: the readers.
    public init(readers: [ReaderReport] = []) { self.readers = readers }
}

/// What a reader holds, as the daemon and necctl track it. The raw values are the
/// protocol's spelling; ``NECProtocol/ReaderStatus/init(_:)`` is the one mapping to the wire.
public enum ReaderPresence: String, Sendable, Hashable, CaseIterable {
    /// No card on it.
    case empty
    /// A card is on it.
    case present
    /// Gone, not usable, or pcscd cannot be reached.
    case unavailable
}

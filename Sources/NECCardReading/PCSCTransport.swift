public import NECCard
public import PCSC

/// Carries APDUs to a card over a PC/SC connection, for `CardReader`.
public struct PCSCTransport: APDUTransport {
    /// The open connection to the card.
    public let connection: CardConnection

    /// - Parameter connection: a connection opened on the card being read.
    public init(_ connection: CardConnection) { self.connection = connection }

    /// Thrown when the reader returns no status word at all: the card stopped answering
    /// (vpcd reports a card that left mid-exchange this way, where a contactless reader
    /// says `SCARD_W_REMOVED_CARD`).
    public struct NoAnswer: Error, CustomStringConvertible {
        /// How many bytes came back (0 or 1).
        public let bytes: Int
        public var description: String { "the card gave no answer (\(bytes) bytes, no status word)" }
    }

    public mutating func transmit(_ command: [UInt8]) throws -> [UInt8] {
        let response = try connection.transmit(command)
        guard response.count >= 2 else { throw NoAnswer(bytes: response.count) }
        return response
    }
}

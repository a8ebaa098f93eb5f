/// Something that carries command APDUs to a card and brings back its responses.
///
/// `PCSC.CardConnection` conforms in the executables; tests use scripted transports.
/// A response always ends with the two status bytes SW1 SW2.
public protocol APDUTransport {
    /// Sends one command APDU and returns the response, status word included.
    /// - Parameter command: the complete command APDU (CLA INS P1 P2 [Lc data] [Le]).
    /// - Returns: the response data followed by SW1 SW2.
    /// - Throws: whatever the transport reports (card removed, reader gone, ...).
    mutating func transmit(_ command: [UInt8]) throws -> [UInt8]
}

import Entitlements
import NECProtocol
import ProtocolMapping

/// An event's line as a client reads it, without the `\n`: the journal's values through
/// the daemon's one mapping and the protocol's encoder.
func wireText(_ event: StoredEvent) -> String {
    String(decoding: event.protocolLine.dropLast(), as: UTF8.self)
}

/// A lookup's `LOOKUP` line as the socket and `necctl lookup --json` print it, without the `\n`.
func wireText(_ lookup: LookupResult) -> String {
    String(decoding: MessageCoding.line(LookupMessage(lookup)).dropLast(), as: UTF8.self)
}

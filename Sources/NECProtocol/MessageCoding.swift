#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Turns protocol messages into lines and lines into messages.
public enum MessageCoding {
    /// Encodes a message as one JSON line, ending in `\n`.
    ///
    /// Keys appear in declaration order (`class` first), absent optionals are left out.
    /// A message that cannot be encoded (a non-finite number) becomes an `ERROR` line.
    /// - Parameter message: any message of this module.
    /// - Returns: the line's UTF-8 bytes, with the trailing newline.
    public static func line(_ message: some Encodable) -> [UInt8] {
        // Only a non-finite number (a NaN uptime, say) can fail; the peer then gets an ERROR, not a crash.
        let text = (try? OrderedJSON.encode(message)) ?? #"{"class":"ERROR","message":"internal error: an answer could not be encoded"}"#
        var bytes = Array(text.utf8)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// Reads a line the daemon sent.
    ///
    /// A `TAP`, `IDENTIFY` or `PAYMENT` the daemon could not store has no `seq`: a stream
    /// of events resumes by `seq`, so it is refused unless `allowingUnstored` (the answer
    /// to the request that caused it, e.g. a charge declined `unavailable`).
    /// - Parameters:
    ///   - line: the line, with or without its `\n`.
    ///   - allowingUnstored: accept events without a `seq`.
    /// - Returns: the decoded message; ``DaemonMessage/unknown(_:)`` for a class this version does not name.
    /// - Throws: a decoding error when the line is not a well-formed message of its class.
    public static func daemonMessage<Bytes: Collection<UInt8>>(from line: Bytes, allowingUnstored: Bool = false) throws -> DaemonMessage {
        let data = Data(line)
        let decoder = JSONDecoder()
        let tag = try decoder.decode(ClassTag.self, from: data).messageClass
        switch tag {
        case .version: return .version(try decoder.decode(VersionMessage.self, from: data))
        case .watch: return .watch(try decoder.decode(WatchMessage.self, from: data))
        case .readers: return .readers(try decoder.decode(ReadersMessage.self, from: data))
        case .status: return .status(try decoder.decode(StatusMessage.self, from: data))
        case .lookup: return .lookup(try decoder.decode(LookupMessage.self, from: data))
        case .void: return .void(try decoder.decode(VoidMessage.self, from: data))
        case .error: return .error(try decoder.decode(ErrorMessage.self, from: data))
        case .tap, .identify:
            let tap = try decoder.decode(TapEvent.self, from: data)
            try requireSeq(tap.seq, of: tag, unlessAllowed: allowingUnstored)
            return .tap(tap)
        case .reader: return .reader(try decoder.decode(ReaderChangeEvent.self, from: data))
        case .payment:
            let payment = try decoder.decode(PaymentEvent.self, from: data)
            try requireSeq(payment.seq, of: tag, unlessAllowed: allowingUnstored)
            return .payment(payment)
        case .voided: return .voided(try decoder.decode(VoidedEvent.self, from: data))
        default: return .unknown(tag)
        }
    }

    /// A client resumes by `seq`: an event the daemon could not store is not one a stream can use.
    private static func requireSeq(_ seq: Int64?, of tag: MessageClass, unlessAllowed allowed: Bool) throws {
        guard seq == nil, !allowed else { return }
        throw DecodingError.keyNotFound(
            TapEvent.CodingKeys.seq, .init(codingPath: [], debugDescription: "a \(tag) event without a seq"))
    }

    private struct ClassTag: Decodable {
        var messageClass: MessageClass
        enum CodingKeys: String, CodingKey { case messageClass = "class" }
    }
}

/// Any object the daemon sends, by its `class`.
public enum DaemonMessage: Hashable, Sendable {
    /// The banner.
    case version(VersionMessage)
    /// The answer to `watch`.
    case watch(WatchMessage)
    /// The answer to `readers`.
    case readers(ReadersMessage)
    /// The answer to `status`.
    case status(StatusMessage)
    /// The answer to `lookup`.
    case lookup(LookupMessage)
    /// The answer to `void`.
    case void(VoidMessage)
    /// A refusal or a closing notice.
    case error(ErrorMessage)
    /// A `TAP` or `IDENTIFY` event.
    case tap(TapEvent)
    /// A `READER` event.
    case reader(ReaderChangeEvent)
    /// A `PAYMENT` event: a charge or refund, or the answer to one (minor version 1).
    case payment(PaymentEvent)
    /// A `VOIDED` event (minor version 1).
    case voided(VoidedEvent)
    /// A class this version does not know; skip it.
    case unknown(MessageClass)
}

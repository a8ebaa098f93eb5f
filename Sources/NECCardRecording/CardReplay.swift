public import NECCard

/// Answers commands as a recorded card did, for `necctl simulate --replay` (through
/// vpcd) and for tests that feed the decoder a recording directly.
///
/// The matching rule: a command is answered by the first recorded exchange with the very
/// same command bytes that has not answered yet, looking forward from the last exchange
/// that answered, then from the start of the tap. So a read made in the recorded order
/// gets the recorded answers one for one, continuation frames (`90 AF`, `00 C0`) included,
/// and a command asked twice gets the second recorded answer the second time. A card
/// reset (vpcd powering the card off and on) starts the tap over.
///
/// A command the card was never asked, or asked fewer times, is answered `6D 00`
/// (`unrecordedStatus`) and kept in `unrecorded`.
public struct CardReplay: Sendable {
    /// What the card did with one command.
    public enum Answer: Sendable, Equatable {
        /// The recorded answer.
        case response([UInt8])
        /// The recorded read failed here (the card left the field): the transport's words.
        case failed(String)
        /// Not in the recording: answered `unrecordedStatus`.
        case unrecorded
    }

    /// The answer to a command the recording does not hold: "instruction not supported".
    public static let unrecordedStatus: [UInt8] = [0x6D, 0x00]

    /// The tap being played.
    public let tap: RecordedTap
    /// Commands that found no recorded answer, in the order they came.
    public private(set) var unrecorded: [[UInt8]] = []
    /// Commands answered from the recording.
    public private(set) var answered = 0
    private var used: [Bool]
    private var cursor = 0

    /// - Parameter tap: the recorded tap to play.
    public init(_ tap: RecordedTap) {
        self.tap = tap
        used = Array(repeating: false, count: tap.exchanges.count)
    }

    /// The ATR the card had.
    public var atr: [UInt8] { tap.atr }

    /// The card lost power: every recorded answer can be given again.
    public mutating func reset() {
        used = Array(repeating: false, count: tap.exchanges.count)
        cursor = 0
    }

    /// The recorded answer to `command`, by the matching rule.
    public mutating func answer(_ command: [UInt8]) -> Answer {
        let count = tap.exchanges.count
        for step in 0..<count {
            let index = (cursor + step) % count
            guard !used[index], tap.exchanges[index].command == command else { continue }
            used[index] = true
            cursor = index + 1
            answered += 1
            let exchange = tap.exchanges[index]
            if let response = exchange.response { return .response(response) }
            return .failed(exchange.error ?? "no answer")
        }
        unrecorded.append(command)
        return .unrecorded
    }

    /// The response bytes to send for `command` (`6D 00` when unrecorded), or nil where
    /// the recorded card left the field instead of answering.
    public mutating func response(to command: [UInt8]) -> [UInt8]? {
        switch answer(command) {
        case .response(let bytes): bytes
        case .unrecorded: Self.unrecordedStatus
        case .failed: nil
        }
    }
}

/// A transport that answers from a recording, for reading one directly with `CardReader`.
public struct ReplayTransport: APDUTransport {
    /// Thrown where the recorded read failed: the recorded transport's words.
    public struct RecordedFailure: Error, Sendable, Equatable, CustomStringConvertible {
        /// What the transport reported when the tap was recorded.
        public let description: String
    }

    /// The replay, with what it answered and what it could not.
    public private(set) var replay: CardReplay

    /// - Parameter tap: the recorded tap to answer from.
    public init(_ tap: RecordedTap) {
        replay = CardReplay(tap)
    }

    public mutating func transmit(_ command: [UInt8]) throws -> [UInt8] {
        switch replay.answer(command) {
        case .response(let bytes): return bytes
        case .unrecorded: return CardReplay.unrecordedStatus
        case .failed(let reason): throw RecordedFailure(description: reason)
        }
    }
}

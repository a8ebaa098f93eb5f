public import NECCardRecording

/// What `VirtualCardSession` serves through vpcd: an emulated model (`EmulatedCard`) or a
/// recorded card (`ReplayedCard`).
public protocol VirtualCardResponder: Sendable {
    /// The ATR the reader reports.
    var atr: [UInt8] { get }
    /// How many command APDUs `receive(_:)` has seen.
    var receivedAPDUs: Int { get }
    /// How much later than at once each command is answered.
    var answerDelay: Duration { get }
    /// Power on, power off or reset.
    mutating func resetState()
    /// The answer to one command APDU, or `.remove` to leave the field.
    mutating func receive(_ command: [UInt8]) -> EmulatedCard.Reaction
}

extension EmulatedCard: VirtualCardResponder {
    /// The model's delay faults, added up.
    public var answerDelay: Duration {
        model.faults.reduce(.zero) { total, fault in
            if case .delay(let d) = fault { return total + d }
            return total
        }
    }
}

/// A card played back from a `necctl scan --record` tap: each command is answered as the
/// recorded card answered it (`CardReplay` says how commands are matched), a command the
/// card was never asked gets `6D 00` and is reported to `unrecorded`, and where the
/// recorded read failed (the card left) the replayed card leaves the field too.
public struct ReplayedCard: VirtualCardResponder {
    /// The replay, with what it answered.
    public private(set) var replay: CardReplay
    public private(set) var receivedAPDUs = 0
    public var answerDelay: Duration { .zero }
    private let unrecorded: (@Sendable ([UInt8]) -> Void)?

    /// - Parameters:
    ///   - tap: the recorded tap.
    ///   - unrecorded: called (on the card's thread) with each command the recording has
    ///     no answer for.
    public init(_ tap: RecordedTap, unrecorded: (@Sendable ([UInt8]) -> Void)? = nil) {
        replay = CardReplay(tap)
        self.unrecorded = unrecorded
    }

    public var atr: [UInt8] { replay.atr }

    /// The card lost power: the recorded tap starts over.
    public mutating func resetState() { replay.reset() }

    public mutating func receive(_ command: [UInt8]) -> EmulatedCard.Reaction {
        receivedAPDUs += 1
        switch replay.answer(command) {
        case .response(let bytes): return .answer(bytes)
        case .failed: return .remove
        case .unrecorded:
            unrecorded?(command)
            return .answer(CardReplay.unrecordedStatus)
        }
    }
}

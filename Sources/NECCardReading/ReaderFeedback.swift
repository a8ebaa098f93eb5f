import NECCard
public import PCSC

/// What a reader shows a pupil once the decision on a tap is out: a green light and one
/// short beep for an authorised tap, a red light and a long or double beep for a declined one.
///
/// Only ACS readers are driven, with the pseudo-APDUs (class `FF`, instruction `00`) their
/// manuals give; the reader answers them itself and the card never sees them. The bytes
/// are chosen by the pcscd reader name (``ACSModel``). Everything here but ``send(_:to:context:)``
/// is pure.
public enum ReaderFeedback {
    /// What the decision was, as far as the reader's light and buzzer are concerned.
    public enum Signal: String, Sendable, Hashable, CaseIterable {
        /// The pupil is served (a `TAP` or `IDENTIFY` with `"decision":"authorised"`).
        case authorised
        /// The pupil is not served, whatever the reason: `unreadable` included.
        case declined
    }

    /// The two command sets ACS readers understand for light and buzzer.
    public enum ACSModel: String, Sendable, Hashable, CaseIterable {
        /// ACR122U and its older relatives (ACR122L, AET62): one "bi-color LED and buzzer
        /// control" APDU, `FF 00 40 P2 04 T1 T2 repeat link`. P2 bit 7 / bit 6 make the green /
        /// red LED blink, bit 5 / bit 4 start the blink with it on; bits 0-3 (final state and
        /// its masks) are left 0, so the LEDs go back to what the firmware had them showing.
        /// T1 and T2 count 100 ms; link `01` sounds the buzzer during T1.
        case acr122
        /// ACR1252U, ACR1255U and ACR1552U: an LED APDU `FF 00 44 state 00` (bit 0 red, bit 1
        /// green; the state stays until changed) and a buzzer APDU `FF 00 52 duration 00`
        /// (duration in 10 ms).
        case acr1252
    }

    /// The ACS command set for a reader name: the ACR1252U family by its model number in
    /// pcscd's name ("ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00"), else the
    /// ACR122U's, which is also what a reader forced to `feedback = "acs"` gets when its
    /// name names no ACS model (the test rig's "Virtual PCD 00 00").
    public static func model(forReader name: String) -> ACSModel {
        let newer = ["ACR1252", "ACR1255", "ACR1552"]
        return newer.contains { name.contains($0) } ? .acr1252 : .acr122
    }

    /// The APDUs that show `signal` on an ACS reader of `model`, in the order they are sent.
    public static func commands(for signal: Signal, model: ACSModel) -> [[UInt8]] {
        switch (model, signal) {
        case (.acr122, .authorised):
            // Green on for 200 ms with the buzzer, then off for 100 ms, once.
            [[0xFF, 0x00, 0x40, 0xA0, 0x04, 0x02, 0x01, 0x01, 0x01]]
        case (.acr122, .declined):
            // Red on for 100 ms with the buzzer, then off for 100 ms, twice: two beeps.
            [[0xFF, 0x00, 0x40, 0x50, 0x04, 0x01, 0x01, 0x02, 0x01]]
        case (.acr1252, .authorised):
            // Green LED, then one 200 ms beep.
            [[0xFF, 0x00, 0x44, 0x02, 0x00], [0xFF, 0x00, 0x52, 0x14, 0x00]]
        case (.acr1252, .declined):
            // Red LED, then one long 400 ms beep.
            [[0xFF, 0x00, 0x44, 0x01, 0x00], [0xFF, 0x00, 0x52, 0x28, 0x00]]
        }
    }

    /// The APDUs for `signal` on the reader called `name`.
    public static func commands(for signal: Signal, reader name: String) -> [[UInt8]] {
        commands(for: signal, model: model(forReader: name))
    }

    /// How sending the feedback went. None of these is an error of the tap's: the decision
    /// and its event stand whatever happens here.
    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        /// Every APDU was answered `90 xx`.
        case shown(apdus: Int)
        /// The reader answered an APDU with another status word (it is no ACS reader, or
        /// its firmware does not know the command); the rest were not sent.
        case refused(command: [UInt8], status: [UInt8])
        /// The card had left, or pcscd failed, before or during the exchange.
        case failed(apdus: Int, error: PCSCError)
        /// The reader gave no status word at all.
        case noAnswer(apdus: Int)

        public var description: String {
            switch self {
            case .shown(let apdus):
                "shown (\(apdus) APDU\(apdus == 1 ? "" : "s"))"
            case .refused(let command, let status):
                "the reader refused \(Hex.spaced(command)) with \(Hex.spaced(status))"
            case .failed(let apdus, let error):
                "not shown after \(apdus) APDU\(apdus == 1 ? "" : "s"): \(error)"
            case .noAnswer(let apdus):
                "the reader gave no status word after \(apdus) APDU\(apdus == 1 ? "" : "s")"
            }
        }
    }

    /// Whether a reader's answer to a feedback APDU means it did it: `90 xx` (the ACR122U
    /// puts its LED state in SW2; the others answer `90 00`).
    public static func accepted(_ response: [UInt8]) -> Bool {
        response.count >= 2 && response[response.count - 2] == 0x90
    }

    /// Sends `commands` to the card on `reader` through a connection of its own (the
    /// tap's was closed when the read ended), stopping at the first refusal or error.
    /// Blocks for as long as the reader takes to answer: call it off every path a tap
    /// waits on.
    /// - Parameters:
    ///   - commands: from ``commands(for:reader:)``.
    ///   - reader: the pcscd reader name.
    ///   - context: a context of the calling thread's.
    /// - Returns: what happened; never throws.
    public static func send(_ commands: [[UInt8]], to reader: String, context: PCSCContext) -> Outcome {
        let connection: CardConnection
        do {
            connection = try context.connect(reader: reader, share: .shared)
        } catch {
            return .failed(apdus: 0, error: error)
        }
        defer { try? connection.disconnect(.leave) }
        for (index, command) in commands.enumerated() {
            let response: [UInt8]
            do {
                response = try connection.transmit(command)
            } catch {
                return .failed(apdus: index, error: error)
            }
            guard response.count >= 2 else { return .noAnswer(apdus: index) }
            guard accepted(response) else { return .refused(command: command, status: Array(response.suffix(2))) }
        }
        return .shown(apdus: commands.count)
    }
}

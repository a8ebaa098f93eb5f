/// One command/response pair as a `TracingTransport` saw it.
public struct APDUExchange: Sendable, Equatable {
    /// The command APDU sent.
    public let command: [UInt8]
    /// The response, status word included; nil when the transport threw.
    public let response: [UInt8]?
    /// The transport's error, described, when it threw.
    public let error: String?
    /// How long the transport took.
    public let duration: Duration
    /// What the exchange meant: "GET DATA (UID): ok".
    public let meaning: String

    /// The response in spaced hex with the ISRN's middle digits hidden (as `ISRN.mask`
    /// does), for output that may be kept; "-" when there was no response.
    public var redactedResponseHex: String {
        guard let response else { return "-" }
        return APDUMeaning.redact(command: command, response: response)
    }
}

/// Wraps a transport and records every exchange, for `necctl scan --trace`.
public struct TracingTransport<Base: APDUTransport>: APDUTransport {
    /// The wrapped transport.
    public var base: Base
    /// Every exchange so far, in order.
    public private(set) var exchanges: [APDUExchange] = []

    /// - Parameter base: the transport to record.
    public init(_ base: Base) {
        self.base = base
    }

    /// Sends through `base` and records the command, the response or error, the time
    /// taken and the meaning; errors are rethrown unchanged.
    public mutating func transmit(_ command: [UInt8]) throws -> [UInt8] {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let response = try base.transmit(command)
            let duration = start.duration(to: clock.now)
            exchanges.append(APDUExchange(
                command: command, response: response, error: nil, duration: duration,
                meaning: APDUMeaning.describe(command: command, response: response)))
            return response
        } catch {
            let duration = start.duration(to: clock.now)
            exchanges.append(APDUExchange(
                command: command, response: nil, error: String(describing: error), duration: duration,
                meaning: "\(APDUMeaning.describe(command: command)): transport error"))
            throw error
        }
    }

    /// Forgets the recorded exchanges (between cards).
    public mutating func clear() { exchanges.removeAll() }
}

/// Why a chained exchange did not complete. Transport errors are not wrapped: they pass
/// through unchanged.
public enum ExchangeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A response shorter than a status word, in this frame (1-based).
    case noStatusWord(frame: Int, length: Int)
    /// The card kept asking for more frames beyond the limit.
    case tooManyFrames(limit: Int)

    /// One line for a technician.
    public var description: String {
        switch self {
        case .noStatusWord(let f, let n): "frame \(f) answer has \(n) bytes, no status word"
        case .tooManyFrames(let l): "card still had more data after \(l) frames"
        }
    }
}

/// The outcome of a possibly chained exchange: every frame's data concatenated, and the
/// status word of the last frame.
public struct ChainedResponse: Sendable, Equatable {
    /// The data of all frames, in order, without status words.
    public var data: [UInt8]
    /// The last frame's status word.
    public var status: StatusWord
    /// How many APDUs the exchange took.
    public var frames: Int
}

extension ChainedResponse {
    /// The loop both chaining rules share (DESFire's `91 AF` and CMD2's `61 xx`): sends
    /// `command`, appends each answer's data, and sends what `follow` asks for next until
    /// it asks for nothing.
    /// - Parameters:
    ///   - command: the first APDU.
    ///   - transport: where to send it.
    ///   - frameLimit: most APDUs to send in all.
    ///   - follow: for a frame's status word, the APDU that fetches the next frame, or nil
    ///     when this frame was the last.
    /// - Throws: `ExchangeError` for a frame with no status word or too many frames;
    ///   transport errors unchanged.
    static func collect(
        _ command: [UInt8], over transport: inout some APDUTransport, frameLimit: Int,
        follow: (StatusWord) -> [UInt8]?
    ) throws -> ChainedResponse {
        var data: [UInt8] = []
        var next = command
        var frames = 0
        while true {
            guard frames < frameLimit else { throw ExchangeError.tooManyFrames(limit: frameLimit) }
            let response = try transport.transmit(next)
            frames += 1
            guard let sw = StatusWord(response: response) else {
                throw ExchangeError.noStatusWord(frame: frames, length: response.count)
            }
            data.append(contentsOf: response.dropLast(2))
            guard let following = follow(sw) else { return ChainedResponse(data: data, status: sw, frames: frames) }
            next = following
        }
    }
}

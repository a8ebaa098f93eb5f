/// A till voided the lunch of an earlier event: stored in the journal and replayed like a tap
/// (minor version 1). No reader, card or decision.
///
/// `{"class":"VOIDED","seq":43,"time":"2026-11-27T12:02:02.123Z","voided":42,"pupil":"P0000042","lane":"till-1"}`
public struct VoidedEvent: Codable, Hashable, Sendable {
    /// Always ``MessageClass/voided``.
    public var messageClass: MessageClass = .voided
    /// The event's place in the journal.
    public var seq: Int64?
    /// When the lunch was voided, RFC 3339 UTC with milliseconds.
    public var time: String
    /// The `seq` of the event whose lunch was released.
    public var voided: Int64?
    /// The pupil whose lunch it was.
    public var pupil: String?
    /// The voided event's lane, when it had one.
    public var lane: String?

    /// Creates a void event.
    /// - Parameters: the event's keys, see the properties.
    public init(seq: Int64?, time: String, voided: Int64?, pupil: String? = nil, lane: String? = nil) {
        (self.seq, self.time, self.voided) = (seq, time, voided)
        (self.pupil, self.lane) = (pupil, lane)
    }

    enum CodingKeys: String, CodingKey {
        case messageClass = "class", seq, time, voided, pupil, lane
    }
}

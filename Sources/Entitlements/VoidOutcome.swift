public import NECCard

/// What `void(seq:)` did.
public enum VoidOutcome: Sendable, Equatable {
    /// The lunch of event `seq` was released (the pupil may have another today), and
    /// this VOIDED event journalled.
    case released(voided: StoredEvent)
    /// Event `seq` exists but holds no lunch redemption (not a lunch, or already voided).
    case nothingToRelease
    /// No event has that `seq` (never written, or pruned).
    case unknownSeq
    /// Event `seq` is the lunch of an earlier day (local date): only today's can be voided.
    case notToday(lunchDay: CivilDate)
}

/// The one way necd and necctl write an instant: RFC 3339 in UTC, `2026-11-27T12:01:02.123Z`
/// (milliseconds) or `2026-11-27T12:01:02Z` (whole seconds). Events on the socket, the
/// journal's lines, `necctl scan`, doctor and debuginfo all write times through it.
public enum UTCTimestamp {
    /// `2026-11-27T12:01:02.123Z`, for milliseconds since 1970-01-01T00:00:00Z (negative
    /// before it: `-1` is `1969-12-31T23:59:59.999Z`).
    public static func string(millis: Int64) -> String {
        let seconds = floorDivide(millis, 1000)
        return text(seconds: seconds) + "." + CivilDate.pad(Int(millis - seconds * 1000), 3) + "Z"
    }

    /// `2026-11-27T12:01:02Z`, for whole seconds since 1970-01-01T00:00:00Z.
    public static func string(seconds: Int64) -> String { text(seconds: seconds) + "Z" }

    /// The same for a time as seconds since 1970 with a fraction (what `Date` holds in
    /// `timeIntervalSince1970`), cut down (not rounded) to the millisecond or, without
    /// `fractionalSeconds`, to the second.
    public static func string(secondsSince1970 time: Double, fractionalSeconds: Bool = true) -> String {
        fractionalSeconds
            ? string(millis: Int64((time * 1000).rounded(.down)))
            : string(seconds: Int64(time.rounded(.down)))
    }

    /// `2026-11-27T12:01:02`, without a fraction or zone.
    private static func text(seconds: Int64) -> String {
        let days = floorDivide(seconds, 86_400)
        let ofDay = Int(seconds - days * 86_400)
        let date = CivilDate(daysSinceUnixEpoch: Int(days))
        return "\(date)T\(CivilDate.pad(ofDay / 3600, 2)):\(CivilDate.pad(ofDay / 60 % 60, 2)):\(CivilDate.pad(ofDay % 60, 2))"
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : (value - divisor + 1) / divisor
    }
}

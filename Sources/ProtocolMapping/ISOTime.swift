import NECCard

/// ISO-8601 UTC timestamps with milliseconds, `2026-11-27T12:01:02.123Z`: the `time` of events.
enum ISOTime {
    /// The timestamp of `millis` milliseconds since 1970-01-01 UTC.
    /// - Parameter millis: milliseconds since the epoch (negative before it).
    static func string(millis: Int64) -> String {
        let ms = Int(millis)
        let secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let milli = ms - secs * 1000
        let days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
        let sod = secs - days * 86_400
        let date = CivilDate(daysSinceUnixEpoch: days)
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        return "\(date)T\(pad(sod / 3600, 2)):\(pad(sod / 60 % 60, 2)):\(pad(sod % 60, 2)).\(pad(milli, 3))Z"
    }
}

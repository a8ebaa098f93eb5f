public import Foundation

/// One `[[service]]` table: a time of day, on some days of the week, when a kind of
/// service is given. With no window of a kind, that kind is served at any time.
public struct ServiceWindow: Sendable, Hashable {
    /// What the window is for. Only lunches have windows: a `paid` pupil may pay at any time.
    public enum Kind: String, Sendable, Hashable, CaseIterable { case lunch }

    /// A day of the week, as written in `days` (`mon` ... `sun`).
    public enum Weekday: String, Sendable, Hashable, CaseIterable {
        case mon, tue, wed, thu, fri, sat, sun

        /// The weekday of a date counted in days since 1970-01-01 (a Thursday).
        public init(daysSinceUnixEpoch days: Int) {
            let index = ((days % 7) + 7 + 3) % 7  // 0 = Monday
            self = Weekday.allCases[index]
        }
    }

    /// The kind served.
    public var kind: Kind
    /// Local time of day the window opens, inclusive, in minutes after midnight.
    public var startMinute: Int
    /// Local time of day the window closes, exclusive, in minutes after midnight.
    public var endMinute: Int
    /// The days it applies on.
    public var days: Set<Weekday>

    /// - Parameters:
    ///   - kind: what is served.
    ///   - startMinute: opening, minutes after local midnight, inclusive (0-1439).
    ///   - endMinute: closing, minutes after local midnight, exclusive (1-1440), after `startMinute`.
    ///   - days: the days it applies on, every day by default.
    public init(kind: Kind = .lunch, startMinute: Int, endMinute: Int, days: Set<Weekday> = Set(Weekday.allCases)) {
        self.kind = kind
        self.startMinute = startMinute
        self.endMinute = endMinute
        self.days = days
    }

    /// Whether the window is open at local minute `minute` of a day that is `weekday`.
    public func isOpen(weekday: Weekday, minute: Int) -> Bool {
        days.contains(weekday) && startMinute <= minute && minute < endMinute
    }
}

extension DecisionPolicy {
    /// Whether `kind` is served at `instant`: true when no window of that kind is
    /// configured, or one of them is open then (local time in the configured zone).
    public func serves(_ kind: ServiceWindow.Kind, at instant: Date) -> Bool {
        let windows = serviceWindows.filter { $0.kind == kind }
        if windows.isEmpty { return true }
        let seconds = Int(instant.timeIntervalSince1970.rounded(.down)) + timeZone.secondsFromGMT(for: instant)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let minute = (seconds - days * 86_400) / 60
        let weekday = ServiceWindow.Weekday(daysSinceUnixEpoch: days)
        return windows.contains { $0.isOpen(weekday: weekday, minute: minute) }
    }
}

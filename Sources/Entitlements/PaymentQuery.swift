import Foundation
public import NECCard
import GRDB

/// Which charges and refunds `necctl payments` asks for: those of one local day (in the
/// configured time zone, the day the daemon counts `spent_today` by), for every pupil or
/// one.
///
/// They are read from the journal, the `PAYMENT` events, so a declined charge is there
/// with its reason and a refund with its own time and lane. The journal keeps
/// `event_retention` days (14 by default): an older day has no payments left to show.
public struct PaymentQuery: Sendable, Equatable {
    /// The local date.
    public var day: CivilDate
    /// Only this pupil's charges and refunds, when given.
    public var pupil: String?

    /// - Parameters:
    ///   - day: the local date whose payments to read.
    ///   - pupil: one pupil's only, or every pupil's.
    public init(day: CivilDate, pupil: String? = nil) {
        self.day = day
        self.pupil = pupil
    }
}

extension EntitlementStore {
    /// The `PAYMENT` events `query` names, in journal (`seq`) order.
    ///
    /// One read in a WAL snapshot of its own: it takes no write lock, so the daemon's taps
    /// and charges go on while it runs, and it sees each charge whole or not at all.
    /// - Parameters:
    ///   - query: the day and, optionally, the pupil.
    ///   - policy: its time zone says when the day starts and ends.
    /// - Throws: `DatabaseError`.
    public func payments(_ query: PaymentQuery, policy: DecisionPolicy) throws -> [StoredEvent] {
        // Every zone's offset from UTC is within 14 hours: read a little either side of the
        // UTC day through the time index, then keep exactly the events whose local date
        // (by the zone's offset at their own instant, as the daemon dates them) is the day.
        let dayMillis: Int64 = 86_400_000
        let margin: Int64 = 15 * 3_600_000
        let start = Int64(query.day.daysSinceUnixEpoch) * dayMillis - margin
        let end = Int64(query.day.daysSinceUnixEpoch + 1) * dayMillis + margin
        var sql = "SELECT * FROM event WHERE time_ms >= ? AND time_ms < ? AND class = ?"
        var arguments: StatementArguments = [start, end, EventClass.payment.rawValue]
        if let pupil = query.pupil {
            sql += " AND pupil = ?"
            arguments += [pupil]
        }
        sql += " ORDER BY seq"
        let rows = try pool.read { db in try Row.fetchAll(db, sql: sql, arguments: arguments).map(EntitlementStore.event) }
        return rows.filter { policy.localDate(of: Date(timeIntervalSince1970: Double($0.timeMillis) / 1000)) == query.day }
    }
}

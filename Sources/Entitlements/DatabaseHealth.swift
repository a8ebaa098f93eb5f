public import Foundation
import GRDB

/// What `necctl doctor` needs to know about the state database, read without changing it.
///
/// ``inspect(path:)`` opens the file read-only and never migrates: a doctor must not
/// "repair" a damaged file by writing to it, and must work while necd holds the writer.
public struct DatabaseHealth: Sendable {
    /// The rows of `PRAGMA quick_check`: `["ok"]` for an intact file, else SQLite's findings.
    public var quickCheck: [String]
    /// The list in force, nil when none was ever imported (or the schema is not there).
    public var list: ListStatus?
    /// Rows in the event journal.
    public var eventCount: Int
    /// The oldest stored event's time, nil when the journal is empty.
    public var oldestEvent: Date?
    /// The newest stored event's time, nil when the journal is empty.
    public var newestEvent: Date?
    /// False when the file has no necd schema (not a necd database, or never opened by necd).
    public var hasSchema: Bool

    /// True when `PRAGMA quick_check` found nothing wrong.
    public var isIntact: Bool { quickCheck == ["ok"] }

    /// Reads the health of the database at `path`.
    /// - Parameter path: an existing SQLite file.
    /// - Throws: GRDB's `DatabaseError` when the file cannot be opened or is too damaged to
    ///   read its schema (SQLite's "database disk image is malformed", "file is not a database").
    public static func inspect(path: String) throws -> DatabaseHealth {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        configuration.label = "necctl.doctor"
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        return try queue.read { db in
            // At most 20 findings: the first few say what is wrong; the rest is noise.
            let findings = try String.fetchAll(db, sql: "PRAGMA quick_check(20)")
            let tables = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
            guard tables.isSuperset(of: ["list_version", "event"]) else {
                return DatabaseHealth(
                    quickCheck: findings, list: nil, eventCount: 0, oldestEvent: nil, newestEvent: nil, hasSchema: false)
            }
            var list: ListStatus?
            if let row = try Row.fetchOne(
                db, sql: "SELECT id, rows, imported_at_ms, file, sha256, signer FROM list_version WHERE state = 'current'")
            {
                let previous = try Bool.fetchOne(db, sql: "SELECT 1 FROM list_version WHERE state = 'previous'") ?? false
                list = ListStatus(
                    generation: row[0], rows: row[1],
                    importedAt: Date(timeIntervalSince1970: Double(row[2] as Int64) / 1000),
                    file: row[3], sha256: row[4], signer: row[5], previousAvailable: previous)
            }
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM event") ?? 0
            // Both ends come from the event_time index: two short reads, however long the journal.
            let oldest = try Int64.fetchOne(db, sql: "SELECT min(time_ms) FROM event")
            let newest = try Int64.fetchOne(db, sql: "SELECT max(time_ms) FROM event")
            return DatabaseHealth(
                quickCheck: findings, list: list, eventCount: count,
                oldestEvent: oldest.map { Date(timeIntervalSince1970: Double($0) / 1000) },
                newestEvent: newest.map { Date(timeIntervalSince1970: Double($0) / 1000) },
                hasSchema: true)
        }
    }
}

public import Foundation
public import NECCard
import GRDB

/// The entitlement store: the list in force, redemptions and the event journal, all in
/// one SQLite database (WAL) behind a GRDB `DatabasePool`.
///
/// Durability: the writer connection runs `synchronous = FULL`, so in WAL mode every
/// commit (a redemption with its event) is fsynced before `decide` returns.
/// Consistency across processes (necd, necctl) comes from SQLite's locks: decisions run
/// in IMMEDIATE transactions, so two readers tapping one pupil's two cards are
/// serialised and the `redemption` primary key allows one lunch a day whatever happens.
///
/// Memory: the list is never copied into memory; every decision reads its row(s)
/// through the `(list_id, card)` key.
public final class EntitlementStore: Sendable {
    /// The decision policy (time zone, staleness, retention).
    public let policy: DecisionPolicy
    /// The database file path.
    public let path: String
    let pool: DatabasePool

    /// Opens (creating and migrating if needed) the store at `path`.
    /// - Parameters:
    ///   - path: the SQLite file; its directory must exist.
    ///   - policy: the decision policy.
    ///   - readerCount: most concurrent reader connections (each has its own page cache).
    /// - Throws: GRDB's `DatabaseError` when the file cannot be opened or migrated.
    public init(path: String, policy: DecisionPolicy = DecisionPolicy(), readerCount: Int = 4) throws {
        self.path = path
        self.policy = policy
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.maximumReaderCount = readerCount
        config.label = "necd.entitlements"
        config.prepareDatabase { db in
            // FULL: a commit is on disk before decide() returns (see the type's doc).
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Keep the WAL from staying huge after an import.
            try db.execute(sql: "PRAGMA journal_size_limit = 16777216")
            // 2 MiB page cache per connection: RSS stays small with a 1M-row list.
            try db.execute(sql: "PRAGMA cache_size = -2048")
        }
        pool = try DatabasePool(path: path, configuration: config)
        try Schema.migrator.migrate(pool)
        // What a killed import left staged goes now. Best effort: a store that cannot
        // tidy (read-only, disk full) still serves.
        try? removeLeftoverLists()
    }

    // MARK: Decisions

    /// Decides one tap and records it: the event, and the redemption of a lunch at a
    /// till, in one transaction committed before this returns.
    ///
    /// Never throws. When the store cannot write, the answer is declined `unavailable`
    /// (never a lunch), itself journalled when possible; when even that cannot be
    /// stored, the event comes back with `seq == nil` and is not replayable.
    /// - Parameters:
    ///   - identity: what was read from the card.
    ///   - reader: the PC/SC reader name.
    ///   - lane: the reader's configured lane label.
    ///   - role: `till` redeems lunches (class TAP), `kiosk` never does (class IDENTIFY).
    ///   - at: the clock.
    /// - Returns: the stored event.
    public func decide(_ identity: CardIdentity, reader: String, lane: String?, role: ReaderRole, at: Date) -> StoredEvent {
        let millis = EntitlementStore.millis(at)
        let card = CardFields(identity)
        let eventClass: EventClass = role == .till ? .tap : .identify
        let today = policy.localDate(of: at)
        do {
            return try pool.writeWithoutTransaction { db in
                var event: StoredEvent?
                try db.inTransaction(.immediate) {
                    let verdict = try self.evaluate(db, identity: identity, at: at, today: today)
                    var e = StoredEvent(
                        seq: nil, timeMillis: millis, eventClass: eventClass, reader: reader, lane: lane,
                        card: card, verdict: verdict)
                    let seq = try EntitlementStore.insert(e, db)
                    e.seq = seq
                    if role == .till, verdict.isLunch, let pupil = verdict.pupil {
                        try db.execute(
                            sql: "INSERT INTO redemption (pupil, day, seq) VALUES (?, ?, ?)",
                            arguments: [pupil, today.daysSinceUnixEpoch, seq])
                    }
                    event = e
                    return .commit
                }
                return event!
            }
        } catch {
            var e = StoredEvent(
                seq: nil, timeMillis: millis, eventClass: eventClass, reader: reader, lane: lane, card: card,
                verdict: .declined(.unavailable))
            e.seq = try? pool.write { db in try EntitlementStore.insert(e, db) }
            return e
        }
    }

    /// The decision `card` would get at `at`, without redeeming or journalling anything.
    /// - Parameters:
    ///   - card: an ISRN with or without spaces, or a UID in hex (8 or 14 digits).
    ///   - at: the clock.
    /// - Throws: `CardReference.Invalid` for text that is neither; `DatabaseError`.
    public func lookup(card: String, at: Date) throws -> LookupResult {
        let identity = try CardReference.identity(card)
        return try lookup(identity, at: at)
    }

    /// The decision `identity` would get at `at`, without redeeming or journalling anything.
    public func lookup(_ identity: CardIdentity, at: Date) throws -> LookupResult {
        let today = policy.localDate(of: at)
        let verdict = try pool.read { db in try self.evaluate(db, identity: identity, at: at, today: today) }
        return LookupResult(card: CardFields(identity), verdict: verdict)
    }

    /// Reads what the rules need (the list in force, the card's rows, today's lunch) and
    /// applies them.
    func evaluate(_ db: Database, identity: CardIdentity, at: Date, today: CivilDate) throws -> Verdict {
        let current = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT id, imported_at_ms FROM list_version WHERE state = 'current'"))
        var rows: [ListRow] = []
        var lunches: Set<String> = []
        if let current, identity.isReadable {
            let listID: Int64 = current[0]
            let keys = [identity.isrn?.digits, identity.uidHex].compactMap { $0 }
            for key in keys {
                if let row = try Row.fetchOne(
                    db.cachedStatement(sql: """
                        SELECT card, pupil, entitlement, hotlisted, valid_from, valid_until, daily_limit, allergens, message
                        FROM list_row WHERE list_id = ? AND card = ?
                        """), arguments: [listID, key])
                {
                    rows.append(EntitlementStore.listRow(row))
                }
            }
            for row in rows {
                let taken = try Bool.fetchOne(
                    db.cachedStatement(sql: "SELECT 1 FROM redemption WHERE pupil = ? AND day = ?"),
                    arguments: [row.pupil, today.daysSinceUnixEpoch]) ?? false
                if taken { lunches.insert(row.pupil) }
            }
        }
        let importedAt = current.map { Date(timeIntervalSince1970: Double($0[1] as Int64) / 1000) }
        return DecisionEngine.evaluate(
            identity: identity, rows: rows, lunchesToday: lunches, listImportedAt: importedAt, now: at, policy: policy)
    }

    static func listRow(_ row: Row) -> ListRow {
        let allergens: String? = row[7]
        return ListRow(
            card: row[0], pupil: row[1], entitlement: Entitlement(rawValue: row[2]), hotlisted: row[3],
            validFrom: (row[4] as Int?).map { CivilDate(daysSinceUnixEpoch: $0) },
            validUntil: (row[5] as Int?).map { CivilDate(daysSinceUnixEpoch: $0) },
            dailyLimit: row[6],
            allergens: allergens.map { $0.split(separator: ";").map(String.init) } ?? [],
            message: row[8])
    }

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    // MARK: Journal

    /// Appends `event` to the journal and returns its `seq`.
    static func insert(_ e: StoredEvent, _ db: Database) throws -> Int64 {
        let v = e.verdict
        try db.cachedStatement(sql: """
            INSERT INTO event (time_ms, class, reader, lane, isrn, uid, media, expiry, decision, kind, reason,
                               pupil, allergens, message, daily_limit, list_stale)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                e.timeMillis, e.eventClass.rawValue, e.reader, e.lane, e.card.isrn, e.card.uid,
                e.card.media.rawValue, e.card.expiry?.description, v.decision.rawValue, v.kind?.rawValue,
                v.reason?.rawValue, v.pupil, v.allergens?.joined(separator: ";"), v.message, v.dailyLimit,
                v.listStale,
            ])
        return db.lastInsertedRowID
    }

    static func event(_ row: Row) -> StoredEvent {
        let allergens: String? = row["allergens"]
        let verdict = Verdict(
            decision: Decision(rawValue: row["decision"]) ?? .declined,
            kind: (row["kind"] as String?).flatMap(AuthorisationKind.init(rawValue:)),
            reason: (row["reason"] as String?).flatMap(DeclineReason.init(rawValue:)),
            pupil: row["pupil"],
            allergens: allergens.map { $0.split(separator: ";").map(String.init) },
            message: row["message"], dailyLimit: row["daily_limit"], listStale: row["list_stale"])
        let card = CardFields(
            isrn: row["isrn"], uid: row["uid"], media: Media(rawValue: row["media"]) ?? .unknown,
            expiry: (row["expiry"] as String?).flatMap { CivilDate(iso: $0) })
        return StoredEvent(
            seq: row["seq"], timeMillis: row["time_ms"],
            eventClass: EventClass(rawValue: row["class"]) ?? .tap, reader: row["reader"], lane: row["lane"],
            card: card, verdict: verdict)
    }

    /// Stored events with `seq` greater than `seq`, in order.
    /// - Parameters:
    ///   - seq: the last `seq` the caller has (0 for everything kept).
    ///   - limit: most events returned; page by calling again with the last `seq`.
    public func events(after seq: Int64, limit: Int) throws -> [StoredEvent] {
        try pool.read { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM event WHERE seq > ? ORDER BY seq LIMIT ?"),
                arguments: [seq, limit]
            ).map(EntitlementStore.event)
        }
    }

    /// The highest `seq` ever given (0 when none), even if pruned since.
    public func lastSeq() throws -> Int64 {
        try pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'event'") ?? 0
        }
    }

    /// Releases the lunch redeemed by event `seq` (a till cancelling a sale).
    public func void(seq: Int64) throws -> VoidOutcome {
        try pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM event WHERE seq = ?", arguments: [seq]) != nil else {
                return .unknownSeq
            }
            guard let pupil = try String.fetchOne(db, sql: "SELECT pupil FROM redemption WHERE seq = ?", arguments: [seq])
            else { return .nothingToRelease }
            try db.execute(sql: "DELETE FROM redemption WHERE seq = ?", arguments: [seq])
            return .released(pupil: pupil)
        }
    }

    /// Deletes events and redemptions older than `cutoff`, a few hundred rows per
    /// transaction so that taps waiting for the writer are not held up.
    /// - Returns: the number of events deleted.
    @discardableResult
    public func prune(olderThan cutoff: Date) throws -> Int {
        let cutoffMillis = EntitlementStore.millis(cutoff)
        let cutoffDay = policy.localDate(of: cutoff).daysSinceUnixEpoch
        var total = 0
        while true {
            let n = try pool.write { db in
                try db.execute(
                    sql: "DELETE FROM event WHERE seq IN (SELECT seq FROM event WHERE time_ms < ? ORDER BY seq LIMIT 500)",
                    arguments: [cutoffMillis])
                return db.changesCount
            }
            total += n
            if n < 500 { break }
        }
        // A school's redemptions for a fortnight are a few thousand rows: one statement.
        try pool.write { db in
            try db.execute(sql: "DELETE FROM redemption WHERE day < ?", arguments: [cutoffDay])
        }
        return total
    }

    /// Prunes what is older than the policy's `event_retention` at `now`.
    @discardableResult
    public func prune(at now: Date = Date()) throws -> Int {
        try prune(olderThan: now.addingTimeInterval(-Double(policy.eventRetention) * 86_400))
    }

    // MARK: List state

    /// The list in force, or nil when none was ever imported.
    public func listStatus() throws -> ListStatus? {
        try pool.read { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT id, rows, imported_at_ms, file, sha256, signer FROM list_version WHERE state = 'current'")
            else { return nil }
            let previous = try Bool.fetchOne(db, sql: "SELECT 1 FROM list_version WHERE state = 'previous'") ?? false
            return ListStatus(
                generation: row[0], rows: row[1], importedAt: Date(timeIntervalSince1970: Double(row[2] as Int64) / 1000),
                file: row[3], sha256: row[4], signer: row[5], previousAvailable: previous)
        }
    }

    /// The id of the list in force (0 when none): changes on every import and rollback.
    /// One indexed read; decisions already read the list from SQLite, so this is only
    /// for status displays.
    public func listGeneration() throws -> Int64 {
        try pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT id FROM list_version WHERE state = 'current'") ?? 0
        }
    }
}

extension EntitlementStore {
    /// Copies the WAL into the database file and truncates the WAL to zero bytes.
    /// For maintenance and tests; SQLite checkpoints by itself in normal running.
    public func checkpoint() throws {
        try pool.writeWithoutTransaction { db in
            _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }
}

extension EntitlementStore {
    /// The verdict for `identity` inside a read the caller already holds (tests use it to
    /// look up several cards in one snapshot).
    func lookup(_ identity: CardIdentity, db: Database, at: Date) throws -> Verdict {
        try evaluate(db, identity: identity, at: at, today: policy.localDate(of: at))
    }
}

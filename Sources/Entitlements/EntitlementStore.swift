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
///
/// Waiting: taps write through a connection of their own (`tapWriter`) that waits at
/// most ``tapBusyTimeout`` for SQLite's write lock, so a pupil never waits behind another
/// process's long write, nor behind this process's other writes (pruning, imports),
/// which use the pool's writer and its long timeout. Past the timeout a tap is declined
/// `unavailable` at once.
///
/// Policy: the store holds none. Every call that applies the decision rules (`decide`,
/// `lookup`, `void`, `prune`) is given the ``DecisionPolicy`` in force, so a daemon that
/// reloads its configuration keeps its store and connections and hands the next call the
/// new policy.
public final class EntitlementStore: Sendable {
    /// The database file path.
    public let path: String
    let pool: DatabasePool
    /// The tap path's writer: decisions (and voids, which are journalled like taps, in
    /// the same order) on one serial connection with a short busy timeout.
    let tapWriter: DatabaseQueue
    /// How `tapWriter` waits for the write lock: in short polls (see the type).
    let tapLockWait: TapLockWait

    /// How long a tap waits for another connection's write transaction before it is
    /// declined `unavailable`: far above a decision's own few milliseconds, and short
    /// enough for a queue at the till not to notice.
    public static let tapBusyTimeout: TimeInterval = 0.25
    /// How long everything else (imports, pruning, rollbacks) waits for the lock.
    public static let busyTimeout: TimeInterval = 10

    /// Opens (creating and migrating if needed) the store at `path`.
    /// - Parameters:
    ///   - path: the SQLite file; its directory must exist.
    ///   - readerCount: most concurrent reader connections (each has its own page cache).
    /// - Throws: GRDB's `DatabaseError` when the file cannot be opened or migrated.
    public init(path: String, readerCount: Int = 4) throws {
        self.path = path
        EntitlementStore.createPrivately(path)
        let signal = WriteWaiterSignal(database: path)
        tapLockWait = TapLockWait(limit: EntitlementStore.tapBusyTimeout, signal: signal)
        // `pool` waits the same way, for up to `busyTimeout`, announcing its waits too.
        let poolWait = TapLockWait(limit: EntitlementStore.busyTimeout, signal: signal)
        pool = try DatabasePool(path: path, configuration: EntitlementStore.configuration(
            label: "necd.entitlements", busyMode: .callback { tries in poolWait.retry(afterTries: tries) },
            readerCount: readerCount))
        try Schema.migrator.migrate(pool)
        // Opened after the pool: the database is in WAL mode and migrated by now.
        let wait = tapLockWait
        tapWriter = try DatabaseQueue(path: path, configuration: EntitlementStore.configuration(
            label: "necd.taps", busyMode: .callback { tries in wait.retry(afterTries: tries) }, readerCount: 1))
        // What a killed import left staged goes now. Best effort: a store that cannot
        // tidy (read-only, disk full) still serves.
        try? removeLeftoverLists()
    }

    private static func configuration(label: String, busyMode: Database.BusyMode, readerCount: Int) -> Configuration {
        var config = Configuration()
        config.busyMode = busyMode
        config.maximumReaderCount = readerCount
        config.label = label
        config.prepareDatabase { db in
            // FULL: a commit is on disk before decide() returns (see the type's doc).
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Keep the WAL from staying huge after an import.
            try db.execute(sql: "PRAGMA journal_size_limit = 16777216")
            // 2 MiB page cache per connection: RSS stays small with a 1M-row list.
            try db.execute(sql: "PRAGMA cache_size = -2048")
        }
        return config
    }

    /// Creates a missing database file with mode 0600, whoever opens it first (necd, or
    /// `necctl list import` under a login's umask of 0022): SQLite would make it 0644,
    /// readable by every user, and it holds pupil references. SQLite gives the -wal and
    /// -shm files the database file's mode, so they are private too. An existing file is
    /// never opened here: closing a descriptor of a file SQLite has open drops its locks.
    static func createPrivately(_ path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if fd >= 0 { close(fd) }
        // Any failure (it exists, the directory is missing) is SQLite's to report.
    }

    // MARK: Decisions

    /// Decides one tap and records it: the event, and the redemption of a lunch at a
    /// till, in one transaction committed before this returns.
    ///
    /// Never throws. When the store cannot write (another connection has held the write
    /// lock for ``tapBusyTimeout``, the disk is full), the answer is declined `unavailable`
    /// (never a lunch), itself journalled when possible; when even that cannot be stored,
    /// the event comes back with `seq == nil` and is not replayable.
    /// - Parameters:
    ///   - identity: what was read from the card.
    ///   - reader: the PC/SC reader name.
    ///   - lane: the reader's configured lane label.
    ///   - role: `till` redeems lunches (class TAP), `kiosk` never does (class IDENTIFY).
    ///   - at: the clock.
    ///   - policy: the decision policy in force (time zone, staleness, list trust).
    ///   - onStored: called with the event once it is stored (or known not to be), before
    ///     the next tap or void is journalled: publish it here and watchers get events in
    ///     `seq` order.
    /// - Returns: the stored event.
    public func decide(
        _ identity: CardIdentity, reader: String, lane: String?, role: ReaderRole, at: Date,
        policy: DecisionPolicy, onStored: (StoredEvent) -> Void = { _ in }
    ) -> StoredEvent {
        let millis = EntitlementStore.millis(at)
        let card = CardFields(identity)
        let eventClass: EventClass = role == .till ? .tap : .identify
        let today = policy.localDate(of: at)
        func event(_ verdict: Verdict) -> StoredEvent {
            StoredEvent(
                seq: nil, timeMillis: millis, eventClass: eventClass, reader: reader, lane: lane, card: card,
                verdict: verdict)
        }
        return tapWriter.writeWithoutTransaction { db in
            record(db, day: today, redeems: role == .till, event: event, onStored: onStored) { db in
                try self.evaluate(db, identity: identity, at: at, today: today, policy: policy)
            }
        }
    }

    /// Decides (`decide`) and records one decision on the tap writer's `db`: the event,
    /// and when `redeems` and it is a lunch the redemption of `day`, in one IMMEDIATE
    /// transaction; on any failure the `unavailable` event, journalled when possible.
    /// Calls `onStored` with what it returns.
    func record(
        _ db: Database, day: CivilDate, redeems: Bool, event: (Verdict) -> StoredEvent,
        onStored: (StoredEvent) -> Void, decide: (Database) throws -> Verdict
    ) -> StoredEvent {
        var stored: StoredEvent?
        do {
            // Set only once the transaction has committed: a failed COMMIT leaves nil.
            var decided: StoredEvent?
            try db.inTransaction(.immediate) {
                let verdict = try decide(db)
                var e = event(verdict)
                let seq = try EntitlementStore.insert(e, db)
                e.seq = seq
                if redeems, verdict.isLunch, let pupil = verdict.pupil {
                    try db.execute(
                        sql: "INSERT INTO redemption (pupil, day, seq) VALUES (?, ?, ?)",
                        arguments: [pupil, day.daysSinceUnixEpoch, seq])
                }
                decided = e
                return .commit
            }
            stored = decided
        } catch {
            var unavailable = event(.declined(.unavailable))
            unavailable.seq = journalUnavailable(unavailable, db, after: error)
            stored = unavailable
        }
        let result = stored ?? event(.declined(.unavailable))
        onStored(result)
        return result
    }

    /// Journals an `unavailable` decision after `error`, when the database lets it; the
    /// seq, or nil. After a busy timeout it does not wait again: the lock's holder has
    /// just been waited for, and the pupil is waiting too.
    func journalUnavailable(_ event: StoredEvent, _ db: Database, after error: any Error) -> Int64? {
        let busy = (error as? DatabaseError).map { $0.resultCode == .SQLITE_BUSY || $0.resultCode == .SQLITE_LOCKED } ?? false
        func journal() -> Int64? {
            var seq: Int64?
            try? db.inTransaction(.immediate) {
                seq = try EntitlementStore.insert(event, db)
                return .commit
            }
            return seq
        }
        return busy ? tapLockWait.withoutWaiting(journal) : journal()
    }

    /// The decision `card` would get at `at`, without redeeming or journalling anything.
    /// - Parameters:
    ///   - card: an ISRN with or without spaces, or a UID in hex (8 or 14 digits).
    ///   - at: the clock.
    ///   - policy: the decision policy in force.
    /// - Throws: `CardReference.Invalid` for text that is neither; `DatabaseError`.
    public func lookup(card: String, at: Date, policy: DecisionPolicy) throws -> LookupResult {
        let identity = try CardReference.identity(card)
        return try lookup(identity, at: at, policy: policy)
    }

    /// The decision `identity` would get at `at` under `policy`, without redeeming or
    /// journalling anything.
    public func lookup(_ identity: CardIdentity, at: Date, policy: DecisionPolicy) throws -> LookupResult {
        let today = policy.localDate(of: at)
        let verdict = try pool.read { db in
            try self.evaluate(db, identity: identity, at: at, today: today, policy: policy)
        }
        return LookupResult(card: CardFields(identity), verdict: verdict)
    }

    /// Reads what the rules need (the list in force, the card's rows, today's lunch) and
    /// applies them.
    func evaluate(
        _ db: Database, identity: CardIdentity, at: Date, today: CivilDate, policy: DecisionPolicy
    ) throws -> Verdict {
        let current = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT id, imported_at_ms, signer FROM list_version WHERE state = 'current'"))
        var rows: [ListRow] = []
        var lunches: Set<String> = []
        if let current, identity.isReadable {
            let listID: Int64 = current[0]
            let keys = [identity.isrn?.digits, identity.identifyingUIDHex].compactMap { $0 }
            for key in keys {
                if let row = try Row.fetchOne(
                    db.cachedStatement(sql: """
                        SELECT \(EntitlementStore.listRowColumns) FROM list_row WHERE list_id = ? AND card = ?
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
        // The signer was recorded at import; the policy is necd's own configuration.
        let trusted = current.map { policy.trusts(signer: $0[2]) } ?? true
        return DecisionEngine.evaluate(
            identity: identity, rows: rows, lunchesToday: lunches, listImportedAt: importedAt, listTrusted: trusted,
            now: at, policy: policy)
    }

    /// The columns ``listRow(_:)`` reads, in its order.
    static let listRowColumns =
        "card, pupil, entitlement, hotlisted, valid_from, valid_until, daily_limit, allergens, message, balance"

    static func listRow(_ row: Row) -> ListRow {
        let allergens: String? = row[7]
        return ListRow(
            card: row[0], pupil: row[1], entitlement: Entitlement(rawValue: row[2]), hotlisted: row[3],
            validFrom: (row[4] as Int?).map { CivilDate(daysSinceUnixEpoch: $0) },
            validUntil: (row[5] as Int?).map { CivilDate(daysSinceUnixEpoch: $0) },
            dailyLimit: row[6],
            allergens: allergens.map { $0.split(separator: ";").map(String.init) } ?? [],
            message: row[8], balance: row[9])
    }

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }

    // MARK: Journal

    /// Appends `event` to the journal and returns its `seq`.
    static func insert(_ e: StoredEvent, _ db: Database) throws -> Int64 {
        let v = e.verdict
        try db.cachedStatement(sql: """
            INSERT INTO event (time_ms, class, reader, lane, isrn, uid, media, expiry, decision, kind, reason,
                               pupil, allergens, message, daily_limit, list_stale, voided,
                               method, peer_uid, txn, amount, spent_today, remaining_today, balance)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                e.timeMillis, e.eventClass.rawValue, e.reader, e.lane, e.card.isrn, e.card.uid,
                e.card.media.rawValue, e.card.expiry?.description,
                e.eventClass == .voided ? "" : v.decision.rawValue, e.payment?.kind.rawValue ?? v.kind?.rawValue,
                v.reason?.rawValue, v.pupil, v.allergens?.joined(separator: ";"), v.message, v.dailyLimit,
                v.listStale, e.voided,
                e.method?.rawValue, e.peerUID.map { Int64($0) }, e.payment?.txn, e.payment?.amount,
                e.payment?.spentToday, e.payment?.remainingToday, e.payment?.balance,
            ])
        return db.lastInsertedRowID
    }

    static func event(_ row: Row) -> StoredEvent {
        let allergens: String? = row["allergens"]
        let verdict = Verdict(
            decision: Verdict.Decision(rawValue: row["decision"]) ?? .declined,
            kind: (row["kind"] as String?).flatMap(Verdict.AuthorisationKind.init(rawValue:)),
            reason: (row["reason"] as String?).flatMap(Verdict.DeclineReason.init(rawValue:)),
            pupil: row["pupil"],
            allergens: allergens.map { $0.split(separator: ";").map(String.init) },
            message: row["message"], dailyLimit: row["daily_limit"], listStale: row["list_stale"])
        let card = CardFields(
            isrn: row["isrn"], uid: row["uid"], media: Media(rawValue: row["media"]) ?? .unknown,
            expiry: (row["expiry"] as String?).flatMap { CivilDate(iso: $0) })
        let eventClass = EventClass(rawValue: row["class"]) ?? .tap
        let peerUID = (row["peer_uid"] as Int64?).flatMap { UInt32(exactly: $0) }
        if eventClass == .payment {
            let payment = PaymentFields(
                txn: row["txn"], kind: (row["kind"] as String?).flatMap(PaymentFields.Kind.init(rawValue:)) ?? .charge,
                amount: row["amount"], spentToday: row["spent_today"], remainingToday: row["remaining_today"],
                balance: row["balance"])
            var paid = verdict
            paid.kind = nil
            return StoredEvent(
                seq: row["seq"], timeMillis: row["time_ms"], eventClass: .payment, reader: "", lane: row["lane"],
                card: CardFields(), verdict: paid, peerUID: peerUID, payment: payment)
        }
        if eventClass == .voided {
            var voiding = StoredEvent.voiding(row["voided"], pupil: row["pupil"], lane: row["lane"], timeMillis: row["time_ms"])
            voiding.seq = row["seq"]
            return voiding
        }
        return StoredEvent(
            seq: row["seq"], timeMillis: row["time_ms"],
            eventClass: eventClass, reader: row["reader"], lane: row["lane"],
            card: card, verdict: verdict,
            method: (row["method"] as String?).flatMap(ServiceMethod.init(rawValue:)) ?? .card, peerUID: peerUID)
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

    /// Releases the lunch redeemed by event `seq` (a till cancelling a sale), if it is a
    /// lunch of today (the local date at `at`), and journals a VOIDED event for it.
    ///
    /// Runs on the tap path's writer, so the VOIDED event takes its place in the journal
    /// order with the taps, and waits as briefly for the write lock.
    /// - Parameters:
    ///   - seq: the event whose lunch to release.
    ///   - at: the clock.
    ///   - policy: the decision policy in force: its time zone says which day is today.
    ///   - onStored: called with the VOIDED event once it is stored, in journal order
    ///     with the taps (see ``decide(_:reader:lane:role:at:policy:onStored:)``).
    /// - Throws: ``JournalUnavailable`` when the journal cannot be written now; nothing
    ///   was voided.
    public func void(
        seq: Int64, at: Date = Date(), policy: DecisionPolicy, onStored: (StoredEvent) -> Void = { _ in }
    ) throws -> VoidOutcome {
        let today = policy.localDate(of: at)
        let millis = EntitlementStore.millis(at)
        do {
            return try tapWriter.writeWithoutTransaction { db in
                var outcome = VoidOutcome.unknownSeq
                try db.inTransaction(.immediate) {
                    guard let voided = try Row.fetchOne(db, sql: "SELECT lane FROM event WHERE seq = ?", arguments: [seq])
                    else { return .commit }
                    guard let redemption = try Row.fetchOne(
                        db, sql: "SELECT pupil, day FROM redemption WHERE seq = ?", arguments: [seq])
                    else {
                        outcome = .nothingToRelease
                        return .commit
                    }
                    let pupil: String = redemption["pupil"]
                    let day: Int = redemption["day"]
                    guard day == today.daysSinceUnixEpoch else {
                        outcome = .notToday(lunchDay: CivilDate(daysSinceUnixEpoch: day))
                        return .commit
                    }
                    try db.execute(sql: "DELETE FROM redemption WHERE seq = ?", arguments: [seq])
                    var event = StoredEvent.voiding(seq, pupil: pupil, lane: voided["lane"], timeMillis: millis)
                    event.seq = try EntitlementStore.insert(event, db)
                    outcome = .released(voided: event)
                    return .commit
                }
                if case .released(let event) = outcome { onStored(event) }
                return outcome
            }
        } catch let error as DatabaseError {
            throw JournalUnavailable(reason: error.message ?? "\(error.resultCode)")
        }
    }

    /// Deletes events, redemptions and payments older than `cutoff`, a few hundred rows
    /// per transaction so that taps waiting for the writer are not held up.
    ///
    /// A payment (a charge, with its refund if any) is kept past `cutoff` while a figure
    /// the store answers with still counts it: today's spending (`today`'s charges) and
    /// the balance (charges and refunds since the list in force was imported, and since
    /// the previous list's, which a rollback puts back in force). Its events go at
    /// `cutoff` like any other. Once a payment is deleted its `txn` is free: a charge
    /// sent again with it is a new charge, and a refund of it is refused (no such `txn`).
    /// - Parameters:
    ///   - cutoff: events before this instant go, and redemptions of days before its date.
    ///   - today: the local date whose charges are kept (default: today at the clock).
    ///   - policy: the decision policy in force: its time zone dates the cutoff.
    /// - Returns: the number of events deleted.
    @discardableResult
    public func prune(olderThan cutoff: Date, today: CivilDate? = nil, policy: DecisionPolicy) throws -> Int {
        let cutoffMillis = EntitlementStore.millis(cutoff)
        let cutoffDay = policy.localDate(of: cutoff).daysSinceUnixEpoch
        let today = (today ?? policy.localDate(of: Date())).daysSinceUnixEpoch
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
        try prunePayments(before: cutoffMillis, today: today)
        return total
    }

    /// Deletes the payments that nothing needs any more (see `prune(olderThan:today:policy:)`),
    /// 500 a transaction: made (and refunded, if they were) before `cutoffMillis`, not on
    /// `today`, and, for an authorised charge, before the import of every list kept.
    /// - Returns: the number deleted.
    @discardableResult
    func prunePayments(before cutoffMillis: Int64, today: Int) throws -> Int {
        var total = 0
        while true {
            let n = try pool.write { db in
                // No list: no balance to keep charges for.
                let since = try Int64.fetchOne(db, sql: """
                    SELECT min(imported_at_ms) FROM list_version WHERE state IN ('current', 'previous')
                    """) ?? Int64.max
                let before = min(cutoffMillis, since)
                try db.execute(
                    sql: """
                        DELETE FROM payment WHERE txn IN (
                            SELECT txn FROM payment
                            WHERE day < :today AND time_ms < :cutoff AND coalesce(refund_time_ms, 0) < :cutoff
                              AND (authorised = 0 OR (time_ms < :before AND coalesce(refund_time_ms, 0) < :before))
                            LIMIT 500)
                        """,
                    arguments: ["today": today, "cutoff": cutoffMillis, "before": before])
                return db.changesCount
            }
            total += n
            if n < 500 { return total }
        }
    }

    /// Prunes what is older than `policy`'s `event_retention` at `now` (today's payments
    /// are today's at `now`).
    @discardableResult
    public func prune(at now: Date = Date(), policy: DecisionPolicy) throws -> Int {
        try prune(
            olderThan: now.addingTimeInterval(-Double(policy.eventRetention) * 86_400), today: policy.localDate(of: now),
            policy: policy)
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
    func lookup(_ identity: CardIdentity, db: Database, at: Date, policy: DecisionPolicy) throws -> Verdict {
        try evaluate(db, identity: identity, at: at, today: policy.localDate(of: at), policy: policy)
    }
}

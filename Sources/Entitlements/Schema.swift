import GRDB

/// The database schema, as GRDB migrations. The database file is the only state.
///
/// - `list_version`: one row per imported list; `state` is `current` (in force),
///   `previous` (kept for rollback), `staging` (an import in progress) or `discarded`
///   (rows waiting to be deleted).
/// - `list_row`: every list's rows, keyed by (list, card). WITHOUT ROWID: the key is the
///   only index, so an import writes one B-tree.
/// - `event`: the journal. AUTOINCREMENT so `seq` never goes back, even when pruning
///   has emptied the table.
/// - `redemption`: one row per pupil per local day; the primary key is the
///   one-lunch-a-day rule, enforced by SQLite whatever process writes.
///
/// v2 adds `event.voided`: a VOIDED event (class `VOIDED`) names the voided event's seq
/// there, its pupil in `pupil` and its lane in `lane`; it has no reader, card or decision,
/// and stores `''` in the v1 columns that may not be null (`reader`, `decision`) and
/// `unknown` in `media`.
///
/// v3 (protocol 1.1): `list_row.balance` (the list's optional `balance` column) and
/// `list_pupil`, each list's (pupil, card) pairs, for manual service and charges: a table
/// of its own rather than an index on `list_row`, so that an import writes it in pupil
/// order as it writes `list_row` in card order (an index would take the pupils in card
/// order, all over its B-tree); `event.method` (`card` or
/// `manual` for TAP and IDENTIFY, NULL in older rows, which are all card events),
/// `event.peer_uid` (who asked for a manual event or a payment) and a PAYMENT event's
/// `txn`, `amount`, `spent_today`, `remaining_today` and `balance` (its `kind` is
/// `charge` or `refund`); and `payment`, one row per stored charge keyed by the till's
/// `txn`, which makes a retried charge find its first answer, with its refund once
/// refunded. A PAYMENT event has no reader (`''`), card or media (`unknown`).
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE list_version (
                    id INTEGER PRIMARY KEY,
                    state TEXT NOT NULL CHECK (state IN ('staging', 'current', 'previous', 'discarded')),
                    file TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    rows INTEGER NOT NULL DEFAULT 0,
                    imported_at_ms INTEGER NOT NULL,
                    signer TEXT
                );
                CREATE INDEX list_version_state ON list_version(state);
                CREATE TABLE list_row (
                    list_id INTEGER NOT NULL,
                    card TEXT NOT NULL,
                    pupil TEXT NOT NULL,
                    entitlement INTEGER NOT NULL,
                    hotlisted INTEGER NOT NULL,
                    valid_from INTEGER,
                    valid_until INTEGER,
                    daily_limit INTEGER,
                    allergens TEXT,
                    message TEXT,
                    PRIMARY KEY (list_id, card)
                ) WITHOUT ROWID;
                CREATE TABLE event (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    time_ms INTEGER NOT NULL,
                    class TEXT NOT NULL,
                    reader TEXT NOT NULL,
                    lane TEXT,
                    isrn TEXT,
                    uid TEXT,
                    media TEXT NOT NULL,
                    expiry TEXT,
                    decision TEXT NOT NULL,
                    kind TEXT,
                    reason TEXT,
                    pupil TEXT,
                    allergens TEXT,
                    message TEXT,
                    daily_limit INTEGER,
                    list_stale INTEGER NOT NULL
                );
                CREATE INDEX event_time ON event(time_ms);
                CREATE TABLE redemption (
                    pupil TEXT NOT NULL,
                    day INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    PRIMARY KEY (pupil, day)
                ) WITHOUT ROWID;
                CREATE INDEX redemption_seq ON redemption(seq);
                """)
        }
        migrator.registerMigration("v2: voids are journalled") { db in
            try db.execute(sql: "ALTER TABLE event ADD COLUMN voided INTEGER")
        }
        migrator.registerMigration("v3: pupils, manual service, payments") { db in
            try db.execute(sql: """
                ALTER TABLE list_row ADD COLUMN balance INTEGER;
                CREATE TABLE list_pupil (
                    list_id INTEGER NOT NULL,
                    pupil TEXT NOT NULL,
                    card TEXT NOT NULL,
                    PRIMARY KEY (list_id, pupil, card)
                ) WITHOUT ROWID;
                ALTER TABLE event ADD COLUMN method TEXT;
                ALTER TABLE event ADD COLUMN peer_uid INTEGER;
                ALTER TABLE event ADD COLUMN txn TEXT;
                ALTER TABLE event ADD COLUMN amount INTEGER;
                ALTER TABLE event ADD COLUMN spent_today INTEGER;
                ALTER TABLE event ADD COLUMN remaining_today INTEGER;
                ALTER TABLE event ADD COLUMN balance INTEGER;
                CREATE TABLE payment (
                    txn TEXT PRIMARY KEY,
                    pupil TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    lane TEXT,
                    authorised INTEGER NOT NULL,
                    day INTEGER NOT NULL,
                    time_ms INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    refund_seq INTEGER,
                    refund_time_ms INTEGER
                ) WITHOUT ROWID;
                CREATE INDEX payment_pupil ON payment(pupil, day);
                """)
        }
        return migrator
    }
}

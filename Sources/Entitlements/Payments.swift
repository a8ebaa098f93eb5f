public import Foundation
import GRDB

// Manual service (`redeem`), charges and refunds: protocol 1.1's decisions about a pupil
// rather than a card. They run on the tap path's writer like taps and voids, so their
// events take their places in one journal order, and in IMMEDIATE transactions, so two
// processes (or two store connections) deciding for one pupil are serialised by SQLite:
// the one-lunch-a-day key and the daily limit hold whoever asks.
extension EntitlementStore {
    /// The largest charge, in pence.
    public static let maxAmount = 100_000
    /// How long a manual service, charge or refund waits for another connection's write
    /// transaction before it is declined `unavailable`: longer than a tap's wait, since a
    /// burst of fsynced charges from several tills queues behind one lock and a person at
    /// the till can wait a second where a pupil at a reader should not.
    public static let serviceBusyTimeout: TimeInterval = 2

    // MARK: Manual service

    /// Decides manual service for `pupil` (the till picked the pupil by hand) and records
    /// it: a TAP event with method `manual`, no card and no reader, and the lunch's
    /// redemption (the same one-lunch-a-day key as a card's), in one transaction
    /// committed before this returns. Rules 3 to 8 for a pupil
    /// (``DecisionEngine/evaluate(pupil:rows:lunchesToday:listImportedAt:listTrusted:now:policy:)``).
    ///
    /// When the store cannot write, the answer is declined `unavailable`, as for a tap.
    /// - Parameters:
    ///   - pupil: the pupil reference.
    ///   - lane: the lane the till gave, if any.
    ///   - peerUID: the uid of the process that asked, stored with the event.
    ///   - at: the clock.
    ///   - policy: the decision policy in force.
    ///   - onStored: called with the event once stored, in journal order with the taps.
    /// - Throws: ``ServiceRequestError/invalidPupil`` (nothing stored).
    public func redeem(
        pupil: String, lane: String?, peerUID: UInt32?, at: Date, policy: DecisionPolicy,
        onStored: (StoredEvent) -> Void = { _ in }
    ) throws(ServiceRequestError) -> StoredEvent {
        guard ServiceRequestError.isPrintableIdentifier(pupil) else { throw .invalidPupil }
        let millis = EntitlementStore.millis(at)
        let today = policy.localDate(of: at)
        func event(_ verdict: Verdict) -> StoredEvent {
            // A manual TAP has no card: the pupil asked for is its identity, so it names
            // the pupil even when the list does not (`unknown_pupil`).
            var named = verdict
            if named.pupil == nil { named.pupil = pupil }
            return StoredEvent(
                seq: nil, timeMillis: millis, eventClass: .tap, reader: "", lane: lane, card: CardFields(),
                verdict: named, method: .manual, peerUID: peerUID)
        }
        return tapLockWait.waiting(upTo: EntitlementStore.serviceBusyTimeout) {
            tapWriter.writeWithoutTransaction { db in
                // A decision that could not be stored at all is the asking till's answer
                // alone (unlike a card tap's, which watchers must see: there is nobody else).
                record(db, day: today, redeems: true, event: event, onStored: { if $0.seq != nil { onStored($0) } }) { db in
                    try self.evaluate(db, pupil: pupil, at: at, policy: policy)
                }
            }
        }
    }

    /// The decision manual service for `pupil` would get at `at`, without redeeming or
    /// journalling anything.
    /// - Throws: `DatabaseError`.
    public func lookup(pupil: String, at: Date, policy: DecisionPolicy) throws -> Verdict {
        try pool.read { db in try self.evaluate(db, pupil: pupil, at: at, policy: policy) }
    }

    /// The list in force: its id, import time and whether the policy trusts its signer.
    private func currentList(_ db: Database, policy: DecisionPolicy) throws -> (id: Int64, importedAt: Date, trusted: Bool)? {
        guard let current = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT id, imported_at_ms, signer FROM list_version WHERE state = 'current'"))
        else { return nil }
        return (current[0], Date(timeIntervalSince1970: Double(current[1] as Int64) / 1000), policy.trusts(signer: current[2]))
    }

    /// The query of ``pupilRows(_:listID:pupil:)``, made once: ``listRowColumns`` from `list_row`.
    private static let pupilRowsSQL = """
        SELECT \(listRowColumns.split(separator: ", ").map { "r.\($0)" }.joined(separator: ", "))
        FROM list_pupil p JOIN list_row r ON r.list_id = p.list_id AND r.card = p.card
        WHERE p.list_id = ? AND p.pupil = ?
        """

    /// The rows of the list `listID` that name `pupil`, through `list_pupil`.
    private func pupilRows(_ db: Database, listID: Int64, pupil: String) throws -> [ListRow] {
        try Row.fetchAll(db.cachedStatement(sql: Self.pupilRowsSQL), arguments: [listID, pupil]).map(EntitlementStore.listRow)
    }

    private func evaluate(_ db: Database, pupil: String, at: Date, policy: DecisionPolicy) throws -> Verdict {
        let list = try currentList(db, policy: policy)
        let rows = try list.map { try pupilRows(db, listID: $0.id, pupil: pupil) } ?? []
        let taken = try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT 1 FROM redemption WHERE pupil = ? AND day = ?"),
            arguments: [pupil, policy.localDate(of: at).daysSinceUnixEpoch]) ?? false
        return DecisionEngine.evaluate(
            pupil: pupil, rows: rows, lunchesToday: taken ? [pupil] : [], listImportedAt: list?.importedAt,
            listTrusted: list?.trusted ?? true, now: at, policy: policy)
    }

    // MARK: Payments

    /// Decides and records a charge of `amount` pence to `pupil`'s account: a PAYMENT
    /// event of kind `charge`, committed (fsynced) with the charge before this returns.
    ///
    /// Declined, in this order: `list_untrusted` and `list_stale` (as for a tap),
    /// `unknown_pupil`, `hotlisted` (every row of the pupil is), `not_entitled` (no
    /// `paid`, or outside `valid_from`..`valid_until`), `over_daily_limit` (the day's
    /// authorised charges less their refunds, plus `amount`, would pass `daily_limit`),
    /// `insufficient_funds` (`amount` is more than the balance, when the list gives
    /// one), `unavailable` (the store cannot write: never authorised, and the `txn` stays
    /// free for a retry). Service windows do not apply: a pupil may pay at any time.
    ///
    /// Idempotent by `txn`: a charge with a `txn` already stored, for the same pupil and
    /// amount, returns the stored event (`isRetry`) and charges nothing more.
    /// - Parameters:
    ///   - pupil: the pupil reference.
    ///   - amount: pence, 1 to ``maxAmount``.
    ///   - txn: the till's own transaction id, 1 to 64 printable characters.
    ///   - lane: the till's lane, if given.
    ///   - peerUID: the uid of the process that asked, stored with the event.
    ///   - at: the clock.
    ///   - policy: the decision policy in force (time zone, list trust and staleness).
    ///   - onStored: called with a newly stored event, in journal order with the taps
    ///     (not for a retry: its event was published when first stored).
    /// - Throws: ``ServiceRequestError``: a bad pupil, amount or txn, or a txn used for
    ///   another pupil or amount. Nothing was stored.
    public func charge(
        pupil: String, amount: Int, txn: String, lane: String?, peerUID: UInt32?, at: Date, policy: DecisionPolicy,
        onStored: (StoredEvent) -> Void = { _ in }
    ) throws(ServiceRequestError) -> PaymentOutcome {
        guard ServiceRequestError.isPrintableIdentifier(pupil) else { throw .invalidPupil }
        guard (1...EntitlementStore.maxAmount).contains(amount) else { throw .invalidAmount(amount) }
        guard ServiceRequestError.isPrintableIdentifier(txn) else { throw .invalidTxn }
        let millis = EntitlementStore.millis(at)
        let today = policy.localDate(of: at).daysSinceUnixEpoch
        func event(_ verdict: Verdict, _ fields: PaymentFields) -> StoredEvent {
            StoredEvent(
                seq: nil, timeMillis: millis, eventClass: .payment, reader: "", lane: lane, card: CardFields(),
                verdict: verdict, peerUID: peerUID, payment: fields)
        }
        return try paymentWrite(unavailable: {
            var e = event(Verdict.declined(.unavailable), PaymentFields(txn: txn, kind: .charge, amount: amount))
            e.verdict.pupil = pupil
            return e
        }, onStored: onStored) { db in
            if let earlier = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT pupil, amount, seq FROM payment WHERE txn = ?"), arguments: [txn])
            {
                let seq: Int64 = earlier["seq"]
                guard earlier["pupil"] == pupil, earlier["amount"] == amount else {
                    throw ServiceRequestError.txnReused(seq: seq)
                }
                // The payment row outlives its event when the balance still counts it.
                guard let stored = try self.storedEvent(db, seq: seq) else {
                    throw ServiceRequestError.answerNoLongerKept(seq: seq)
                }
                return PaymentOutcome(event: stored, isRetry: true)
            }
            var (verdict, fields) = try self.chargeDecision(
                db, pupil: pupil, amount: amount, txn: txn, at: at, today: today, policy: policy)
            // Every PAYMENT names the pupil charged, declined before the list was read too.
            verdict.pupil = pupil
            var e = event(verdict, fields)
            e.seq = try EntitlementStore.insert(e, db)
            try db.execute(
                sql: """
                    INSERT INTO payment (txn, pupil, amount, lane, authorised, day, time_ms, seq)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [txn, pupil, amount, lane, verdict.decision == .authorised, today, millis, e.seq])
            return PaymentOutcome(event: e, isRetry: false)
        }
    }

    /// Refunds the charge stored with `txn`: a PAYMENT event of kind `refund` for that
    /// charge's amount and pupil, committed with the refund before this returns. The
    /// refunded charge no longer counts toward its day's spending, and the balance gets
    /// the amount back. Declined only `unavailable` (the store cannot write; the charge
    /// stays refundable).
    /// - Parameters:
    ///   - txn: the charge's `txn`.
    ///   - lane: the lane asking, if given; the charge's lane otherwise.
    ///   - peerUID, at, policy, onStored: as for ``charge(pupil:amount:txn:lane:peerUID:at:policy:onStored:)``.
    /// - Throws: ``ServiceRequestError``: a bad txn, no charge with it, a declined
    ///   charge, or one refunded already. Nothing was stored.
    public func refund(
        txn: String, lane: String? = nil, peerUID: UInt32?, at: Date, policy: DecisionPolicy,
        onStored: (StoredEvent) -> Void = { _ in }
    ) throws(ServiceRequestError) -> PaymentOutcome {
        guard ServiceRequestError.isPrintableIdentifier(txn) else { throw .invalidTxn }
        let millis = EntitlementStore.millis(at)
        let today = policy.localDate(of: at).daysSinceUnixEpoch
        // The charge, for an `unavailable` answer: read first, since a read does not wait
        // for the write lock that may be what makes the refund unavailable; read again
        // in the write's transaction, which decides.
        var charged: (pupil: String, amount: Int, lane: String?)?
        do {
            charged = try pool.read { db in
                try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT pupil, amount, lane FROM payment WHERE txn = ?"), arguments: [txn]
                ).map { ($0["pupil"], $0["amount"], $0["lane"]) }
            }
        } catch {
            // Unreadable too: the write below answers `unavailable` with what it can.
        }
        return try paymentWrite(unavailable: {
            var e = StoredEvent(
                seq: nil, timeMillis: millis, eventClass: .payment, reader: "", lane: lane ?? charged?.lane,
                card: CardFields(), verdict: Verdict.declined(.unavailable), peerUID: peerUID,
                payment: PaymentFields(txn: txn, kind: .refund, amount: charged?.amount ?? 0))
            e.verdict.pupil = charged?.pupil
            return e
        }, onStored: onStored) { db in
            guard let charge = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT pupil, amount, lane, authorised, day, seq, refund_seq FROM payment WHERE txn = ?"),
                arguments: [txn])
            else { throw ServiceRequestError.unknownTxn }
            let pupil: String = charge["pupil"]
            let amount: Int = charge["amount"]
            charged = (pupil, amount, charge["lane"])
            guard charge["authorised"] as Bool else { throw ServiceRequestError.notRefundable(seq: charge["seq"]) }
            if let refundSeq = charge["refund_seq"] as Int64? { throw ServiceRequestError.alreadyRefunded(refundSeq: refundSeq) }
            let chargeDay: Int = charge["day"]
            let money = try self.pupilMoney(db, pupil: pupil, today: today, policy: policy)
            let spent = money.spentToday - (chargeDay == today ? amount : 0)
            let fields = PaymentFields(
                txn: txn, kind: .refund, amount: amount, spentToday: spent,
                remainingToday: money.dailyLimit.map { max(0, $0 - spent) }, balance: money.balance.map { $0 + amount })
            var e = StoredEvent(
                seq: nil, timeMillis: millis, eventClass: .payment, reader: "", lane: lane ?? charge["lane"],
                card: CardFields(), verdict: Verdict(decision: .authorised, pupil: pupil), peerUID: peerUID,
                payment: fields)
            e.seq = try EntitlementStore.insert(e, db)
            try db.execute(
                sql: "UPDATE payment SET refund_seq = ?, refund_time_ms = ? WHERE txn = ?", arguments: [e.seq, millis, txn])
            return PaymentOutcome(event: e, isRetry: false)
        }
    }

    /// Runs `body` in one IMMEDIATE transaction on the tap path's writer (waiting up to
    /// ``serviceBusyTimeout`` for the lock), publishing a newly stored event through
    /// `onStored`. A ``ServiceRequestError`` from `body` rolls back and is thrown; any
    /// other failure gives the `unavailable` event, journalled when possible (and only
    /// then published: one never stored is the asking till's answer alone).
    private func paymentWrite(
        unavailable: () -> StoredEvent, onStored: (StoredEvent) -> Void,
        _ body: (Database) throws -> PaymentOutcome
    ) throws(ServiceRequestError) -> PaymentOutcome {
        let result: Result<PaymentOutcome, ServiceRequestError> = tapLockWait.waiting(upTo: EntitlementStore.serviceBusyTimeout) {
            tapWriter.writeWithoutTransaction { db in
                var outcome: PaymentOutcome?
                do {
                    var decided: PaymentOutcome?
                    try db.inTransaction(.immediate) {
                        decided = try body(db)
                        return .commit
                    }
                    outcome = decided
                } catch let refused as ServiceRequestError {
                    return .failure(refused)
                } catch {
                    var e = unavailable()
                    e.seq = self.journalUnavailable(e, db, after: error)
                    outcome = PaymentOutcome(event: e, isRetry: false)
                }
                let done = outcome ?? PaymentOutcome(event: unavailable(), isRetry: false)
                if !done.isRetry, done.event.seq != nil { onStored(done.event) }
                return .success(done)
            }
        }
        return try result.get()
    }

    /// The stored event `seq`; nil once pruned.
    private func storedEvent(_ db: Database, seq: Int64) throws -> StoredEvent? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM event WHERE seq = ?"), arguments: [seq]).map(EntitlementStore.event)
    }

    /// What the store knows of a pupil's money now: the day's spending, and from the
    /// list in force (when it names the pupil) the daily limit and the balance.
    private func pupilMoney(_ db: Database, pupil: String, today: Int, policy: DecisionPolicy) throws
        -> (spentToday: Int, dailyLimit: Int?, balance: Int?, rows: [ListRow], list: (id: Int64, importedAt: Date, trusted: Bool)?)
    {
        let spent = try Int.fetchOne(
            db.cachedStatement(sql: """
                SELECT COALESCE(SUM(amount), 0) FROM payment
                WHERE pupil = ? AND day = ? AND authorised = 1 AND refund_seq IS NULL
                """), arguments: [pupil, today]) ?? 0
        let list = try currentList(db, policy: policy)
        let rows = try list.map { try pupilRows(db, listID: $0.id, pupil: pupil) } ?? []
        let row = rows.first { !$0.hotlisted } ?? rows.first
        var balance: Int?
        if let list, let listed = row?.balance {
            let since = EntitlementStore.millis(list.importedAt)
            let charged = try Int.fetchOne(
                db.cachedStatement(sql: """
                    SELECT COALESCE(SUM(amount), 0) FROM payment WHERE pupil = ? AND authorised = 1 AND time_ms >= ?
                    """), arguments: [pupil, since]) ?? 0
            let refunded = try Int.fetchOne(
                db.cachedStatement(sql: """
                    SELECT COALESCE(SUM(amount), 0) FROM payment
                    WHERE pupil = ? AND refund_seq IS NOT NULL AND refund_time_ms >= ?
                    """), arguments: [pupil, since]) ?? 0
            balance = listed - charged + refunded
        }
        return (spent, row?.dailyLimit, balance, rows, list)
    }

    /// The rules of a charge (see ``charge(pupil:amount:txn:lane:peerUID:at:policy:onStored:)``).
    private func chargeDecision(
        _ db: Database, pupil: String, amount: Int, txn: String, at: Date, today: Int, policy: DecisionPolicy
    ) throws -> (Verdict, PaymentFields) {
        let money = try pupilMoney(db, pupil: pupil, today: today, policy: policy)
        let stale = money.list.map { at.timeIntervalSince($0.importedAt) > Double(policy.maxListAge) * 86_400 } ?? true
        var fields = PaymentFields(txn: txn, kind: .charge, amount: amount)
        if let list = money.list, !list.trusted { return (.declined(.listUntrusted, listStale: stale), fields) }
        if stale && policy.stalePolicy == .decline { return (.declined(.listStale, listStale: true), fields) }
        guard !money.rows.isEmpty else { return (.declined(.unknownPupil, listStale: stale), fields) }
        var verdict = Verdict(decision: .declined, pupil: pupil, listStale: stale)
        fields.spentToday = money.spentToday
        fields.remainingToday = money.dailyLimit.map { max(0, $0 - money.spentToday) }
        fields.balance = money.balance
        guard let row = money.rows.first(where: { !$0.hotlisted }) else {
            verdict.reason = .hotlisted
            return (verdict, fields)
        }
        let day = policy.localDate(of: at)
        let dated = (row.validFrom.map { $0 <= day } ?? true) && (row.validUntil.map { day <= $0 } ?? true)
        guard row.entitlement.contains(.paid), dated else {
            verdict.reason = .notEntitled
            return (verdict, fields)
        }
        if let limit = row.dailyLimit, money.spentToday + amount > limit {
            verdict.reason = .overDailyLimit
            return (verdict, fields)
        }
        if let balance = money.balance, amount > balance {
            verdict.reason = .insufficientFunds
            return (verdict, fields)
        }
        verdict.decision = .authorised
        let spent = money.spentToday + amount
        fields.spentToday = spent
        fields.remainingToday = row.dailyLimit.map { max(0, $0 - spent) }
        fields.balance = money.balance.map { $0 - amount }
        return (verdict, fields)
    }
}

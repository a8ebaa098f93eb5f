public import Foundation
public import NECCard

/// The decision rules (docs/entitlements.md) as a pure function: no clock, no store.
///
/// Order: 1 `unreadable`, then `card_blocked` (when the Directory was read), 2 `card_expired`, then (only when `require_signed_lists` is on
/// and the list in force is not signed by a trusted key) `list_untrusted`, then (only when
/// the list is stale and the policy is `decline`) `list_stale`, 3 `unknown_card`, 4 `hotlisted` (a hotlisted row for
/// the ISRN or the UID), 5 `not_entitled`,
/// 6 lunch, 7 payment, 8 `already_redeemed`. Staleness sits after the card's own checks
/// because those need no list, and before rule 3 because every later rule trusts it.
public enum DecisionEngine {
    /// Evaluates one card.
    /// - Parameters:
    ///   - identity: what was read from the card.
    ///   - rows: the list rows whose `card` is the identity's ISRN or UID (any order).
    ///   - lunchesToday: pupils who have a lunch redemption on `now`'s local date.
    ///   - listImportedAt: when the list in force was imported; nil when there is none
    ///     (a missing list counts as stale).
    ///   - listTrusted: whether the policy trusts the list in force's signer (true when
    ///     there is no list: nothing to distrust, every card is unknown).
    ///   - now: the clock.
    ///   - policy: time zone, staleness.
    /// - Returns: the verdict. A lunch verdict means "redeem a lunch now" at a till.
    public static func evaluate(
        identity: CardIdentity, rows: [ListRow], lunchesToday: Set<String>,
        listImportedAt: Date?, listTrusted: Bool = true, now: Date, policy: DecisionPolicy
    ) -> Verdict {
        let stale = listImportedAt.map { now.timeIntervalSince($0) > Double(policy.maxListAge) * 86_400 } ?? true
        let today = policy.localDate(of: now)
        // Rule 1.
        if identity.unreadableReason != nil { return .declined(.unreadable, listStale: stale) }
        // After rule 1: the issuer blocked the card. Only a read asked for the Directory
        // (check_card_blocked) gives `cardBlocked` a value.
        if identity.cardBlocked == true { return .declined(.cardBlocked, listStale: stale) }
        // Rule 2: the expiry date is the last day the card is valid.
        if let expiry = identity.expiry, expiry < today { return .declined(.cardExpired, listStale: stale) }
        // The list itself: one the configuration does not trust decides nothing, stale or not.
        if !listTrusted { return .declined(.listUntrusted, listStale: stale) }
        if stale && policy.stalePolicy == .decline { return .declined(.listStale, listStale: true) }
        // Rule 3: the ISRN's row wins over the UID's.
        let isrnRow = identity.isrn.flatMap { isrn in rows.first { $0.card == isrn.digits } }
        let uidRow = identity.identifyingUIDHex.flatMap { uid in rows.first { $0.card == uid } }
        guard let row = isrnRow ?? uidRow else { return .declined(.unknownCard, listStale: stale) }
        // Rule 4: a hotlisted row for either number of the card wins, whichever row
        // decides the rest: a lost card is lost however it is looked up. The pupil is
        // shown (the till may keep the card), nothing else.
        if let lost = [isrnRow, uidRow].compactMap({ $0 }).first(where: \.hotlisted) {
            return Verdict(decision: .declined, reason: .hotlisted, pupil: lost.pupil, listStale: stale)
        }
        var verdict = Verdict(
            decision: .declined, pupil: row.pupil, allergens: row.allergens.isEmpty ? nil : row.allergens,
            message: row.message, listStale: stale
        )
        // Rule 5.
        if let from = row.validFrom, today < from { verdict.reason = .notEntitled; return verdict }
        if let until = row.validUntil, until < today { verdict.reason = .notEntitled; return verdict }
        return entitled(row, verdict: verdict, lunchesToday: lunchesToday, now: now, policy: policy)
    }

    /// Rules 6 to 8 for a row that passed rules 3 to 5 (and a verdict holding its fields).
    /// A lunch is served only inside a `lunch` service window (when any is configured);
    /// outside one, a `paid` pupil is still authorised `payment`, anyone else is declined
    /// `outside_service` (or `already_redeemed`, when today's lunch was had).
    static func entitled(
        _ row: ListRow, verdict: Verdict, lunchesToday: Set<String>, now: Date, policy: DecisionPolicy
    ) -> Verdict {
        var verdict = verdict
        let hadLunch = lunchesToday.contains(row.pupil)
        let lunchServed = policy.serves(.lunch, at: now)
        // Rule 6.
        if row.entitlement.contains(.fsm) && !hadLunch && lunchServed {
            verdict.decision = .authorised
            verdict.kind = .lunch
            return verdict
        }
        // Rule 7.
        if row.entitlement.contains(.paid) {
            verdict.decision = .authorised
            verdict.kind = .payment
            verdict.dailyLimit = row.dailyLimit
            return verdict
        }
        if row.entitlement.contains(.fsm) && !hadLunch {
            verdict.reason = .outsideService
            return verdict
        }
        // Rule 8.
        verdict.reason = .alreadyRedeemed
        return verdict
    }

    /// Evaluates a pupil picked by hand at a till (manual service): the list checks, then
    /// rules 3 to 8 for the pupil. Rule 3 is `unknown_pupil` when no row names the pupil;
    /// rule 4 declines `hotlisted` only when every one of the pupil's rows is hotlisted (a
    /// council blocks an account by hotlisting all its cards); otherwise an active row
    /// decides (every column but `status` is the pupil's, the same on all its rows).
    /// - Parameters:
    ///   - pupil: the pupil reference asked for.
    ///   - rows: the list rows whose `pupil` is `pupil` (any order).
    ///   - lunchesToday, listImportedAt, listTrusted, now, policy: as for a card.
    public static func evaluate(
        pupil: String, rows: [ListRow], lunchesToday: Set<String>,
        listImportedAt: Date?, listTrusted: Bool = true, now: Date, policy: DecisionPolicy
    ) -> Verdict {
        let stale = listImportedAt.map { now.timeIntervalSince($0) > Double(policy.maxListAge) * 86_400 } ?? true
        if !listTrusted { return .declined(.listUntrusted, listStale: stale) }
        if stale && policy.stalePolicy == .decline { return .declined(.listStale, listStale: true) }
        let named = rows.filter { $0.pupil == pupil }
        guard let first = named.first else { return .declined(.unknownPupil, listStale: stale) }
        guard let row = named.first(where: { !$0.hotlisted }) else {
            return Verdict(decision: .declined, reason: .hotlisted, pupil: first.pupil, listStale: stale)
        }
        var verdict = Verdict(
            decision: .declined, pupil: row.pupil, allergens: row.allergens.isEmpty ? nil : row.allergens,
            message: row.message, listStale: stale
        )
        let today = policy.localDate(of: now)
        if let from = row.validFrom, today < from { verdict.reason = .notEntitled; return verdict }
        if let until = row.validUntil, until < today { verdict.reason = .notEntitled; return verdict }
        return entitled(row, verdict: verdict, lunchesToday: lunchesToday, now: now, policy: policy)
    }
}

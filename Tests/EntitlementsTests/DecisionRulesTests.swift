import Foundation
import NECCard
import Testing
@testable import Entitlements

/// The decision rules (docs/entitlements.md) as a pure function: each reason code, and the order.
@Suite struct DecisionEngineTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")
    let fresh = Fixture.utc("2026-11-26T08:00:00Z")
    let policy = DecisionPolicy()
    let isrn = Fixture.isrn(42)
    let uid = Fixture.uid(42)

    func row(
        _ entitlement: Entitlement = .fsm, hotlisted: Bool = false, from: String? = nil, until: String? = nil,
        card: String? = nil
    ) -> ListRow {
        ListRow(
            card: card ?? isrn, pupil: Fixture.pupil(42), entitlement: entitlement, hotlisted: hotlisted,
            validFrom: from.flatMap { CivilDate(iso: $0) }, validUntil: until.flatMap { CivilDate(iso: $0) },
            dailyLimit: 250, allergens: ["milk"], message: "No pork")
    }

    func decide(
        _ identity: CardIdentity, _ rows: [ListRow], lunches: Set<String> = [], importedAt: Date? = nil,
        policy: DecisionPolicy? = nil
    ) -> Verdict {
        DecisionEngine.evaluate(
            identity: identity, rows: rows, lunchesToday: lunches, listImportedAt: importedAt ?? fresh, now: now,
            policy: policy ?? self.policy)
    }

    @Test func rule1Unreadable() {
        // No ISRN, no UID.
        #expect(decide(CardIdentity(), [row()]).reason == .unreadable)
        // A random UID and no ISRN.
        var random = CardIdentity(uid: [0x08, 1, 2, 3], uidRandom: true)
        #expect(decide(random, [row(card: "08010203")]).reason == .unreadable)
        // A failed check (bad Luhn, bad SECRC) wins even with a listed ISRN.
        random = Fixture.identity(isrn: isrn)
        random.checks = [Check("secrc", ok: false, reason: "SECRC mismatch")]
        #expect(decide(random, [row()]) == .declined(.unreadable))
    }

    /// An identity whose Directory was read (check_card_blocked) and says `blocked`.
    func withDirectory(_ identity: CardIdentity, blocked: Bool) throws -> CardIdentity {
        var out = identity
        let geometry = try CardGeometry(sectorSize: 64, sectorCount: 16, directoryEntries: 8, sctl: 7)
        var bytes = [UInt8](repeating: 0, count: 50)
        bytes[1] = blocked ? 0x31 : 0x21
        out.directory = .read(try ITSODirectory(decoding: bytes, geometry: geometry), location: "DESFire file 0x00")
        return out
    }

    @Test func cardBlockedAfterUnreadableBeforeExpired() throws {
        // Blocked, expired, hotlisted and listed: card_blocked comes first after rule 1.
        let blockedExpired = try withDirectory(Fixture.identity(isrn: isrn, expiry: "2026-11-26"), blocked: true)
        #expect(decide(blockedExpired, [row(hotlisted: true)]) == .declined(.cardBlocked))
        #expect(decide(try withDirectory(Fixture.identity(isrn: isrn), blocked: true), [row()]) == .declined(.cardBlocked))
        // Rule 1 still wins: a blocked card with a failed check is unreadable.
        var broken = blockedExpired
        broken.checks = [Check("secrc", ok: false, reason: "SECRC mismatch")]
        #expect(decide(broken, [row()]) == .declined(.unreadable))
        // Not blocked, or not read (check_card_blocked off): the rules go on as before.
        #expect(decide(try withDirectory(Fixture.identity(isrn: isrn, expiry: "2026-11-26"), blocked: false), [row()]).reason == .cardExpired)
        #expect(decide(try withDirectory(Fixture.identity(isrn: isrn), blocked: false), [row()]).kind == .lunch)
        #expect(decide(Fixture.identity(isrn: isrn), [row()]).kind == .lunch)
    }

    @Test func aRandomIDIsNeverAListKey() {
        // A row keyed by the random ID this tap drew: the card is still unknown by it.
        var random = Fixture.identity(isrn: Fixture.isrn(7), uid: "08A1B2C3")
        random.uidRandom = true
        #expect(decide(random, [row(card: "08A1B2C3")]).reason == .unknownCard)
        #expect(random.identifyingUIDHex == nil)
        #expect(CardFields(random).uid == nil)
    }

    @Test func rule2ExpiredBeforeEverythingAfter() {
        // Expired and also hotlisted and unknown: expiry comes first.
        let expired = Fixture.identity(isrn: isrn, expiry: "2026-11-26")
        #expect(decide(expired, [row(hotlisted: true)]).reason == .cardExpired)
        #expect(decide(expired, []).reason == .cardExpired)
        // The expiry day itself is still valid.
        let lastDay = Fixture.identity(isrn: isrn, expiry: "2026-11-27")
        #expect(decide(lastDay, [row()]).kind == .lunch)
        // Unreadable beats expired.
        var both = expired
        both.checks = [Check("luhn", ok: false)]
        #expect(decide(both, [row()]).reason == .unreadable)
    }

    @Test func rule3Unknown() {
        let v = decide(Fixture.identity(isrn: isrn, uid: uid), [])
        #expect(v == .declined(.unknownCard))
        #expect(v.pupil == nil)
    }

    @Test func rule3MatchesByUIDAndPrefersISRN() {
        let byUID = decide(Fixture.identity(isrn: isrn, uid: uid), [row(card: uid)])
        #expect(byUID.kind == .lunch)
        // Both on the list: the ISRN's row decides (here hotlisted, the UID row is fine).
        let both = decide(Fixture.identity(isrn: isrn, uid: uid), [row(card: uid), row(hotlisted: true)])
        #expect(both.reason == .hotlisted)
        // Both active, for two pupils (an old card's UID reissued): the ISRN's pupil.
        var other = row(card: uid)
        other.pupil = Fixture.pupil(43)
        #expect(decide(Fixture.identity(isrn: isrn, uid: uid), [other, row()]).pupil == Fixture.pupil(42))
    }

    @Test func rule4AHotlistedUIDRowWinsOverAnActiveISRNRow() {
        // The card was reported lost by its UID; its ISRN row is still active.
        var lost = row(hotlisted: true, card: uid)
        lost.pupil = Fixture.pupil(43)
        let v = decide(Fixture.identity(isrn: isrn, uid: uid), [row(), lost])
        #expect(v == Verdict(decision: .declined, reason: .hotlisted, pupil: Fixture.pupil(43)))
        // In either order, and whatever else the active row allows.
        #expect(decide(Fixture.identity(isrn: isrn, uid: uid), [lost, row([.fsm, .paid])]).reason == .hotlisted)
        // A hotlisted row for another card does not matter.
        var elsewhere = row(hotlisted: true, card: Fixture.uid(99))
        elsewhere.pupil = Fixture.pupil(99)
        #expect(decide(Fixture.identity(isrn: isrn, uid: uid), [row(), elsewhere]).kind == .lunch)
    }

    @Test func rule4HotlistedBeforeValidity() {
        let v = decide(Fixture.identity(isrn: isrn), [row(hotlisted: true, until: "2020-01-01")])
        #expect(v.reason == .hotlisted)
        #expect(v.pupil == Fixture.pupil(42))
        #expect(v.allergens == nil && v.message == nil)
    }

    @Test func rule5ValidityWindowInclusive() {
        let id = Fixture.identity(isrn: isrn)
        #expect(decide(id, [row(from: "2026-11-28")]).reason == .notEntitled)
        #expect(decide(id, [row(until: "2026-11-26")]).reason == .notEntitled)
        #expect(decide(id, [row(from: "2026-11-27", until: "2026-11-27")]).kind == .lunch)
        // Outside the window even a paid pupil cannot pay, and a lunch taken does not matter.
        #expect(decide(id, [row(.paid, until: "2026-11-26")], lunches: [Fixture.pupil(42)]).reason == .notEntitled)
    }

    @Test func rule6Lunch() {
        let v = decide(Fixture.identity(isrn: isrn), [row()])
        #expect(v.decision == .authorised && v.kind == .lunch && v.reason == nil)
        #expect(v.pupil == Fixture.pupil(42) && v.allergens == ["milk"] && v.message == "No pork")
        #expect(v.dailyLimit == nil)
        // fsm+paid with no lunch yet: the lunch comes first.
        #expect(decide(Fixture.identity(isrn: isrn), [row([.fsm, .paid])]).kind == .lunch)
    }

    @Test func rule7Payment() {
        let paid = decide(Fixture.identity(isrn: isrn), [row(.paid)])
        #expect(paid.kind == .payment && paid.dailyLimit == 250)
        let after = decide(Fixture.identity(isrn: isrn), [row([.fsm, .paid])], lunches: [Fixture.pupil(42)])
        #expect(after.kind == .payment)
    }

    @Test func rule8AlreadyRedeemed() {
        let v = decide(Fixture.identity(isrn: isrn), [row()], lunches: [Fixture.pupil(42)])
        #expect(v.decision == .declined && v.reason == .alreadyRedeemed && v.pupil == Fixture.pupil(42))
    }

    @Test func staleListFlagsAndDeclines() {
        let old = now.addingTimeInterval(-8 * 86_400)
        let flagged = decide(Fixture.identity(isrn: isrn), [row()], importedAt: old)
        #expect(flagged.kind == .lunch && flagged.listStale)
        let strict = DecisionPolicy(stalePolicy: .decline)
        #expect(decide(Fixture.identity(isrn: isrn), [row()], importedAt: old, policy: strict) == .declined(.listStale, listStale: true))
        // Card checks come before staleness; staleness before the list rules.
        let expired = Fixture.identity(isrn: isrn, expiry: "2020-01-01")
        #expect(decide(expired, [row()], importedAt: old, policy: strict).reason == .cardExpired)
        #expect(decide(Fixture.identity(isrn: isrn), [], importedAt: old, policy: strict).reason == .listStale)
        // Exactly max_list_age old is not yet stale.
        #expect(!decide(Fixture.identity(isrn: isrn), [row()], importedAt: now.addingTimeInterval(-7 * 86_400)).listStale)
    }
}

/// The same rules through the store, with redemptions, roles and the journal.
@Suite struct StoreDecisionTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")

    func list() -> String {
        """
        card,pupil,entitlement,status,valid_from,valid_until,daily_limit,allergens,message
        \(Fixture.isrn(1)),\(Fixture.pupil(1)),fsm,,,,,milk;eggs,Halal
        \(Fixture.uid(1)),\(Fixture.pupil(1)),fsm,,,,,milk;eggs,Halal
        \(Fixture.isrn(2)),\(Fixture.pupil(2)),paid,,,,300,,
        \(Fixture.isrn(3)),\(Fixture.pupil(3)),fsm,hotlisted,,,,,
        \(Fixture.isrn(4)),\(Fixture.pupil(4)),fsm,active,2027-01-01,,,,
        \(Fixture.isrn(5)),\(Fixture.pupil(5)),fsm+paid,,,,,,

        """
    }

    @Test func everyReasonCodeThroughTheStore() throws {
        let (store, _) = try Fixture.store(list: list(), at: now)
        func tap(_ id: CardIdentity) -> StoredEvent { store.decide(id, reader: "Till Reader 00 00", lane: "till-1", role: .till, at: now, policy: Fixture.policy) }
        #expect(tap(CardIdentity()).reason == .unreadable)
        #expect(tap(Fixture.identity(isrn: Fixture.isrn(1), expiry: "2026-01-01")).reason == .cardExpired)
        #expect(tap(Fixture.identity(isrn: Fixture.isrn(99))).reason == .unknownCard)
        #expect(tap(Fixture.identity(isrn: Fixture.isrn(3))).reason == .hotlisted)
        #expect(tap(Fixture.identity(isrn: Fixture.isrn(4))).reason == .notEntitled)
        let lunch = tap(Fixture.identity(isrn: Fixture.isrn(1)))
        #expect(lunch.kind == .lunch && lunch.allergens == ["milk", "eggs"] && lunch.message == "Halal")
        // The same pupil's other card (UID only): one lunch per pupil.
        #expect(tap(Fixture.identity(uid: Fixture.uid(1))).reason == .alreadyRedeemed)
        let pay = tap(Fixture.identity(isrn: Fixture.isrn(2)))
        #expect(pay.kind == .payment && pay.dailyLimit == 300)
        #expect(tap(Fixture.identity(isrn: Fixture.isrn(5))).kind == .lunch)
        #expect(tap(Fixture.identity(isrn: Fixture.isrn(5))).kind == .payment)
        // list_stale: a week and a day later, with the decline policy.
        let later = now.addingTimeInterval(8 * 86_400)
        let strict = DecisionPolicy(stalePolicy: .decline)
        let stale = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: nil, role: .till, at: later, policy: strict)
        #expect(stale.reason == .listStale && stale.listStale)
        let allowed = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: nil, role: .till, at: later, policy: Fixture.policy)
        #expect(allowed.kind == .lunch && allowed.listStale)
        // Every decision was journalled, in order.
        let events = try store.events(after: 0, limit: 100)
        #expect(events.count == 12)
        #expect(events.map(\.seq) == (1...12).map { Int64($0) })
    }

    @Test func aHotlistedUIDRowWinsThroughTheStore() throws {
        let list = """
            card,pupil,entitlement,status
            \(Fixture.isrn(6)),\(Fixture.pupil(6)),fsm,active
            \(Fixture.uid(6)),\(Fixture.pupil(6)),fsm,hotlisted

            """
        let (store, _) = try Fixture.store(list: list, at: now)
        let card = Fixture.identity(isrn: Fixture.isrn(6), uid: Fixture.uid(6))
        let tap = store.decide(card, reader: "Till Reader 00 00", lane: "till-1", role: .till, at: now, policy: Fixture.policy)
        #expect(tap.decision == .declined && tap.reason == .hotlisted && tap.pupil == Fixture.pupil(6))
        #expect(try store.lookup(card, at: now, policy: Fixture.policy).verdict.reason == .hotlisted)
        // Nothing was redeemed: read by its ISRN alone, the pupil is still owed today's lunch.
        let other = store.decide(Fixture.identity(isrn: Fixture.isrn(6)), reader: "R", lane: nil, role: .till, at: now, policy: Fixture.policy)
        #expect(other.kind == .lunch)
    }

    @Test func kioskNeverRedeems() throws {
        let (store, _) = try Fixture.store(list: list(), at: now)
        let id = Fixture.identity(isrn: Fixture.isrn(1))
        for _ in 0..<3 {
            let e = store.decide(id, reader: "Kiosk 00 00", lane: "library", role: .kiosk, at: now, policy: Fixture.policy)
            #expect(e.eventClass == .identify && e.kind == .lunch && e.seq != nil)
        }
        #expect(store.decide(id, reader: "Till", lane: nil, role: .till, at: now, policy: Fixture.policy).kind == .lunch)
        let after = store.decide(id, reader: "Kiosk 00 00", lane: nil, role: .kiosk, at: now, policy: Fixture.policy)
        #expect(after.reason == .alreadyRedeemed)
    }

    @Test func lookupRedeemsNothingAndParsesCards() throws {
        let (store, _) = try Fixture.store(list: list(), at: now)
        let spaced = ISRN(unchecked: Fixture.isrn(1)).grouped
        for _ in 0..<2 {
            let l = try store.lookup(card: spaced, at: now, policy: Fixture.policy)
            #expect(l.verdict.kind == .lunch)
        }
        #expect(try store.lookup(card: Fixture.uid(1).lowercased(), at: now, policy: Fixture.policy).verdict.pupil == Fixture.pupil(1))
        #expect(try store.events(after: 0, limit: 10).isEmpty)
        #expect(throws: CardReference.Invalid.self) { try store.lookup(card: "12345", at: now, policy: Fixture.policy) }
        #expect(throws: CardReference.Invalid.isrn(.badCheckDigit(expected: 4, found: 5))) {
            try store.lookup(card: "633597013012345675", at: now, policy: Fixture.policy)
        }
        let json = wireText(try store.lookup(card: Fixture.isrn(2), at: now, policy: Fixture.policy))
        #expect(json == #"{"class":"LOOKUP","card":{"isrn":"\#(Fixture.isrn(2))","media":"unknown"},"decision":"authorised","kind":"payment","pupil":"TEST-0000002","daily_limit":300}"#)
    }

    @Test func noListMeansUnknownAndStale() throws {
        let (store, _) = try Fixture.store()
        let e = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: nil, role: .till, at: now, policy: Fixture.policy)
        #expect(e.reason == .unknownCard && e.listStale)
        #expect(try store.listStatus() == nil)
    }

    @Test func voidReleasesTheLunch() throws {
        let (store, _) = try Fixture.store(list: list(), at: now)
        let id = Fixture.identity(isrn: Fixture.isrn(1))
        let first = store.decide(id, reader: "R", lane: nil, role: .till, at: now, policy: Fixture.policy)
        #expect(store.decide(id, reader: "R", lane: nil, role: .till, at: now, policy: Fixture.policy).reason == .alreadyRedeemed)
        guard case .released(let voided) = try store.void(seq: first.seq!, at: now, policy: Fixture.policy) else {
            Issue.record("the lunch was not released")
            return
        }
        #expect(voided.eventClass == .voided && voided.voided == first.seq && voided.pupil == Fixture.pupil(1))
        #expect(try store.void(seq: first.seq!, at: now, policy: Fixture.policy) == .nothingToRelease)
        #expect(try store.void(seq: 999, at: now, policy: Fixture.policy) == .unknownSeq)
        #expect(store.decide(id, reader: "R", lane: nil, role: .till, at: now, policy: Fixture.policy).kind == .lunch)
    }

    /// Two readers, one pupil's two cards, the same moment, two store connections
    /// (as two processes would have): exactly one lunch, many times over.
    @Test func twoReadersOnePupilOneLunch() throws {
        let pupils = 60
        let (a, _) = try Fixture.store(list: Fixture.twoCardList(pupils: pupils), at: now)
        let b = try EntitlementStore(path: a.path)
        let results = ResultBox()
        for n in 1...pupils {
            DispatchQueue.concurrentPerform(iterations: 2) { i in
                let e = i == 0
                    ? a.decide(Fixture.identity(isrn: Fixture.isrn(n)), reader: "Till A", lane: nil, role: .till, at: now, policy: Fixture.policy)
                    : b.decide(Fixture.identity(uid: Fixture.uid(n)), reader: "Till B", lane: nil, role: .till, at: now, policy: Fixture.policy)
                results.add(n, e)
            }
        }
        for n in 1...pupils {
            let events = results.events(n)
            #expect(events.count == 2)
            #expect(events.filter { $0.kind == .lunch }.count == 1)
            #expect(events.filter { $0.reason == .alreadyRedeemed }.count == 1)
        }
    }
}

/// Collects events from concurrent closures.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var byPupil: [Int: [StoredEvent]] = [:]
    func add(_ n: Int, _ e: StoredEvent) { lock.withLock { byPupil[n, default: []].append(e) } }
    func events(_ n: Int) -> [StoredEvent] { lock.withLock { byPupil[n] ?? [] } }
}

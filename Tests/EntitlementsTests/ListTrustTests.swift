import Foundation
import NECCard
import Testing
@testable import Entitlements

/// `require_signed_lists` is the daemon's own rule: a list in force that its configuration
/// does not trust decides nothing, whoever imported it and with whatever options.
@Suite struct ListTrustTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")
    let trusted = ListSigningKey.Private()
    let stranger = ListSigningKey.Private()

    var policy: DecisionPolicy {
        DecisionPolicy(requireSignedLists: true, trustedListKeys: [trusted.publicKey.base64])
    }

    /// Writes the list and, signed by `key`, its signature; imports it trusting `key`.
    func install(_ store: EntitlementStore, _ dir: String, signedBy key: ListSigningKey.Private?) throws {
        let text = Fixture.twoCardList(pupils: 3)
        Fixture.write(text, to: dir + "/list.csv")
        guard let key else {
            try store.importList(path: dir + "/list.csv", at: now)
            return
        }
        Fixture.write(try key.sign(Data(text.utf8)).base64EncodedString(), to: dir + "/list.csv.sig")
        try store.importList(
            path: dir + "/list.csv", signaturePath: dir + "/list.csv.sig",
            trust: ListTrust(trustedKeys: [key.publicKey], requireSigned: true), at: now)
    }

    @Test func theRuleSitsAfterTheCardsOwnChecksAndBeforeEverythingTheListDecides() {
        let row = ListRow(card: Fixture.isrn(1), pupil: Fixture.pupil(1), entitlement: .fsm)
        func decide(_ identity: CardIdentity, trusted: Bool, imported: Date) -> Verdict {
            DecisionEngine.evaluate(
                identity: identity, rows: [row], lunchesToday: [], listImportedAt: imported, listTrusted: trusted,
                now: now, policy: DecisionPolicy(stalePolicy: .decline))
        }
        let fresh = now.addingTimeInterval(-3600)
        let card = Fixture.identity(isrn: Fixture.isrn(1))
        #expect(decide(card, trusted: false, imported: fresh) == .declined(.listUntrusted))
        #expect(decide(card, trusted: true, imported: fresh).kind == .lunch)
        // Card checks need no list: they come first.
        #expect(decide(CardIdentity(), trusted: false, imported: fresh).reason == .unreadable)
        #expect(decide(Fixture.identity(isrn: Fixture.isrn(1), expiry: "2020-01-01"), trusted: false, imported: fresh).reason == .cardExpired)
        // Untrusted before stale: the list is not to be used at all.
        let old = now.addingTimeInterval(-30 * 86_400)
        #expect(decide(card, trusted: false, imported: old) == .declined(.listUntrusted, listStale: true))
        // Nothing of the list is shown: no pupil.
        #expect(decide(card, trusted: false, imported: fresh).pupil == nil)
    }

    @Test func anUnsignedListImportedWithoutTheConfigurationIsNotServed() throws {
        let (store, dir) = try Fixture.store()
        // As `necctl list import --database DB` does: no configuration, no trust options.
        try install(store, dir, signedBy: nil)
        let tap = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: "till-1", role: .till, at: now, policy: policy)
        #expect(tap.verdict == .declined(.listUntrusted))
        #expect(try store.lookup(card: Fixture.isrn(2), at: now, policy: policy).verdict == .declined(.listUntrusted))
        // Nothing redeemed: once a trusted list is in force the pupil is served.
        try install(store, dir, signedBy: trusted)
        let served = store.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: "till-1", role: .till, at: now, policy: policy)
        #expect(served.kind == .lunch && served.pupil == Fixture.pupil(1))
    }

    @Test func aListSignedByAKeyTheDaemonDoesNotTrustIsNotServed() throws {
        let (store, dir) = try Fixture.store()
        try install(store, dir, signedBy: stranger)
        #expect(try store.listStatus()?.signer == stranger.publicKey.base64)
        let tap = store.decide(Fixture.identity(uid: Fixture.uid(1)), reader: "R", lane: nil, role: .till, at: now, policy: policy)
        #expect(tap.reason == .listUntrusted)
        // Rolling back to the stranger's list is no way round it either.
        try install(store, dir, signedBy: trusted)
        #expect(store.decide(Fixture.identity(uid: Fixture.uid(2)), reader: "R", lane: nil, role: .till, at: now, policy: policy).kind == .lunch)
        _ = try store.rollbackList()
        #expect(store.decide(Fixture.identity(uid: Fixture.uid(3)), reader: "R", lane: nil, role: .till, at: now, policy: policy).reason == .listUntrusted)
    }

    @Test func withoutTheRuleAnyListIsServedAndNoListMeansUnknown() throws {
        let (open, dir) = try Fixture.store()
        try install(open, dir, signedBy: nil)
        #expect(open.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: nil, role: .till, at: now, policy: Fixture.policy).kind == .lunch)
        // With the rule but no list at all there is nothing to distrust.
        let (strict, _) = try Fixture.store()
        #expect(strict.decide(Fixture.identity(isrn: Fixture.isrn(1)), reader: "R", lane: nil, role: .till, at: now, policy: policy).reason == .unknownCard)
    }
}

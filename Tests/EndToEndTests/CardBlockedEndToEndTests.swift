import Foundation
import NECCard
import NECTestSupport
import Testing
import VirtualCard

/// `check_card_blocked` through the whole stack: a real necd with a list, pcscd with vpcd
/// readers, VirtualCard taps. With the key off (the default) a tap is 3 APDUs and the
/// Directory is never asked for; on, the Directory's file too, and a blocked card is
/// declined `card_blocked` before its expiry or the list is looked at.
@Suite(.serialized, .needsRig)
struct CardBlockedEndToEndTests {
    static let identityRead: [[UInt8]] = [
        Hex.bytes("FF CA 00 00 00")!, Hex.bytes("90 5A 00 00 03 16 02 A0 00")!,
        Hex.bytes("90 BD 00 00 07 0F 00 00 00 00 00 00 00")!,
    ]
    /// The Directory of the standard virtual shell (E# 8, SCTL 16): file 0x00, its 59 bytes.
    static let directoryRead = Hex.bytes("90 BD 00 00 07 00 00 00 00 3B 00 00 00")!

    /// Taps `card` on the till and returns what it was sent and the decision.
    func tap(_ d: DaemonFixture, _ watch: LineSocket, _ card: VirtualCardModel) async throws -> ([[UInt8]], [String: Any]) {
        let stats = try await VirtualCardRunner.tap(card: card, port: d.tillPort, hold: .milliseconds(700))
        try await VirtualReaders.waitUntilEmpty([d.tillReader])
        return (stats.commands, try d.decision(watch))
    }

    @Test func withTheCheckABlockedCardIsDeclinedBeforeItsExpiry() async throws {
        let d = try DaemonFixture(extraConfiguration: "check_card_blocked = true")
        try await d.start()
        let watch = try d.watcher()
        // Blocked and expired, and listed for lunch: card_blocked, nothing else.
        let blocked = DaemonFixture.card(DaemonFixture.expiredCard, expired: true).withDirectory(.blockedCard)
        let (sent, event) = try await tap(d, watch, blocked)
        #expect(sent == Self.identityRead + [Self.directoryRead])
        #expect(event["class"] as? String == "TAP")
        #expect(event["decision"] as? String == "declined")
        #expect(event["reason"] as? String == "card_blocked")
        #expect(event["pupil"] == nil)
        #expect((event["card"] as? [String: Any])?["isrn"] as? String == DaemonFixture.expiredCard.digits)
        // Not blocked: decided as ever, after the same four APDUs.
        let (sentActive, lunch) = try await tap(d, watch, DaemonFixture.card(DaemonFixture.lunchCard))
        #expect(sentActive == Self.identityRead + [Self.directoryRead])
        #expect(lunch["decision"] as? String == "authorised")
        #expect(lunch["kind"] as? String == "lunch")
        // A card whose Directory cannot be read is unreadable while the check is on.
        let (_, missing) = try await tap(d, watch, DaemonFixture.card(DaemonFixture.paidCard).withDirectory(nil))
        #expect(missing["decision"] as? String == "declined")
        #expect(missing["reason"] as? String == "unreadable")
        // A Classic card has no Directory: its UID decides, one APDU.
        let (sentClassic, classic) = try await tap(d, watch, .classic4K())
        #expect(sentClassic == [Hex.bytes("FF CA 00 00 00")!])
        #expect(classic["reason"] as? String == "unknown_card")
        #expect(await d.stopDaemon() == 0)
    }

    @Test func withoutTheCheckTheDirectoryIsNeverRead() async throws {
        let d = try DaemonFixture()
        try await d.start()
        let watch = try d.watcher()
        let blocked = DaemonFixture.card(DaemonFixture.lunchCard).withDirectory(.blockedCard)
        let (sent, event) = try await tap(d, watch, blocked)
        #expect(sent == Self.identityRead)
        #expect(event["decision"] as? String == "authorised")
        #expect(event["kind"] as? String == "lunch")
        // A random ID with a listed ISRN: decided by the ISRN, and the event carries no UID.
        let random = VirtualCardModel.desfireRandomUID(
            shell: VirtualShell(isrn: DaemonFixture.paidCard, expiry: CivilDate(iso: "2035-07-31")!), generation: .ev3)
        let (sentRandom, paid) = try await tap(d, watch, random)
        #expect(sentRandom == Self.identityRead)
        #expect(paid["kind"] as? String == "payment")
        let card = try #require(paid["card"] as? [String: Any])
        #expect(card["isrn"] as? String == DaemonFixture.paidCard.digits)
        #expect(card["uid"] == nil)
        #expect(await d.stopDaemon() == 0)
    }
}

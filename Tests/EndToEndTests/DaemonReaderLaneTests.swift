import Foundation
import Testing
import VirtualCard

/// Two readers tapped at once, through the real pipeline (pcscd, vpcd, SQLite): each
/// reader decides on its own lane, the events come out in seq order, and laying a card
/// on a reader sends no READER event (only TAP or IDENTIFY says a card was there).
extension DaemonEndToEndTests {
    @Test func twoReadersTappedAtOnceAreBothDecidedInSeqOrderWithNoReaderEvents() async throws {
        let d = try DaemonFixture()
        try await d.start()
        let watch = try d.watcher()
        let (tillPort, kioskPort) = (d.tillPort, d.kioskPort)
        let (lunch, other) = (DaemonFixture.card(DaemonFixture.lunchCard), DaemonFixture.card(DaemonFixture.secondLunchCard))
        async let till = VirtualCardRunner.tap(card: lunch, port: tillPort, hold: .milliseconds(700))
        async let kiosk = VirtualCardRunner.tap(card: other, port: kioskPort, hold: .milliseconds(700))
        _ = try await (till, kiosk)
        // Both cards have left; once necd has heard so, it would have sent a READER event
        // for it if it sent any for cards.
        try await d.waitUntilNecdSeesEmpty([d.tillReader, d.kioskReader])
        try watch.send(#"{"cmd":"status"}"#)
        // Everything the watcher got up to the STATUS answer.
        var lines: [[String: Any]] = []
        while let object = watch.readObject(timeout: .seconds(10)) {
            if object["class"] as? String == "STATUS" { break }
            lines.append(object)
        }
        let classes = lines.compactMap { $0["class"] as? String }
        #expect(classes.sorted() == ["IDENTIFY", "TAP"], "the watcher got \(classes); necd said: \(d.daemon?.stderr ?? "")")
        let seqs = lines.compactMap { $0["seq"] as? Int }
        #expect(seqs.count == 2 && seqs[0] + 1 == seqs[1], "seqs out of order: \(seqs)")
        let tap = lines.first { $0["class"] as? String == "TAP" }
        #expect(tap?["kind"] as? String == "lunch")
        #expect(tap?["reader"] as? String == d.tillReader)
        let identify = lines.first { $0["class"] as? String == "IDENTIFY" }
        #expect(identify?["pupil"] as? String == "TEST-0008")
        #expect(identify?["reader"] as? String == d.kioskReader)
    }
}

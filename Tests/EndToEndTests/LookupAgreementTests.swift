import Foundation
import NECCard
import NECTestSupport
import Testing

extension DaemonEndToEndTests {
    /// `necctl lookup --json` and the socket's `lookup` print the same object, byte for
    /// byte, for every kind of verdict: one mapping, one encoder. The paid pupil's row has
    /// a daily limit, allergens and a message, whose keys the two once ordered differently.
    @Test func necctlLookupJSONIsTheSocketsLOOKUPLine() async throws {
        let d = try DaemonFixture()
        try await d.start()
        let client = try LineSocket(path: d.socketPath)
        _ = client.readObject()
        let cards = [
            DaemonFixture.paidCard, DaemonFixture.bothCard, DaemonFixture.lunchCard, DaemonFixture.hotlistedCard,
            DaemonFixture.futureCard, DaemonFixture.unknownCard,
        ]
        var necctlLines: [String] = []
        for card in cards {
            try client.send(#"{"cmd":"lookup","card":"\#(card.digits)"}"#)
            let socketLine = try #require(client.readLine(), "no LOOKUP answer for \(card.masked)")
            let necctl = try ChildProcess(
                BuiltProducts.executable("necctl"), ["lookup", card.digits, "--json", "--config", d.configPath])
            let status = try #require(await necctl.wait(timeout: .seconds(15)).status, "necctl lookup did not finish")
            let printed = await necctl.waitForLines(1, timeout: .seconds(5))
            #expect(status == (socketLine.contains(#""decision":"authorised""#) ? 0 : 1), "stderr: \(necctl.stderr)")
            #expect(printed == [socketLine], "card \(card.masked)")
            necctlLines += printed
        }
        #expect(necctlLines.first == #"{"class":"LOOKUP","card":{"isrn":"\#(DaemonFixture.paidCard.digits)","media":"unknown"},"decision":"authorised","kind":"payment","pupil":"TEST-0002","daily_limit":250,"allergens":["milk","eggs"],"message":"see the test note"}"#)
    }
}

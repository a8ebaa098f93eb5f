import Glibc
import Testing
import VirtualCard

/// `ended()` returns only once the observer has been told the card left, so whoever waits
/// for the end sees every event, however slow the observer.
@Suite struct SessionEndingTests {
    @Test func theObserverHearsTheEndBeforeEndedReturns() async throws {
        let vpcd = try FakeVPCD()
        let events = EventLog()
        let card = VirtualCardModel.classic1K().with(.removeAfter(apdus: 0))
        let session = try await VirtualCardSession.insert(card, port: vpcd.port) { event in
            // A slow observer (a test that logs, a benchmark that writes a file).
            if case .ended = event { usleep(100_000) }
            events.append(event)
        }
        try await vpcd.accept()
        vpcd.send(powerOn)
        // The card leaves at this APDU: the connection closes unanswered.
        #expect(try await vpcd.transmit(DESFireITSOTests.getUID) == nil)
        let statistics = await session.ended()
        #expect(statistics.ending == .removalFault(afterAPDUs: 0))
        #expect(events.all.last == .ended(.removalFault(afterAPDUs: 0)), "\(events.all)")
    }
}

import Foundation
import PCSC
import Testing
import VirtualCard

/// GET DATA (UID), answered by the reader, here by the emulator in its place.
let getUID: [UInt8] = [0xFF, 0xCA, 0x00, 0x00, 0x00]
/// The synthetic card these tests tap: MIFARE Classic 1K, UID 11 22 33 44.
let testCard = VirtualCardModel.classic1K()

/// Cards on the rig's virtual readers, through pcscd, with VirtualCard.
/// Serialised with the rest of the rig's tests: one card per reader at a time.
extension LivePCSCTests {
    @Suite(.serialized) struct Cards {
        /// Waits (at most 5 s) until pcscd reports `reader` with or without a card.
        func waitFor(_ reader: String, present: Bool, on context: PCSCContext) throws {
            var states = [ReaderState(reader: reader)]
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline {
                do {
                    try context.statusChange(&states, timeout: 1000)
                } catch .timeout {
                    continue
                }
                if states[0].eventState.contains(.present) == present { return }
                states[0].acknowledge()
            }
            Issue.record("\(reader) did not become \(present ? "present" : "empty")")
        }

        @Test func connectTransmitStatusAndDisconnect() async throws {
            let reader = Rig.readers[1]
            let session = try await VirtualCardSession.insert(testCard, port: Rig.ports[1])
            let context = try PCSCContext.establish()
            defer { try? context.release() }
            try waitFor(reader, present: true, on: context)

            let connection = try context.connect(reader: reader)
            #expect(connection.activeProtocol == .t1)
            let status = try connection.status()
            #expect(status.reader == reader)
            #expect(status.atr == testCard.atr)
            #expect(status.activeProtocol == .t1)
            #expect(status.state == [.present, .powered, .negotiable])  // measured with vpcd
            #expect(try connection.transmit(getUID) == [0x11, 0x22, 0x33, 0x44, 0x90, 0x00])
            try connection.disconnect(.leave)
            #expect(throws: PCSCError.invalidHandle) { try connection.transmit(getUID) }

            // Measured: a card gone from the reader fails the exchange with SCARD_W_REMOVED_CARD.
            let again = try context.connect(reader: reader)
            await session.remove()
            try waitFor(reader, present: false, on: context)
            #expect(throws: PCSCError.removedCard) { try again.transmit(getUID) }
            try? again.disconnect()
        }

        @Test func cardIsReadOnceWhileItStaysAndRemovedWhenItGoes() async throws {
            let monitor = ReaderMonitor { card -> Result<[UInt8], PCSCError> in
                do throws(PCSCError) {
                    let connection = try card.connect()
                    defer { try? connection.disconnect() }
                    return .success(try connection.transmit(getUID))
                } catch {
                    return .failure(error)
                }
            }
            let watchdog = stopping(monitor, after: .seconds(15))
            defer { watchdog.cancel() }
            var events: [ReaderEvent<Result<[UInt8], PCSCError>>] = []
            var session: VirtualCardSession?
            for await event in monitor {
                events.append(event)
                switch event {
                case .readerAdded where events.count == Rig.readers.count:
                    session = try await VirtualCardSession.insert(testCard, port: Rig.ports[0])
                case .cardPresent:
                    // The read's own connect and disconnect change the reader's state;
                    // the card staying on the reader must not be reported again. Pacing:
                    // the card is held 1.5 s (several of pcscd's 0.4 s polls) before it goes.
                    try await Task.sleep(for: .seconds(1.5))
                    await session?.remove()
                case .cardRemoved:
                    monitor.stop()
                default:
                    break
                }
            }
            let expected: [ReaderEvent<Result<[UInt8], PCSCError>>] =
                Rig.readers.map { .readerAdded($0) } + [
                    .cardPresent(reader: Rig.readers[0], atr: testCard.atr, reading: .success([0x11, 0x22, 0x33, 0x44, 0x90, 0x00])),
                    .cardRemoved(reader: Rig.readers[0]),
                ]
            #expect(events == expected)
        }

        @Test func cardAlreadyPresentIsReportedAtStart() async throws {
            let session = try await VirtualCardSession.insert(testCard, port: Rig.ports[1])
            let context = try PCSCContext.establish()
            try waitFor(Rig.readers[1], present: true, on: context)
            try context.release()

            let monitor = ReaderMonitor()
            let watchdog = stopping(monitor, after: .seconds(10))
            defer { watchdog.cancel() }
            var events: [ReaderEvent<NoReading>] = []
            for await event in monitor {
                events.append(event)
                if case .cardPresent = event { await session.remove() }
                if case .cardRemoved = event { monitor.stop() }
            }
            let expected: [ReaderEvent<NoReading>] = Rig.readers.map { .readerAdded($0) } + [
                .cardPresent(reader: Rig.readers[1], atr: testCard.atr, reading: NoReading()),
                .cardRemoved(reader: Rig.readers[1]),
            ]
            #expect(events == expected)
        }

        @Test func tapsOnBothReadersAreTold() async throws {
            let monitor = ReaderMonitor()
            let watchdog = stopping(monitor, after: .seconds(15))
            defer { watchdog.cancel() }
            var presents: [String] = []
            var removals: [String] = []
            for await event in monitor {
                switch event {
                case .readerAdded(let name) where name == Rig.readers.last:
                    Task {
                        for port in Rig.ports.prefix(2) {
                            try await VirtualCardRunner.tap(card: testCard, port: port, hold: .seconds(1))
                        }
                    }
                case .cardPresent(let reader, _, _):
                    presents.append(reader)
                case .cardRemoved(let reader):
                    removals.append(reader)
                    if removals.count == 2 { monitor.stop() }
                default:
                    break
                }
            }
            #expect(presents == Array(Rig.readers.prefix(2)))
            #expect(removals == Array(Rig.readers.prefix(2)))
        }
    }
}

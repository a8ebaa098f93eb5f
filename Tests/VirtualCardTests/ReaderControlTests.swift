import Testing

@testable import VirtualCard

/// The virtual reader answers ACS LED and buzzer control as an ACS reader does, for every
/// card, and leaves the card's own state alone.
@Suite("Reader LED and buzzer control")
struct ReaderControlTests {
    static let controls: [[UInt8]] = [
        [0xFF, 0x00, 0x40, 0xA0, 0x04, 0x02, 0x01, 0x01, 0x01],  // ACR122U bi-color LED and buzzer
        [0xFF, 0x00, 0x40, 0x50, 0x04, 0x01, 0x01, 0x02, 0x01],
        [0xFF, 0x00, 0x44, 0x02, 0x00],  // ACR1252U family LED
        [0xFF, 0x00, 0x52, 0x14, 0x00],  // ACR1252U family buzzer
    ]

    @Test("LED and buzzer APDUs are answered 90 00 on every chip")
    func answered() {
        let models: [VirtualCardModel] = [
            .desfireITSO(shell: VirtualShell(isrn: VirtualCardModel.sampleISRN, expiry: VirtualCardModel.futureExpiry)),
            .cmd2ITSO(shell: VirtualShell(isrn: VirtualCardModel.sampleISRN, expiry: VirtualCardModel.futureExpiry)),
            .classic1K(),
        ]
        for model in models {
            var card = EmulatedCard(model: model, seed: 1)
            for command in Self.controls {
                #expect(card.respond(to: command) == [0x90, 0x00], "\(model.chip) \(command)")
            }
        }
    }

    @Test("Other FF 00 instructions stay unknown to the virtual reader")
    func othersRefused() {
        var card = EmulatedCard(model: .classic1K(), seed: 1)
        #expect(card.respond(to: [0xFF, 0x00, 0x48, 0x00, 0x00]) == [0x6D, 0x00])
        #expect(card.respond(to: [0xFF, 0x00, 0x00, 0x00, 0x02, 0xD4, 0x02]) == [0x6D, 0x00])
    }

    @Test("A feedback APDU after the read leaves the selected application as it was")
    func stateUntouched() {
        var card = EmulatedCard(
            model: .desfireITSO(shell: VirtualShell(isrn: VirtualCardModel.sampleISRN, expiry: VirtualCardModel.futureExpiry)), seed: 1)
        let select: [UInt8] = [0x90, 0x5A, 0x00, 0x00, 0x03, 0x16, 0x02, 0xA0, 0x00]
        #expect(card.respond(to: select) == [0x91, 0x00])
        #expect(card.respond(to: Self.controls[0]) == [0x90, 0x00])
        // Listing applications is refused inside one (91 9D): the ITSO application is still selected.
        let getApplicationIDs: [UInt8] = [0x90, 0x6A, 0x00, 0x00, 0x00]
        #expect(card.respond(to: getApplicationIDs) == [0x91, 0x9D])
    }
}

/// The ATRs a PC/SC contactless reader synthesises (PC/SC part 3), since vpcd has no
/// reader firmware of its own and takes the ATR from the emulator.
public enum ContactlessATR {
    /// The ATR of an ISO 14443-4 card: `3B 8n 80 01`, the historical bytes, TCK.
    /// - Parameter historicalBytes: at most 15 bytes (more are dropped).
    public static func iso14443_4(historicalBytes: [UInt8]) -> [UInt8] {
        let historical = Array(historicalBytes.prefix(15))
        return withChecksum([0x3B, 0x80 | UInt8(historical.count), 0x80, 0x01] + historical)
    }

    /// The ATR of a storage card: `3B 8F 80 01 80 4F 0C A0 00 00 03 06 SS NN NN 00 00 00 00 TCK`.
    /// - Parameters:
    ///   - standard: SS, `03` for ISO 14443A part 3.
    ///   - cardName: NN NN, `0001` for MIFARE Classic 1K.
    public static func storageCard(standard: UInt8 = 0x03, cardName: UInt16) -> [UInt8] {
        withChecksum([
            0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06,
            standard, UInt8(cardName >> 8), UInt8(cardName & 0xFF), 0x00, 0x00, 0x00, 0x00,
        ])
    }

    /// What DESFire EV1/EV2 cards usually give: `3B 81 80 01 80 80`.
    public static let desfire = iso14443_4(historicalBytes: [0x80])
    /// MIFARE Classic 1K: `3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A`.
    public static let classic1K = storageCard(cardName: 0x0001)
    /// MIFARE Classic 4K: `3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 02 00 00 00 00 69`.
    public static let classic4K = storageCard(cardName: 0x0002)

    /// TCK makes the XOR of every byte after TS, TCK included, zero.
    private static func withChecksum(_ bytes: [UInt8]) -> [UInt8] {
        bytes + [bytes.dropFirst().reduce(0, ^)]
    }
}

/// CRC_B of ISO/IEC 14443-3 (the same as CRC-16/X-25): reflected polynomial 0x8408,
/// initial value 0xFFFF, result complemented. ITSO uses it for the shell's SECRC.
public enum CRCB {
    /// The CRC_B of `bytes`. `"123456789"` gives `0x906E`.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for b in bytes {
            crc ^= UInt16(b)
            for _ in 0..<8 {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x8408 : crc >> 1
            }
        }
        return ~crc
    }
}

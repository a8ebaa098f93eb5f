@testable import NECCard

/// Bytes from spaced hex; the literal is the test's, so a typo should stop the test loudly.
func hex(_ text: String) -> [UInt8] {
    guard let bytes = Hex.bytes(text) else { preconditionFailure("bad hex literal in test: \(text)") }
    return bytes
}

/// The worked example of nec-cards.md: a 32-byte DESFire file 0x0F.
let workedShell = hex("18 11 63 35 97 01 30 12 34 56 74 0F 01 01 2F E8 20 10 08 10 00 00 70 0D")
    + [UInt8](repeating: 0, count: 8)

/// `bytes` with the SECRC recomputed for a shell of `length` bytes (CRC_B over the bytes
/// before it, stored low byte first), so a test can change one field and still reach
/// the check it aims at.
func resealed(_ bytes: [UInt8], length: Int = 24) -> [UInt8] {
    var out = bytes
    let crc = CRCB.checksum(out[0..<(length - 2)])
    out[length - 2] = UInt8(crc & 0xFF)
    out[length - 1] = UInt8(crc >> 8)
    return out
}

/// `bytes` with byte `index` set to `value`.
func with(_ bytes: [UInt8], _ index: Int, _ value: UInt8) -> [UInt8] {
    var out = bytes
    out[index] = value
    return out
}

/// A synthetic MCRN shell (ShellLength 8, bitmap 3), ISRN 633597 9999 0000001 9, MCRN
/// 99990001, its SECRC computed from the layout over bytes 0-29.
let mcrnShell: [UInt8] = {
    var b: [UInt8] = [
        0x20, 0x31,  // ShellLength 8 (001000), bitmap 3 (000011), revision 1 (0001)
        0x63, 0x35, 0x97,  // IIN
        0x99, 0x99,  // OID 9999
        0x00, 0x00, 0x00, 0x19,  // ISSN 0000001, check digit 9
        0x0F, 0x02, 0x03,  // FVC, KSC, KVC
        0x2F, 0xE8,  // EXP 12264 = 2030-07-31
        0x20, 0x10, 0x08, 0x10,  // B S E# SCTL
        0x99, 0x99, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  // MCRN 99990001, F padded
        0x00, 0x00,  // SECRC, filled below
    ]
    let crc = CRCB.checksum(b[0..<30])
    b[30] = UInt8(crc & 0xFF)
    b[31] = UInt8(crc >> 8)
    return b
}()

/// ATRs of the PC/SC part 3 kind and others.
enum ATRs {
    static let classic1K = hex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A")
    static let classic4K = hex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 02 00 00 00 00 69")
    static let ultralight = hex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 03 00 00 00 00 68")
    static let mini = hex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 26 00 00 00 00 4D")
    static let ultralightC = hex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 3A 00 00 00 00 51")
    static let ultralightEV1 = hex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 3D 00 00 00 00 56")
    static let plusSL1 = hex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 36 00 00 00 00 5D")
    static let unknownMemory = hex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 99 99 00 00 00 00 6B")
    static let desfire = hex("3B 81 80 01 80 80")
    static let desfireWholeATS = hex("3B 85 80 01 75 77 81 02 80 05")
    static let iso14443NoHistorical = hex("3B 80 80 01 01")
    static let contactT0 = hex("3B 02 14 50")
    static let contactT1 = hex("3B 92 96 81 31 FE 45 AB CD 69")
}

/// A card that answers from a table, for unit tests of the decoders above the transport.
/// Each command maps to a queue of answers; the last answer repeats. Unknown commands get
/// `6E 00` (class not supported), like a card that knows none of them.
struct ScriptedTransport: APDUTransport {
    /// The error a scripted card throws when "removed".
    struct Removed: Error, Equatable {}

    var answers: [[UInt8]: [[UInt8]]]
    /// Throw `Removed` on the APDU with this 0-based index.
    var failAt: Int? = nil
    private(set) var sent: [[UInt8]] = []

    init(_ answers: [[UInt8]: [[UInt8]]], failAt: Int? = nil) {
        self.answers = answers
        self.failAt = failAt
    }

    mutating func transmit(_ command: [UInt8]) throws -> [UInt8] {
        defer { sent.append(command) }
        if let failAt, sent.count >= failAt { throw Removed() }
        guard var queue = answers[command], let first = queue.first else { return [0x6E, 0x00] }
        if queue.count > 1 {
            queue.removeFirst()
            answers[command] = queue
        }
        return first
    }
}

/// Commands the reader sends, for scripting.
enum Commands {
    static let getUID = hex("FF CA 00 00 00")
    static let selectITSO = hex("90 5A 00 00 03 16 02 A0 00")
    static let readShell = hex("90 BD 00 00 07 0F 00 00 00 00 00 00 00")
    static let more = hex("90 AF 00 00 00")
    static let selectCMD2 = hex("00 A4 04 00 0B A0 00 00 02 16 49 54 53 4F 2D 31 00")
}

/// A synthetic 7-byte NXP UID.
let nxpUID = hex("04 A1 B2 C3 D4 E5 80")

/// An FCI template around `shell`, as a CMD2 card returns it.
func fci(shell: [UInt8], parameters: [UInt8] = [0x01, 0x02]) -> [UInt8] {
    let aid = CMD2.itsoAID
    let c0 = [0xC0, UInt8(shell.count)] + shell
    let e0 = [0xE0, UInt8(parameters.count)] + parameters
    let a5 = [0xA5, UInt8(c0.count + e0.count)] + c0 + e0
    let body = [0x84, UInt8(aid.count)] + aid + a5
    return [0x6F, UInt8(body.count)] + body
}

/// Why bytes are not a usable ITSO Shell Environment. Each case names one check; the
/// decoder reports the first that fails, in the order shell length, IIN, BCD, geometry,
/// SECRC, Luhn.
public enum ShellError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the header, or than ShellLength x 4 declares.
    case truncated(needed: Int, available: Int)
    /// ShellLength is too small to hold the fields the bitmap announces.
    case badShellLength(blocks: Int, minimum: Int)
    /// Bitmap without the full-shell bit, and not the compact shell.
    case unsupportedBitmap(UInt8)
    /// Bytes 2-4 are not the ITSO IIN `63 35 97`.
    case wrongIIN([UInt8])
    /// A nibble above 9 in a BCD field (`OID`, `ISSN`, `check digit`, `MCRN`), at this byte.
    case notBCD(field: String, offset: Int)
    /// Impossible geometry: B = 0, S < 4, E# = 0, or SCTL outside 1...64.
    case badGeometry(sectorSize: UInt8, sectorCount: UInt8, directoryEntries: UInt8, sctl: UInt8)
    /// The stored SECRC is not the CRC_B of the bytes before it.
    case badSECRC(stored: UInt16, computed: UInt16)
    /// The ISRN's check digit is not the Luhn digit of the 17 before it. Carries the ISRN
    /// read, so a technician sees what the card holds.
    case badLuhn(isrn: ISRN, expected: Int)

    /// The `Check` name this failure belongs to.
    public var checkName: String {
        switch self {
        case .truncated, .badShellLength, .unsupportedBitmap: "shell_length"
        case .wrongIIN: "iin"
        case .notBCD: "bcd"
        case .badGeometry: "geometry"
        case .badSECRC: "secrc"
        case .badLuhn: "luhn"
        }
    }

    /// One line for a technician.
    public var description: String {
        switch self {
        case .truncated(let n, let a): "shell is truncated: needs \(n) bytes, has \(a)"
        case .badShellLength(let b, let m): "ShellLength \(b) blocks is below the \(m) its fields need"
        case .unsupportedBitmap(let b): "shell bitmap \(b) is neither a full nor a compact shell"
        case .wrongIIN(let iin): "shell IIN is \(Hex.string(iin)), not 633597: not an ITSO shell"
        case .notBCD(let f, let o): "shell \(f) has a non-decimal digit at byte \(o)"
        case .badGeometry(let b, let s, let e, let t): "shell geometry is impossible: B=\(b) S=\(s) E#=\(e) SCTL=\(t)"
        case .badSECRC(let s, let c):
            "shell SECRC is \(Hex.string([UInt8(s >> 8), UInt8(s & 0xFF)])), CRC_B gives \(Hex.string([UInt8(c >> 8), UInt8(c & 0xFF)]))"
        case .badLuhn(let isrn, let e): "ISRN check digit is \(isrn.checkDigit), Luhn says \(e)"
        }
    }
}

/// The ITSO Shell Environment (TS 1000-2 clause 4): the card's ITSO identity (ISRN),
/// expiry and layout. Decoded from DESFire file `0x0F` or the CMD2 FCI tag `C0`.
///
/// The decoder trusts nothing: it checks every length before reading a field, rejects
/// non-BCD digits, impossible geometry, a wrong SECRC and a wrong check digit.
public struct ShellEnvironment: Sendable, Equatable {
    /// Which of the shell formats this is.
    public enum Format: String, Sendable {
        /// The full shell (bitmap bit 0): ISRN, keys, expiry, geometry, SECRC.
        case full
        /// The 3-byte compact shell of paper tickets: no ISRN, the UID is the identity.
        case compact
    }

    /// The format.
    public let format: Format
    /// ShellLength, in 4-byte blocks.
    public let shellLength: Int
    /// ShellBitMap (6 bits): bit 0 full shell, bit 1 MCRN present.
    public let bitmap: UInt8
    /// ShellFormatRevision (4 bits).
    public let formatRevision: UInt8
    /// Format version code.
    public let fvc: UInt8

    /// The ISRN (IIN + OID + ISSN + check digit); nil for a compact shell.
    public let isrn: ISRN?
    /// Key strategy code; nil for a compact shell.
    public let ksc: UInt8?
    /// Key set version code; nil for a compact shell.
    public let kvc: UInt8?
    /// The expiry as stored: the 14-bit ITSO day number (days since 1997-01-01), the two
    /// reserved bits before it masked off; nil for a compact shell. 0 means the card has
    /// no expiry (see `hasNoExpiry`).
    public let expiryDay: Int?
    /// B: sector size; nil for a compact shell.
    public let sectorSize: UInt8?
    /// S: sector count; nil for a compact shell.
    public let sectorCount: UInt8?
    /// E#: directory entries; nil for a compact shell.
    public let directoryEntries: UInt8?
    /// SCTL: sector chain table length; nil for a compact shell.
    public let sctl: UInt8?
    /// The media class reference number, when the bitmap says one is present (digits up
    /// to the first `F` pad).
    public let mcrn: String?
    /// The stored SECRC (already checked); nil for a compact shell.
    public let secrc: UInt16?

    /// The expiry date: the last day the card is valid. Nil for a compact shell and for a
    /// shell that stores day 0, which in ITSO is the top of the range and which schemes
    /// write for a card that never expires (never 1997-01-01).
    public var expiry: CivilDate? {
        guard let expiryDay, expiryDay != ShellEnvironment.noExpiryDay else { return nil }
        return CivilDate(itsoDay: expiryDay)
    }

    /// True for a full shell whose stored expiry is day 0: the card has no expiry.
    public var hasNoExpiry: Bool { expiryDay == ShellEnvironment.noExpiryDay }

    /// The stored expiry day that means "no expiry".
    public static let noExpiryDay = 0
    /// The largest expiry day 14 bits hold: 0x3FFF, 2041-11-09.
    public static let maxExpiryDay = 0x3FFF

    /// The IIN every ITSO shell carries in bytes 2-4.
    public static let iinBytes: [UInt8] = [0x63, 0x35, 0x97]
    /// The compact shell's FVC (MIFARE Ultralight / my-d paper tickets).
    public static let compactFVC: UInt8 = 4

    /// Decodes and checks a shell. `bytes` may be longer than the shell (a DESFire file
    /// read to its end); ShellLength says where the shell stops.
    /// - Throws: `ShellError` for the first check that fails.
    public init(decoding input: some Collection<UInt8>) throws(ShellError) {
        let bytes = Array(input)
        guard bytes.count >= 3 else { throw .truncated(needed: 3, available: bytes.count) }
        let blocks = Int(bytes[0] >> 2)
        let bitmap = (bytes[0] & 0x03) << 4 | bytes[1] >> 4
        let revision = bytes[1] & 0x0F

        // The compact shell is a prefix of a full one; byte 2 (FVC 4, not the IIN's 63) tells them apart.
        if blocks == 6, bitmap == 0, revision == 1, bytes[2] == ShellEnvironment.compactFVC {
            self.init(format: .compact, shellLength: blocks, bitmap: bitmap, formatRevision: revision, fvc: bytes[2])
            return
        }
        guard bitmap & 0x01 != 0 else { throw .unsupportedBitmap(bitmap) }
        let hasMCRN = bitmap & 0x02 != 0
        // Fields end at byte 20, or 30 with an MCRN, and two SECRC bytes follow.
        let minimumBlocks = hasMCRN ? 8 : 6
        guard blocks >= minimumBlocks else { throw .badShellLength(blocks: blocks, minimum: minimumBlocks) }
        let length = blocks * 4
        guard bytes.count >= length else { throw .truncated(needed: length, available: bytes.count) }

        let iin = Array(bytes[2...4])
        guard iin == ShellEnvironment.iinBytes else { throw .wrongIIN(iin) }

        // ISRN digits: IIN (bytes 2-4), OID (5-6), ISSN (7-10 high nibble), check (10 low nibble).
        var digits: [UInt8] = [6, 3, 3, 5, 9, 7]
        digits.reserveCapacity(18)
        for offset in 5...10 {
            let field = offset <= 6 ? "OID" : "ISSN"
            let high = bytes[offset] >> 4, low = bytes[offset] & 0x0F
            guard high <= 9 else { throw .notBCD(field: field, offset: offset) }
            guard low <= 9 else { throw .notBCD(field: offset == 10 ? "check digit" : field, offset: offset) }
            digits.append(high)
            digits.append(low)
        }

        var mcrn: String? = nil
        if hasMCRN {
            mcrn = try ShellEnvironment.decodeMCRN(bytes[20..<30])
        }

        let b = bytes[16], s = bytes[17], e = bytes[18], t = bytes[19]
        guard b > 0, s >= 4, e > 0, (1...64).contains(t) else {
            throw .badGeometry(sectorSize: b, sectorCount: s, directoryEntries: e, sctl: t)
        }

        let stored = UInt16(bytes[length - 2]) | UInt16(bytes[length - 1]) << 8
        let computed = CRCB.checksum(bytes[0..<(length - 2)])
        guard stored == computed else { throw .badSECRC(stored: stored, computed: computed) }

        let isrn = ISRN(unchecked: String(decoding: digits.map { $0 + 48 }, as: UTF8.self))
        let expected = Luhn.checkDigit(for: digits.dropLast())
        guard expected == digits[17] else { throw .badLuhn(isrn: isrn, expected: Int(expected)) }

        self.init(
            format: .full, shellLength: blocks, bitmap: bitmap, formatRevision: revision, fvc: bytes[11],
            isrn: isrn, ksc: bytes[12], kvc: bytes[13],
            // Bytes 14-15: two reserved bits, then the 14-bit DATE.
            expiryDay: Int(bytes[14] & 0x3F) << 8 | Int(bytes[15]),
            sectorSize: b, sectorCount: s, directoryEntries: e, sctl: t, mcrn: mcrn, secrc: stored)
    }

    private init(
        format: Format, shellLength: Int, bitmap: UInt8, formatRevision: UInt8, fvc: UInt8,
        isrn: ISRN? = nil, ksc: UInt8? = nil, kvc: UInt8? = nil, expiryDay: Int? = nil,
        sectorSize: UInt8? = nil, sectorCount: UInt8? = nil, directoryEntries: UInt8? = nil,
        sctl: UInt8? = nil, mcrn: String? = nil, secrc: UInt16? = nil
    ) {
        self.format = format
        self.shellLength = shellLength
        self.bitmap = bitmap
        self.formatRevision = formatRevision
        self.fvc = fvc
        self.isrn = isrn
        self.ksc = ksc
        self.kvc = kvc
        self.expiryDay = expiryDay
        self.sectorSize = sectorSize
        self.sectorCount = sectorCount
        self.directoryEntries = directoryEntries
        self.sctl = sctl
        self.mcrn = mcrn
        self.secrc = secrc
    }

    /// 20 BCD digits padded with `F`: digits until the first `F`, then only `F` may follow.
    private static func decodeMCRN(_ bytes: ArraySlice<UInt8>) throws(ShellError) -> String {
        var text = ""
        var padded = false
        for offset in bytes.indices {
            for nibble in [bytes[offset] >> 4, bytes[offset] & 0x0F] {
                if nibble == 0x0F {
                    padded = true
                } else if padded || nibble > 9 {
                    throw .notBCD(field: "MCRN", offset: offset)
                } else {
                    text.append(Character(Unicode.Scalar(nibble + 48)))
                }
            }
        }
        return text
    }

    /// The geometry bytes 16-19 as a `CardGeometry` (already checked); nil for a compact shell.
    public var geometry: CardGeometry? {
        guard let sectorSize, let sectorCount, let directoryEntries, let sctl else { return nil }
        return try? CardGeometry(sectorSize: sectorSize, sectorCount: sectorCount, directoryEntries: directoryEntries, sctl: sctl)
    }

    /// True when the bitmap says an MCRN is present.
    public var hasMCRN: Bool { bitmap & 0x02 != 0 }
}

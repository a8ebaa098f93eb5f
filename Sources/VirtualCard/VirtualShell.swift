public import NECCard

/// The fields of an ITSO Shell Environment (ITSO TS 1000-2 clause 4) as a virtual card
/// carries them, and their encoding into the bytes of DESFire file `0x0F` or CMD2 tag `C0`.
///
/// The encoder is written from the layout in the design notes (nec-cards.md); it is the emulator's
/// own, so a decoder tested against it is not tested against itself.
public struct VirtualShell: Sendable, Hashable {
    /// The card's DESFire file geometry as the shell states it (bytes 16-19).
    public struct Geometry: Sendable, Hashable {
        /// B: the sector size, in 32-byte blocks as the card defines them.
        public var sectorSize: UInt8
        /// S: how many sectors the card has.
        public var sectorCount: UInt8
        /// E#: how many directory entries the card has.
        public var directoryEntries: UInt8
        /// SCTL: the sector chain table length.
        public var sctl: UInt8

        /// - Parameters:
        ///   - sectorSize: B, byte 16.
        ///   - sectorCount: S, byte 17.
        ///   - directoryEntries: E#, byte 18.
        ///   - sctl: SCTL, byte 19.
        public init(sectorSize: UInt8, sectorCount: UInt8, directoryEntries: UInt8, sctl: UInt8) {
            self.sectorSize = sectorSize
            self.sectorCount = sectorCount
            self.directoryEntries = directoryEntries
            self.sctl = sctl
        }

        /// The geometry of the worked example in nec-cards.md: `20 10 08 10`.
        public static let standard = Geometry(
            sectorSize: 0x20, sectorCount: 0x10, directoryEntries: 0x08, sctl: 0x10)
    }

    /// The ISRN the shell carries. `ISRN(unchecked:)` makes a shell with a bad check digit;
    /// digits beyond 18 are dropped and missing or non-digit ones are encoded as 0.
    public var isrn: ISRN
    /// The expiry date, or nil for a card with no expiry, which the shell stores as day 0
    /// (ITSO's "top of the range"). A date is stored as days since 1997-01-01, clamped to
    /// what the 14 bits can hold with day 0 taken: 1997-01-02 (day 1) to 2041-11-09
    /// (day 0x3FFF).
    public var expiry: CivilDate?
    /// The two reserved bits in front of the DATE (the top bits of byte 14), 0-3. Real
    /// cards store 0; a decoder must mask them whatever they hold.
    public var reservedBits: UInt8
    /// ShellFormatRevision, 0-15 (bits 12-15).
    public var formatRevision: UInt8
    /// FVC, the format version code (byte 11).
    public var fvc: UInt8
    /// KSC, the key strategy code (byte 12).
    public var ksc: UInt8
    /// KVC, the key set version code (byte 13).
    public var kvc: UInt8
    /// The geometry bytes 16-19.
    public var geometry: Geometry
    /// The MCRN, up to 20 decimal digits, or nil for a shell without one. Present, it sets
    /// ShellBitMap bit 1 and ShellLength 8. Non-digits are encoded as `F` nibbles.
    public var mcrn: String?
    /// How long the DESFire file holding the shell is; the bytes after the shell are `00`.
    /// Never shorter than the shell itself.
    public var fileLength: Int

    /// The worked example's expiry, 2030-07-31.
    public static let exampleExpiry = CivilDate(year: 2030, month: 7, day: 31)!

    /// - Parameters:
    ///   - isrn: the ISRN to encode.
    ///   - expiry: the expiry date, or nil for no expiry (day 0).
    ///   - formatRevision: ShellFormatRevision (default 1).
    ///   - fvc: format version code (default 15, as in the worked example).
    ///   - ksc: key strategy code (default 1).
    ///   - kvc: key set version code (default 1).
    ///   - geometry: bytes 16-19 (default `20 10 08 10`).
    ///   - mcrn: the MCRN digits, or nil.
    ///   - fileLength: the DESFire file's length (default 32).
    ///   - reservedBits: the two bits before the DATE (default 0).
    public init(
        isrn: ISRN, expiry: CivilDate?, formatRevision: UInt8 = 1, fvc: UInt8 = 0x0F,
        ksc: UInt8 = 0x01, kvc: UInt8 = 0x01, geometry: Geometry = .standard,
        mcrn: String? = nil, fileLength: Int = 32, reservedBits: UInt8 = 0
    ) {
        self.isrn = isrn
        self.expiry = expiry
        self.reservedBits = reservedBits
        self.formatRevision = formatRevision
        self.fvc = fvc
        self.ksc = ksc
        self.kvc = kvc
        self.geometry = geometry
        self.mcrn = mcrn
        self.fileLength = fileLength
    }

    /// ShellLength in 4-byte blocks: 6 without an MCRN, 8 with one.
    public var shellLengthBlocks: Int { mcrn == nil ? 6 : 8 }

    /// The largest expiry day 14 bits can hold.
    static let maxExpiryDay = ShellEnvironment.maxExpiryDay

    /// The day number bytes 14-15 store: 0 for no expiry, else the date's day clamped
    /// to 1...0x3FFF (day 0 is not a date).
    public var expiryDay: Int {
        guard let expiry else { return ShellEnvironment.noExpiryDay }
        return min(max(expiry.daysSinceUnixEpoch - CivilDate.itsoEpoch.daysSinceUnixEpoch, 1), Self.maxExpiryDay)
    }

    /// The shell's own bytes (ShellLength x 4 of them, SECRC last).
    /// - Parameters:
    ///   - corruptSECRC: store a SECRC that does not match (the bad-SECRC fault).
    ///   - corruptCheckDigit: encode the ISRN with its last digit replaced by a wrong
    ///     check digit, with a correct SECRC (the bad-Luhn fault).
    public func shellBytes(corruptSECRC: Bool = false, corruptCheckDigit: Bool = false) -> [UInt8] {
        let length = shellLengthBlocks * 4
        var out = [UInt8](repeating: 0, count: length)
        let bitmap: UInt16 = mcrn == nil ? 0b01 : 0b11
        let header = UInt16(shellLengthBlocks) << 10 | bitmap << 4 | UInt16(formatRevision & 0x0F)
        out[0] = UInt8(header >> 8)
        out[1] = UInt8(header & 0xFF)

        var digits = isrnDigits()
        if corruptCheckDigit {
            let right = Luhn.checkDigit(for: digits.prefix(17))
            digits[17] = (right + 1) % 10
        }
        // Bytes 2-10 are the 18 digits packed two to a byte: IIN, OID, ISSN, check digit.
        for i in 0..<9 {
            out[2 + i] = digits[2 * i] << 4 | digits[2 * i + 1]
        }
        out[11] = fvc
        out[12] = ksc
        out[13] = kvc
        let day = expiryDay
        out[14] = (reservedBits & 0x03) << 6 | UInt8(day >> 8)
        out[15] = UInt8(day & 0xFF)
        out[16] = geometry.sectorSize
        out[17] = geometry.sectorCount
        out[18] = geometry.directoryEntries
        out[19] = geometry.sctl
        if let mcrn {
            let nibbles = mcrnNibbles(mcrn)
            for i in 0..<10 {
                out[20 + i] = nibbles[2 * i] << 4 | nibbles[2 * i + 1]
            }
        }
        var crc = CRCB.checksum(out[0..<(length - 2)])
        if corruptSECRC { crc ^= 0xFFFF }
        out[length - 2] = UInt8(crc & 0xFF)
        out[length - 1] = UInt8(crc >> 8)
        return out
    }

    /// The whole DESFire file: the shell followed by `00` up to `fileLength`.
    /// - Parameters: see `shellBytes(corruptSECRC:corruptCheckDigit:)`.
    public func fileBytes(corruptSECRC: Bool = false, corruptCheckDigit: Bool = false) -> [UInt8] {
        let shell = shellBytes(corruptSECRC: corruptSECRC, corruptCheckDigit: corruptCheckDigit)
        return shell + [UInt8](repeating: 0, count: max(fileLength - shell.count, 0))
    }

    private func isrnDigits() -> [UInt8] {
        var digits = isrn.digits.utf8.prefix(18).map { $0 >= 48 && $0 <= 57 ? $0 - 48 : 0 }
        while digits.count < 18 { digits.append(0) }
        return digits
    }

    private func mcrnNibbles(_ text: String) -> [UInt8] {
        var nibbles = text.utf8.prefix(20).map { $0 >= 48 && $0 <= 57 ? $0 - 48 : 0x0F }
        while nibbles.count < 20 { nibbles.append(0x0F) }
        return nibbles
    }
}

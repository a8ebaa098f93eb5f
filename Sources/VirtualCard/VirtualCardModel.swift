public import NECCard

/// Something wrong a virtual card can be made to do. Faults compose: a model carries a
/// list of them (`VirtualCardModel.with(_:)`).
public enum VirtualCardFault: Sendable, Hashable {
    /// The shell's SECRC does not match its bytes.
    case badSECRC
    /// The shell encodes an ISRN whose check digit is wrong; its SECRC is still right.
    case badLuhn
    /// The card leaves the field when command APDU number `apdus + 1` arrives: the
    /// connection closes without an answer. `removeAfter(apdus: 0)` removes it on the first.
    case removeAfter(apdus: Int)
    /// Every command APDU is answered this much later.
    case delay(Duration)
    /// Every command APDU is answered with 1 to 64 random bytes. With a seed the bytes
    /// repeat from run to run; without one they differ.
    case garbage(seed: UInt64?)
}

extension VirtualCardFault: CustomStringConvertible {
    /// The fault in a technician's words, as `necctl simulate` prints it.
    public var description: String {
        switch self {
        case .badSECRC: "bad SECRC"
        case .badLuhn: "bad check digit (Luhn)"
        case .removeAfter(let apdus):
            apdus == 0 ? "leaves the reader at the first APDU" : "leaves the reader after \(apdus) APDU\(apdus == 1 ? "" : "s")"
        case .delay(let duration): "answers \(VirtualCardFault.milliseconds(duration)) ms late"
        case .garbage(let seed?): "answers random bytes (seed \(seed))"
        case .garbage(nil): "answers random bytes"
        }
    }

    private static func milliseconds(_ duration: Duration) -> String {
        let c = duration.components
        let ms = Double(c.seconds) * 1000 + Double(c.attoseconds) / 1e15
        return ms == ms.rounded() ? String(Int64(ms)) : String(ms)
    }
}

/// A virtual card: its chip, its UID, its ITSO shell if any, and its faults. A value; the
/// state of one tap lives in `EmulatedCard`.
public struct VirtualCardModel: Sendable, Hashable, CustomStringConvertible {
    /// The kind of chip, which decides the ATR and which commands it understands.
    public enum Chip: Sendable, Hashable {
        /// MIFARE DESFire; ITSO, when present, is application `16 02 A0` file `0x0F`.
        case desfire
        /// An ISO 7816 microprocessor card; ITSO, when present, is the CMD2 application
        /// `A0 00 00 02 16 "ITSO-1"`, whose FCI carries the shell.
        case iso7816
        /// MIFARE Classic 1K: the reader answers GET DATA UID, nothing else reads.
        case classic1K
        /// MIFARE Classic 4K: as 1K, with the 4K card name in its ATR.
        case classic4K
    }

    /// Which DESFire generation answers GET VERSION (the software major version byte).
    public enum DESFireGeneration: UInt8, Sendable, Hashable, CaseIterable {
        /// EV1: major version `01`.
        case ev1 = 0x01
        /// EV2: major version `12`.
        case ev2 = 0x12
        /// EV3: major version `33`.
        case ev3 = 0x33
    }

    /// Where the UID comes from.
    public enum UID: Sendable, Hashable {
        /// The same UID on every tap.
        case fixed([UInt8])
        /// A random ID: 4 bytes starting `08`, drawn anew for every tap.
        case random
    }

    /// The chip.
    public var chip: Chip
    /// The UID the reader reports.
    public var uid: UID
    /// The ITSO shell, or nil for a card without the ITSO application. Ignored on Classic.
    public var shell: VirtualShell?
    /// The faults, applied together.
    public var faults: [VirtualCardFault]
    /// The ITSO Directory, when the card has a shell: on DESFire in the file of sector
    /// S - 1 counted from the shell's file `0x0F`; on CMD2 in sector S - 1. Nil: none.
    public var directory: VirtualDirectory? = VirtualDirectory()
    /// CMD2 only: the other copy of the Directory, in sector S - 2. Nil: that sector is empty.
    public var otherDirectoryCopy: VirtualDirectory? = nil
    /// The DESFire generation GET VERSION reports.
    public var generation: DESFireGeneration = .ev1

    /// - Parameters:
    ///   - chip: the chip kind.
    ///   - uid: fixed or random UID.
    ///   - shell: the ITSO shell, or nil.
    ///   - faults: faults to apply.
    public init(chip: Chip, uid: UID, shell: VirtualShell?, faults: [VirtualCardFault] = []) {
        self.chip = chip
        self.uid = uid
        self.shell = shell
        self.faults = faults
    }

    /// A synthetic 7-byte NXP UID for DESFire and CMD2 models.
    public static let sampleUID7: [UInt8] = [0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66]
    /// A synthetic 4-byte UID for Classic models.
    public static let sampleUID4: [UInt8] = [0x11, 0x22, 0x33, 0x44]
    /// A synthetic ISRN (OID 9999), valid Luhn.
    public static let sampleISRN = ISRN(unchecked: "633597999900000019")  // synthetic, OID 9999, Luhn-valid (tested)
    /// An expiry far enough ahead that a default card is never expired: 2040-12-31.
    public static let futureExpiry = CivilDate(year: 2040, month: 12, day: 31)!
    /// The expiry an expired card gets: 2024-07-31.
    public static let pastExpiry = CivilDate(year: 2024, month: 7, day: 31)!
    /// The ISRN `from(isrn:...)` gives a card when an option needs a shell but no ISRN
    /// was given: `sampleISRN`.
    public static let defaultShellISRN = sampleISRN

    /// A DESFire card with the ITSO application.
    /// - Parameters:
    ///   - uid: a 7-byte UID (default `sampleUID7`).
    ///   - shell: the shell in file `0x0F`.
    public static func desfireITSO(uid: [UInt8] = sampleUID7, shell: VirtualShell) -> Self {
        Self(chip: .desfire, uid: .fixed(uid), shell: shell)
    }

    /// An ISO 7816 card with the ITSO CMD2 application.
    /// - Parameters:
    ///   - uid: the UID GET DATA reports (default `sampleUID7`).
    ///   - shell: the shell in the FCI's tag `C0`.
    public static func cmd2ITSO(uid: [UInt8] = sampleUID7, shell: VirtualShell) -> Self {
        Self(chip: .iso7816, uid: .fixed(uid), shell: shell)
    }

    /// A MIFARE Classic 1K card: UID only.
    /// - Parameter uid: a 4-byte UID (default `sampleUID4`).
    public static func classic1K(uid: [UInt8] = sampleUID4) -> Self {
        Self(chip: .classic1K, uid: .fixed(uid), shell: nil)
    }

    /// A DESFire card with a random ID (4 bytes starting `08`, new per tap; GET VERSION
    /// gives seven `00` bytes for the UID until authenticated, on EV1, EV2 and EV3 alike).
    /// - Parameters:
    ///   - shell: its ITSO shell, or nil (the default) for none.
    ///   - generation: the DESFire generation GET VERSION reports (default EV1).
    public static func desfireRandomUID(shell: VirtualShell? = nil, generation: DESFireGeneration = .ev1) -> Self {
        var model = Self(chip: .desfire, uid: .random, shell: shell)
        model.generation = generation
        return model
    }

    /// A MIFARE Classic 4K card: UID only.
    /// - Parameter uid: a 4-byte UID (default `sampleUID4`).
    public static func classic4K(uid: [UInt8] = sampleUID4) -> Self {
        Self(chip: .classic4K, uid: .fixed(uid), shell: nil)
    }

    /// This model with another Directory (nil: none).
    public func withDirectory(_ directory: VirtualDirectory?, otherCopy: VirtualDirectory? = nil) -> Self {
        var copy = self
        copy.directory = directory
        copy.otherDirectoryCopy = otherCopy
        return copy
    }

    /// The DESFire file of logical sector `sector`, counted from the shell's file `0x0F`
    /// as real cards number them (`CardGeometry.desfireFile`); nil without a shell or
    /// outside DESFire's 32 files.
    public func desfireFile(sector: Int) -> UInt8? {
        guard let g = shell?.geometry, let geometry = try? CardGeometry(
            sectorSize: g.sectorSize, sectorCount: g.sectorCount, directoryEntries: g.directoryEntries, sctl: g.sctl)
        else { return nil }
        return geometry.desfireFile(sector: sector, shellFile: EmulatedCard.shellFileNumber)
    }

    /// The bytes of the Directory (`directory`) for this card's geometry; nil without one.
    public var directoryFile: [UInt8]? {
        guard let shell, let directory else { return nil }
        return directory.bytes(geometry: shell.geometry)
    }

    /// A DESFire card without the ITSO application: selecting `16 02 A0` gives `91 A0`.
    /// - Parameter uid: a 7-byte UID (default `sampleUID7`).
    public static func desfireWithoutITSO(uid: [UInt8] = sampleUID7) -> Self {
        Self(chip: .desfire, uid: .fixed(uid), shell: nil)
    }

    /// This model with more faults.
    /// - Parameter more: faults added after the existing ones.
    public func with(_ more: VirtualCardFault...) -> Self {
        var copy = self
        copy.faults += more
        return copy
    }

    /// Why `from(isrn:uid:media:expired:badCRC:badLuhn:)` could not build a model.
    public enum Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        /// The ISRN text is not a valid ISRN.
        case isrn(ISRN.Invalid)
        /// The UID is not hex, or not 4, 7 or 10 bytes.
        case uid(String)
        /// The emulator has no model for this media.
        case unsupportedMedia(Media)
        /// An ISRN (or a shell option) was given for a card that cannot carry a readable shell.
        case shellOnClassic
        /// Both "expired" and "no expiry" were asked for.
        case expiredAndNoExpiry

        /// A sentence for a technician.
        public var description: String {
            switch self {
            case .isrn(let reason): "virtual card ISRN: \(reason)"
            case .uid(let text): "virtual card UID must be hex of 4, 7 or 10 bytes, or \"random\": \(text)"
            case .unsupportedMedia(let media): "no virtual card model for media \(media.rawValue)"
            case .shellOnClassic: "a MIFARE Classic virtual card carries no readable ITSO shell"
            case .expiredAndNoExpiry: "a virtual card cannot be both expired and without expiry"
            }
        }
    }

    /// A model from command-line style options (for `necctl simulate`).
    ///
    /// The shell options (`expired`, `noExpiry`, `badCRC`, `badLuhn`) describe the ITSO
    /// shell, so they give a card without an ISRN the shell of `defaultShellISRN`
    /// rather than being silently ignored.
    /// - Parameters:
    ///   - isrn: the ISRN, with or without spaces; nil for a card without ITSO (unless a
    ///     shell option is given).
    ///   - uid: the UID in hex, `"random"` for a random ID, nil for the sample UID.
    ///   - media: `.desfire`, `.iso7816` (CMD2) or `.classic`.
    ///   - expired: give the shell an expiry in the past (`pastExpiry`).
    ///   - noExpiry: give the shell no expiry (day 0).
    ///   - badCRC: add the `badSECRC` fault.
    ///   - badLuhn: add the `badLuhn` fault.
    /// - Throws: `VirtualCardModel.Invalid`.
    public static func from(
        isrn: String?, uid: String? = nil, media: Media = .desfire, expired: Bool = false,
        noExpiry: Bool = false, badCRC: Bool = false, badLuhn: Bool = false
    ) throws(Invalid) -> Self {
        guard !(expired && noExpiry) else { throw .expiredAndNoExpiry }
        let parsedUID: UID
        switch uid {
        case nil:
            parsedUID = .fixed(media == .classic ? sampleUID4 : sampleUID7)
        case "random"?:
            parsedUID = .random
        case let text?:
            guard let bytes = Hex.bytes(text), [4, 7, 10].contains(bytes.count) else {
                throw .uid(text)
            }
            parsedUID = .fixed(bytes)
        }
        var shell: VirtualShell? = nil
        let shellOption = expired || noExpiry || badCRC || badLuhn
        if isrn != nil || shellOption {
            let parsed: ISRN
            if let isrn {
                do { parsed = try ISRN(isrn) } catch { throw .isrn(error) }
            } else {
                parsed = defaultShellISRN
            }
            shell = VirtualShell(isrn: parsed, expiry: noExpiry ? nil : expired ? pastExpiry : futureExpiry)
        }
        var faults: [VirtualCardFault] = []
        if badCRC { faults.append(.badSECRC) }
        if badLuhn { faults.append(.badLuhn) }
        switch media {
        case .desfire:
            return Self(chip: .desfire, uid: parsedUID, shell: shell, faults: faults)
        case .iso7816:
            return Self(chip: .iso7816, uid: parsedUID, shell: shell, faults: faults)
        case .classic:
            guard shell == nil, faults.isEmpty else { throw .shellOnClassic }
            return Self(chip: .classic1K, uid: parsedUID, shell: nil)
        case .ultralight, .unknown:
            throw .unsupportedMedia(media)
        }
    }

    /// The media a reader of this card should report.
    public var media: Media {
        switch chip {
        case .desfire: .desfire
        case .iso7816: .iso7816
        case .classic1K, .classic4K: .classic
        }
    }

    /// The ATR the (virtual) reader reports for this card.
    public var atr: [UInt8] {
        switch chip {
        case .desfire: ContactlessATR.desfire
        case .iso7816: ContactlessATR.iso14443_4(historicalBytes: EmulatedCard.cmd2HistoricalBytes)
        case .classic1K: ContactlessATR.classic1K
        case .classic4K: ContactlessATR.classic4K
        }
    }

    /// The bytes the card holds for its shell (DESFire file or CMD2 tag), faults applied;
    /// nil without a shell or on Classic.
    public var shellFile: [UInt8]? {
        guard let shell, chip == .desfire || chip == .iso7816 else { return nil }
        let badSECRC = faults.contains(.badSECRC)
        let badLuhn = faults.contains(.badLuhn)
        switch chip {
        case .iso7816: return shell.shellBytes(corruptSECRC: badSECRC, corruptCheckDigit: badLuhn)
        default: return shell.fileBytes(corruptSECRC: badSECRC, corruptCheckDigit: badLuhn)
        }
    }

    /// The answers a fresh tap of this card gives to `commands`, in order (no removal or
    /// delay faults: those belong to the wire).
    /// - Parameters:
    ///   - commands: command APDUs.
    ///   - seed: seeds the random UID and garbage answers, for repeatable tests.
    public func respond(to commands: [[UInt8]], seed: UInt64? = nil) -> [[UInt8]] {
        var card = EmulatedCard(model: self, seed: seed)
        return commands.map { card.respond(to: $0) }
    }

    /// A short description for logs, with the ISRN masked.
    public var description: String {
        var parts = ["\(media.rawValue)"]
        switch uid {
        case .fixed(let bytes): parts.append("uid \(Hex.string(bytes))")
        case .random: parts.append("random uid")
        }
        if let shell {
            parts.append("isrn \(shell.isrn.masked)")
            parts.append(shell.expiry.map { "expiry \($0)" } ?? "no expiry")
        } else {
            parts.append("no ITSO")
        }
        if !faults.isEmpty { parts.append("faults: " + faults.map(\.description).joined(separator: " + ")) }
        return parts.joined(separator: ", ")
    }
}

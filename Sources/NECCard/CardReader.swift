/// Why no identity came out of reading a card. Only the transport can stop a read: every
/// other problem (garbage answers, bad shells) becomes a failed `Check` instead.
public enum CardReadError: Error, CustomStringConvertible {
    /// The transport threw (card removed, reader gone). `afterAPDUs` counts the exchanges
    /// that had completed before the one that failed. No identity is produced: never a
    /// half-read one.
    case transport(underlying: any Error, afterAPDUs: Int)

    /// One line for a technician.
    public var description: String {
        switch self {
        case .transport(let e, let n): "card read failed after \(n) APDU\(n == 1 ? "" : "s"): \(e)"
        }
    }
}

/// Reads a card's identity through an `APDUTransport` in as few APDUs as possible:
///
/// 1. GET DATA `FF CA 00 00 00` for the UID;
/// 2. for a MIFARE Classic or other memory card (by the ATR), stop: UID only;
/// 3. DESFire select `16 02 A0`, then read file `0x0F` (following `91 AF`): a DESFire ITSO
///    card takes exactly 3 APDUs;
/// 4. when the DESFire select answers `91 A0` or an ISO error (`6D 00`, `6E 00`, ...), the
///    CMD2 select of `ITSO-1`, whose FCI carries the shell in tag `C0`.
///
/// With `directory` other than `.skip`, and a full shell, the ITSO Directory too, located
/// from the shell's geometry: on DESFire one more READ DATA (sector S - 1, file `0x00` on
/// the usual card); on CMD2 both copies (sectors S - 2 and S - 1: SELECT DF `01nn`, READ
/// BINARY, and a reselect of the ITSO DF between them). Nothing else is ever read.
///
/// Failed checks mean the card cannot be used for a decision; facts that only describe
/// the card (no ITSO application, UID only) are passing checks with a note.
public struct CardReader: Sendable {
    /// Whether a read also reads the ITSO Directory, and what a Directory that cannot be
    /// read or decoded does to the identity.
    public enum DirectoryPolicy: Sendable, Equatable {
        /// Do not read it (the default: the fewest APDUs).
        case skip
        /// Read it and report it; a failure is reported in `CardIdentity.directory` and
        /// leaves the card readable (`necctl scan`).
        case inform
        /// Read it because a decision depends on it (`check_card_blocked`): a failure is a
        /// failed `directory` check, so the card is unreadable.
        case require
    }

    /// Most APDUs one chained answer may take.
    public var frameLimit: Int
    /// Whether the Directory is read.
    public var directory: DirectoryPolicy

    /// - Parameters:
    ///   - frameLimit: most APDUs one chained answer (`91 AF`, `61 xx`) may take.
    ///   - directory: whether to read the ITSO Directory (default `.skip`).
    public init(frameLimit: Int = DESFire.defaultFrameLimit, directory: DirectoryPolicy = .skip) {
        self.frameLimit = frameLimit
        self.directory = directory
    }

    /// The note recorded for a MIFARE Classic card.
    public static let classicNote = "MIFARE Classic: ITSO sectors need keys; identified by UID only"

    /// Reads one card.
    /// - Parameters:
    ///   - atr: the ATR the reader reported (a hint for which path to take).
    ///   - transport: the connection to the card.
    /// - Returns: the identity, with every check made and the number of APDUs sent.
    /// - Throws: `CardReadError.transport` when the transport fails; nothing else throws.
    public func read<T: APDUTransport>(atr: [UInt8], transport: inout T) throws(CardReadError) -> CardIdentity {
        var session = Session(reader: self, counted: CountingTransport(base: transport), atr: atr)
        defer { transport = session.counted.base }
        try session.run()
        return session.identity
    }

    /// Reads one card with the default settings.
    public static func read(
        atr: [UInt8], transport: inout some APDUTransport, directory: DirectoryPolicy = .skip
    ) throws(CardReadError) -> CardIdentity {
        try CardReader(directory: directory).read(atr: atr, transport: &transport)
    }
}

/// Data bytes one DESFire answer frame carries before `91 AF`.
enum DESFireFrame {
    static let dataBytes = 59
}

/// Counts APDUs and turns transport failures into `CardReadError` at the source, so the
/// count in the error is exact.
struct CountingTransport<Base: APDUTransport>: APDUTransport {
    var base: Base
    /// APDUs handed to the base transport, including one that threw.
    var sent = 0
    /// APDUs that came back with a response.
    var completed = 0

    mutating func transmit(_ command: [UInt8]) throws -> [UInt8] {
        sent += 1
        do {
            let response = try base.transmit(command)
            completed += 1
            return response
        } catch {
            throw CardReadError.transport(underlying: error, afterAPDUs: completed)
        }
    }
}

/// The state of one read.
private struct Session<T: APDUTransport> {
    let reader: CardReader
    var counted: CountingTransport<T>
    let kind: ATRKind
    var identity: CardIdentity
    /// Whether the card answered a DESFire native command with a `91 xx` status.
    var speaksDESFire = false
    /// The full shell, once decoded and checked.
    var shell: ShellEnvironment?

    init(reader: CardReader, counted: CountingTransport<T>, atr: [UInt8]) {
        self.reader = reader
        self.counted = counted
        self.kind = ATRKind(atr: atr)
        self.identity = CardIdentity(atr: atr, media: kind.media)
    }

    private enum Chain { case none, desfire, iso }

    /// One exchange; protocol-level garbage comes back as a failure, transport errors throw.
    private mutating func exchange(_ command: [UInt8], chain: Chain) throws(CardReadError) -> Result<ChainedResponse, ExchangeError> {
        do {
            switch chain {
            case .none:
                let response = try counted.transmit(command)
                guard let sw = StatusWord(response: response) else {
                    return .failure(.noStatusWord(frame: 1, length: response.count))
                }
                return .success(ChainedResponse(data: Array(response.dropLast(2)), status: sw, frames: 1))
            case .desfire:
                return .success(try DESFire.transceive(command, over: &counted, frameLimit: reader.frameLimit))
            case .iso:
                return .success(try CMD2.transceive(command, over: &counted, frameLimit: reader.frameLimit))
            }
        } catch let error as CardReadError {
            throw error
        } catch let error as ExchangeError {
            return .failure(error)
        } catch {
            // Only the counting transport throws, and it throws CardReadError; kept for safety.
            throw .transport(underlying: error, afterAPDUs: counted.completed)
        }
    }

    private mutating func check(_ name: String, ok: Bool, _ reason: String? = nil) {
        identity.checks.append(Check(name, ok: ok, reason: reason))
    }

    mutating func run() throws(CardReadError) {
        var uidCheck: Check
        switch try exchange(CardUID.getDataCommand, chain: .none) {
        case .failure(let e):
            uidCheck = Check("uid", ok: false, reason: "no UID: \(e)")
        case .success(let answer):
            do {
                let uid = try CardUID(getDataResponse: answer.data + [answer.status.sw1, answer.status.sw2])
                identity.uid = uid.bytes
                identity.uidRandom = uid.isRandom
                uidCheck = Check("uid", ok: true, reason: uid.summary)
            } catch {
                uidCheck = Check("uid", ok: false, reason: "no UID: \(error)")
            }
        }

        if kind.isMemoryCard {
            let note: String
            switch identity.media {
            case .classic: note = CardReader.classicNote
            default: note = "\(kind.meaning): no ITSO shell readable without keys; identified by UID only"
            }
            check("itso_application", ok: true, note)
        } else {
            try readITSO()
        }

        // A missing UID only matters when the shell gave no ISRN either (a contact card
        // has no UID to give).
        if !uidCheck.ok, identity.isrn != nil {
            uidCheck = Check("uid", ok: true, reason: (uidCheck.reason ?? "no UID") + "; identified by ISRN")
        }
        identity.checks.insert(uidCheck, at: 0)
        if reader.directory != .skip, identity.directory == .notRead { identity.directory = .absent }
        identity.apduCount = counted.sent
    }

    private mutating func readITSO() throws(CardReadError) {
        switch try exchange(DESFire.selectITSO, chain: .none) {
        case .failure(let e):
            check("itso_application", ok: false, "unexpected answer to DESFire select: \(e)")
        case .success(let answer):
            let sw = answer.status
            if !answer.data.isEmpty {
                check("itso_application", ok: false,
                      "unexpected answer to DESFire select: \(answer.data.count) data bytes before \(sw.hex)")
            } else if sw == .desfireOK {
                speaksDESFire = true
                identity.media = .desfire
                check("itso_application", ok: true, "DESFire application A0 02 16 selected")
                try readDESFireShell()
            } else if sw == .desfireApplicationNotFound {
                speaksDESFire = true
                identity.media = .desfire
                try selectCMD2(after: "DESFire select \(sw.hex)")
            } else if sw.isISOError {
                if identity.media == .desfire { identity.media = .unknown }
                try selectCMD2(after: "not DESFire, \(sw.hex)")
            } else {
                check("itso_application", ok: false,
                      "unexpected answer to DESFire select: \(sw.meaning) (\(sw.hex))")
            }
        }
    }

    private mutating func readDESFireShell() throws(CardReadError) {
        switch try exchange(DESFire.readShell, chain: .desfire) {
        case .failure(let e):
            check("shell_read", ok: false, "reading file 0x0F: \(e)")
        case .success(let answer):
            guard answer.status == .desfireOK else {
                check("shell_read", ok: false, "reading file 0x0F: \(answer.status.meaning) (\(answer.status.hex))")
                return
            }
            check("shell_read", ok: true, "\(answer.data.count) bytes in \(answer.frames) frame\(answer.frames == 1 ? "" : "s")")
            decodeShell(answer.data)
            if reader.directory != .skip, let geometry = shell?.geometry { try readDESFireDirectory(geometry) }
        }
    }

    /// Records a Directory that could not be had; a failed check only when required.
    private mutating func directoryFailed(_ reason: String) {
        identity.directory = .failed(reason)
        if reader.directory == .require { check("directory", ok: false, reason) }
    }

    /// One READ DATA of the Directory's file, located from the shell's file and geometry.
    private mutating func readDESFireDirectory(_ geometry: CardGeometry) throws(CardReadError) {
        let sector = geometry.directorySector
        guard let file = geometry.desfireFile(sector: sector, shellFile: DESFire.shellFile) else {
            directoryFailed("directory sector \(sector) has no DESFire file number from shell file 0x0F (\(geometry))")
            return
        }
        let name = "file 0x\(Hex.string([file]))"
        // Ask for the fields and the 5-byte InstanceID after them; a decision (.require)
        // that would need a second frame for the InstanceID asks for the fields alone, so
        // the Directory stays one APDU. A file shorter than that is read to its end.
        let needed = geometry.directoryMinimumLength, withInstance = needed + 5
        let frame = DESFireFrame.dataBytes
        let length = reader.directory == .require && withInstance > frame && needed <= frame ? needed : withInstance
        var answer = try exchange(DESFire.readData(file: file, length: length), chain: .desfire)
        if case .success(let first) = answer, first.status == StatusWord(0x91, 0xBE) {
            answer = try exchange(DESFire.readData(file: file), chain: .desfire)
        }
        switch answer {
        case .failure(let e):
            directoryFailed("reading directory \(name): \(e)")
        case .success(let answer):
            guard answer.status == .desfireOK else {
                directoryFailed("reading directory \(name): \(answer.status.meaning) (\(answer.status.hex))")
                return
            }
            do {
                identity.directory = .read(try ITSODirectory(decoding: answer.data, geometry: geometry), location: "DESFire \(name)")
            } catch {
                directoryFailed("directory in \(name): \(error)")
            }
        }
    }

    /// Reads both CMD2 copies (sectors S - 2 and S - 1) and keeps the live one.
    private mutating func readCMD2Directory(_ geometry: CardGeometry, sfi: UInt8) throws(CardReadError) {
        var copies: [ITSODirectory?] = []
        var problems: [String] = []
        for (i, sector) in geometry.cmd2DirectorySectors.enumerated() {
            // The ITSO DF is current after the application select; a storage DF is a
            // sibling of the one selected before it, so the second copy needs the ITSO DF again.
            if i > 0, try expectSuccess(CMD2.reselectITSO, "reselecting ITSO-1", problems: &problems) == nil {
                copies.append(nil)
                continue
            }
            copies.append(try readCMD2Copy(sector: sector, sfi: sfi, geometry: geometry, problems: &problems))
        }
        if let live = ITSODirectory.live(copies[0], copies[1]) {
            identity.directory = .read(live.directory, location: "CMD2 sector \(geometry.cmd2DirectorySectors[live.copy])")
        } else {
            directoryFailed(problems.joined(separator: "; "))
        }
    }

    /// One ISO exchange that must answer `90 00`: its answer, or nil with the problem noted.
    private mutating func expectSuccess(
        _ command: [UInt8], _ doing: String, problems: inout [String]
    ) throws(CardReadError) -> ChainedResponse? {
        switch try exchange(command, chain: .iso) {
        case .failure(let e):
            problems.append("\(doing): \(e)")
            return nil
        case .success(let answer) where answer.status != .success:
            problems.append("\(doing): \(answer.status.meaning) (\(answer.status.hex))")
            return nil
        case .success(let answer):
            return answer
        }
    }

    private mutating func readCMD2Copy(
        sector: Int, sfi: UInt8, geometry: CardGeometry, problems: inout [String]
    ) throws(CardReadError) -> ITSODirectory? {
        let name = "directory copy in sector \(sector)"
        guard try expectSuccess(CMD2.selectSector(UInt8(truncatingIfNeeded: sector)), "selecting \(name)", problems: &problems) != nil,
              let answer = try expectSuccess(CMD2.readStorage(sfi: sfi), "reading \(name)", problems: &problems)
        else { return nil }
        do {
            return try ITSODirectory(decoding: answer.data, geometry: geometry)
        } catch {
            problems.append("\(name): \(error)")
            return nil
        }
    }

    private mutating func selectCMD2(after previous: String) throws(CardReadError) {
        switch try exchange(CMD2.selectITSO, chain: .iso) {
        case .failure(let e):
            check("itso_application", ok: false, "unexpected answer to CMD2 select: \(e)")
        case .success(let answer):
            let sw = answer.status
            if sw == .success {
                if !speaksDESFire { identity.media = .iso7816 }
                check("itso_application", ok: true, "ITSO-1 application selected (CMD2)")
                let fci: ITSOApplicationFCI
                do {
                    fci = try ITSOApplicationFCI(fci: answer.data)
                } catch {
                    check("shell_read", ok: false, "CMD2 select: \(error)")
                    return
                }
                check("shell_read", ok: true, "\(fci.shell.count) bytes in FCI tag C0")
                decodeShell(fci.shell)
                if reader.directory != .skip, let geometry = shell?.geometry {
                    try readCMD2Directory(geometry, sfi: CMD2.storageSFI(parameters: fci.parameters))
                }
            } else if sw == StatusWord(0x62, 0x83) {
                check("itso_application", ok: false, "ITSO-1 application is deactivated (\(sw.hex))")
            } else if sw.isISOError {
                check("itso_application", ok: true,
                      "no ITSO application (\(previous); CMD2 select \(sw.hex)); identified by UID only")
            } else {
                check("itso_application", ok: false, "unexpected answer to CMD2 select: \(sw.meaning) (\(sw.hex))")
            }
        }
    }

    private static var shellStages: [String] { ["shell_length", "iin", "bcd", "geometry", "secrc", "luhn"] }

    private mutating func decodeShell(_ bytes: [UInt8]) {
        do {
            let shell = try ShellEnvironment(decoding: bytes)
            switch shell.format {
            case .compact:
                check("shell_length", ok: true, "compact shell (FVC \(shell.fvc)): no ISRN; identified by UID only")
            case .full:
                check("shell_length", ok: true,
                      "full shell, \(shell.shellLength) blocks, revision \(shell.formatRevision), FVC \(shell.fvc)")
                for stage in Session.shellStages.dropFirst() { check(stage, ok: true) }
                self.shell = shell
                identity.isrn = shell.isrn
                identity.expiry = shell.expiry
                identity.noExpiry = shell.hasNoExpiry
                if let mcrn = shell.mcrn, !mcrn.isEmpty { identity.mcrn = mcrn }
            }
        } catch {
            for stage in Session.shellStages {
                if stage == error.checkName { break }
                check(stage, ok: true)
            }
            check(error.checkName, ok: false, error.description)
            // The ISRN is shown even with a bad check digit: the technician sees what the card holds.
            if case .badLuhn(let isrn, _) = error { identity.isrn = isrn }
        }
    }
}

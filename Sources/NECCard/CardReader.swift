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
/// Failed checks mean the card cannot be used for a decision; facts that only describe
/// the card (no ITSO application, UID only) are passing checks with a note.
public struct CardReader: Sendable {
    /// Most APDUs one chained answer may take.
    public var frameLimit: Int

    /// - Parameter frameLimit: most APDUs one chained answer (`91 AF`, `61 xx`) may take.
    public init(frameLimit: Int = DESFire.defaultFrameLimit) {
        self.frameLimit = frameLimit
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
    public static func read(atr: [UInt8], transport: inout some APDUTransport) throws(CardReadError) -> CardIdentity {
        try CardReader().read(atr: atr, transport: &transport)
    }
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
                do {
                    let fci = try ITSOApplicationFCI(fci: answer.data)
                    check("shell_read", ok: true, "\(fci.shell.count) bytes in FCI tag C0")
                    decodeShell(fci.shell)
                } catch {
                    check("shell_read", ok: false, "CMD2 select: \(error)")
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

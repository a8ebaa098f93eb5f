/// A PC/SC return code other than success, by the name pcsc-lite gives it.
///
/// Every `SCARD_*` code in pcsc-lite's `pcsclite.h` has a case. A code outside that
/// table is kept as ``unknown(_:)`` so nothing is lost. On Linux the C type `LONG`
/// is 64 bits wide while the codes are 32-bit values, so ``init(returnCode:)`` masks
/// to the low 32 bits before comparing.
///
/// `SCARD_E_UNEXPECTED` and `SCARD_E_UNSUPPORTED_FEATURE` share the code
/// `0x8010001F`; pcsc-lite returns it for unsupported features, so decoding that
/// code gives ``unsupportedFeature``.
public enum PCSCError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `SCARD_F_INTERNAL_ERROR` (0x80100001).
    case internalError
    /// `SCARD_E_CANCELLED` (0x80100002): `SCardCancel` ended the call.
    case cancelled
    /// `SCARD_E_INVALID_HANDLE` (0x80100003).
    case invalidHandle
    /// `SCARD_E_INVALID_PARAMETER` (0x80100004).
    case invalidParameter
    /// `SCARD_E_INVALID_TARGET` (0x80100005).
    case invalidTarget
    /// `SCARD_E_NO_MEMORY` (0x80100006).
    case noMemory
    /// `SCARD_F_WAITED_TOO_LONG` (0x80100007).
    case waitedTooLong
    /// `SCARD_E_INSUFFICIENT_BUFFER` (0x80100008).
    case insufficientBuffer
    /// `SCARD_E_UNKNOWN_READER` (0x80100009).
    case unknownReader
    /// `SCARD_E_TIMEOUT` (0x8010000A).
    case timeout
    /// `SCARD_E_SHARING_VIOLATION` (0x8010000B).
    case sharingViolation
    /// `SCARD_E_NO_SMARTCARD` (0x8010000C).
    case noSmartCard
    /// `SCARD_E_UNKNOWN_CARD` (0x8010000D).
    case unknownCard
    /// `SCARD_E_CANT_DISPOSE` (0x8010000E).
    case cantDispose
    /// `SCARD_E_PROTO_MISMATCH` (0x8010000F).
    case protocolMismatch
    /// `SCARD_E_NOT_READY` (0x80100010).
    case notReady
    /// `SCARD_E_INVALID_VALUE` (0x80100011).
    case invalidValue
    /// `SCARD_E_SYSTEM_CANCELLED` (0x80100012).
    case systemCancelled
    /// `SCARD_F_COMM_ERROR` (0x80100013): the link to pcscd broke, for example
    /// because pcscd was killed while a call waited.
    case communicationError
    /// `SCARD_F_UNKNOWN_ERROR` (0x80100014).
    case unknownError
    /// `SCARD_E_INVALID_ATR` (0x80100015).
    case invalidATR
    /// `SCARD_E_NOT_TRANSACTED` (0x80100016).
    case notTransacted
    /// `SCARD_E_READER_UNAVAILABLE` (0x80100017).
    case readerUnavailable
    /// `SCARD_P_SHUTDOWN` (0x80100018).
    case shutdown
    /// `SCARD_E_PCI_TOO_SMALL` (0x80100019).
    case pciTooSmall
    /// `SCARD_E_READER_UNSUPPORTED` (0x8010001A).
    case readerUnsupported
    /// `SCARD_E_DUPLICATE_READER` (0x8010001B).
    case duplicateReader
    /// `SCARD_E_CARD_UNSUPPORTED` (0x8010001C).
    case cardUnsupported
    /// `SCARD_E_NO_SERVICE` (0x8010001D): pcscd is not running.
    case noService
    /// `SCARD_E_SERVICE_STOPPED` (0x8010001E).
    case serviceStopped
    /// `SCARD_E_UNEXPECTED` (0x8010001F, shared with `SCARD_E_UNSUPPORTED_FEATURE`).
    case unexpected
    /// `SCARD_E_UNSUPPORTED_FEATURE` (0x8010001F).
    case unsupportedFeature
    /// `SCARD_E_ICC_INSTALLATION` (0x80100020).
    case iccInstallation
    /// `SCARD_E_ICC_CREATEORDER` (0x80100021).
    case iccCreateOrder
    /// `SCARD_E_DIR_NOT_FOUND` (0x80100023).
    case directoryNotFound
    /// `SCARD_E_FILE_NOT_FOUND` (0x80100024).
    case fileNotFound
    /// `SCARD_E_NO_DIR` (0x80100025).
    case noDirectory
    /// `SCARD_E_NO_FILE` (0x80100026).
    case noFile
    /// `SCARD_E_NO_ACCESS` (0x80100027).
    case noAccess
    /// `SCARD_E_WRITE_TOO_MANY` (0x80100028).
    case writeTooMany
    /// `SCARD_E_BAD_SEEK` (0x80100029).
    case badSeek
    /// `SCARD_E_INVALID_CHV` (0x8010002A).
    case invalidCHV
    /// `SCARD_E_UNKNOWN_RES_MNG` (0x8010002B).
    case unknownResourceManager
    /// `SCARD_E_NO_SUCH_CERTIFICATE` (0x8010002C).
    case noSuchCertificate
    /// `SCARD_E_CERTIFICATE_UNAVAILABLE` (0x8010002D).
    case certificateUnavailable
    /// `SCARD_E_NO_READERS_AVAILABLE` (0x8010002E).
    case noReadersAvailable
    /// `SCARD_E_COMM_DATA_LOST` (0x8010002F).
    case communicationDataLost
    /// `SCARD_E_NO_KEY_CONTAINER` (0x80100030).
    case noKeyContainer
    /// `SCARD_E_SERVER_TOO_BUSY` (0x80100031).
    case serverTooBusy
    /// `SCARD_W_UNSUPPORTED_CARD` (0x80100065).
    case unsupportedCard
    /// `SCARD_W_UNRESPONSIVE_CARD` (0x80100066).
    case unresponsiveCard
    /// `SCARD_W_UNPOWERED_CARD` (0x80100067).
    case unpoweredCard
    /// `SCARD_W_RESET_CARD` (0x80100068): the card was reset during the exchange.
    case resetCard
    /// `SCARD_W_REMOVED_CARD` (0x80100069): the card left the reader during the exchange.
    case removedCard
    /// `SCARD_W_SECURITY_VIOLATION` (0x8010006A): refused, on Linux usually by polkit.
    case securityViolation
    /// `SCARD_W_WRONG_CHV` (0x8010006B).
    case wrongCHV
    /// `SCARD_W_CHV_BLOCKED` (0x8010006C).
    case chvBlocked
    /// `SCARD_W_EOF` (0x8010006D).
    case endOfFile
    /// `SCARD_W_CANCELLED_BY_USER` (0x8010006E).
    case cancelledByUser
    /// `SCARD_W_CARD_NOT_AUTHENTICATED` (0x8010006F).
    case cardNotAuthenticated
    /// A code that is not in pcsc-lite's table, kept as the 32-bit value received.
    case unknown(UInt32)

    /// Every named case, in code order (``unexpected`` before ``unsupportedFeature``).
    public static let allNamed: [PCSCError] = table.map(\.error)

    /// Decodes a return code. Returns `nil` for `SCARD_S_SUCCESS`.
    ///
    /// - Parameter returnCode: the value a PC/SC call returned; bits above the low 32
    ///   (sign extension of the 64-bit `LONG` on Linux) are ignored.
    public init?(returnCode: Int) {
        self.init(code32: UInt32(truncatingIfNeeded: returnCode))
    }

    /// Decodes a 32-bit return code. Returns `nil` for `SCARD_S_SUCCESS` (0).
    ///
    /// - Parameter code32: the return code as a 32-bit value.
    public init?(code32: UInt32) {
        if code32 == 0 { return nil }
        if let entry = Self.byCode[code32] {
            self = entry
        } else {
            self = .unknown(code32)
        }
    }

    /// Looks an error up by its pcsc-lite name, such as `"SCARD_W_REMOVED_CARD"`.
    ///
    /// - Parameter name: the `SCARD_*` macro name.
    public init?(name: String) {
        guard let entry = Self.table.first(where: { $0.name == name }) else { return nil }
        self = entry.error
    }

    /// The 32-bit code, as pcsc-lite defines it.
    public var code: UInt32 {
        if case .unknown(let code) = self { return code }
        return entry.code
    }

    /// The pcsc-lite macro name, such as `SCARD_W_REMOVED_CARD`, or
    /// `SCARD_UNKNOWN` followed by the code for a code outside the table.
    public var name: String {
        if case .unknown(let code) = self { return "SCARD_UNKNOWN_" + Self.hex(code) }
        return entry.name
    }

    /// The code as eight hexadecimal digits with a `0x` prefix, such as `0x80100069`.
    public var hexCode: String { Self.hex(code) }

    /// One line saying what went wrong, for a technician.
    public var meaning: String {
        if case .unknown = self { return "A return code pcsc-lite does not define." }
        return entry.meaning
    }

    /// `NAME (0xCODE): meaning`, for logs and error output.
    public var description: String { "\(name) (\(hexCode)): \(meaning)" }

    /// Whether this error means the connection to pcscd is gone, so the context is dead
    /// and a new one must be established (the reader loop's "service lost").
    public var meansServiceLost: Bool {
        switch self {
        case .noService, .communicationError, .serviceStopped, .invalidHandle: true
        default: false
        }
    }

    private static func hex(_ code: UInt32) -> String {
        let digits = String(code, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    private struct Entry: Sendable {
        var error: PCSCError
        var name: String
        var code: UInt32
        var meaning: String
    }

    private var entry: Entry {
        // Linear search of a 60-entry table: only on error paths and in log output.
        Self.table.first(where: { $0.error == self })!
    }

    private static let byCode: [UInt32: PCSCError] = {
        var codes: [UInt32: PCSCError] = [:]
        // Later entries win, so the shared 0x8010001F decodes as unsupportedFeature.
        for entry in table { codes[entry.code] = entry.error }
        return codes
    }()

    private static let table: [Entry] = [
        Entry(error: .internalError, name: "SCARD_F_INTERNAL_ERROR", code: 0x8010_0001,
              meaning: "pcsc-lite found an internal inconsistency."),
        Entry(error: .cancelled, name: "SCARD_E_CANCELLED", code: 0x8010_0002,
              meaning: "The call was ended by SCardCancel."),
        Entry(error: .invalidHandle, name: "SCARD_E_INVALID_HANDLE", code: 0x8010_0003,
              meaning: "The context or card handle is not (or no longer) valid, e.g. after pcscd restarted."),
        Entry(error: .invalidParameter, name: "SCARD_E_INVALID_PARAMETER", code: 0x8010_0004,
              meaning: "A parameter passed to PC/SC could not be interpreted."),
        Entry(error: .invalidTarget, name: "SCARD_E_INVALID_TARGET", code: 0x8010_0005,
              meaning: "Registry startup information is missing or invalid."),
        Entry(error: .noMemory, name: "SCARD_E_NO_MEMORY", code: 0x8010_0006,
              meaning: "Not enough memory to complete the command."),
        Entry(error: .waitedTooLong, name: "SCARD_F_WAITED_TOO_LONG", code: 0x8010_0007,
              meaning: "An internal timer of pcsc-lite expired."),
        Entry(error: .insufficientBuffer, name: "SCARD_E_INSUFFICIENT_BUFFER", code: 0x8010_0008,
              meaning: "The buffer for the returned data is too small."),
        Entry(error: .unknownReader, name: "SCARD_E_UNKNOWN_READER", code: 0x8010_0009,
              meaning: "No reader by that name: it was unplugged or renamed."),
        Entry(error: .timeout, name: "SCARD_E_TIMEOUT", code: 0x8010_000A,
              meaning: "The timeout given to the call expired."),
        Entry(error: .sharingViolation, name: "SCARD_E_SHARING_VIOLATION", code: 0x8010_000B,
              meaning: "Another program holds the card exclusively."),
        Entry(error: .noSmartCard, name: "SCARD_E_NO_SMARTCARD", code: 0x8010_000C,
              meaning: "No card is on the reader."),
        Entry(error: .unknownCard, name: "SCARD_E_UNKNOWN_CARD", code: 0x8010_000D,
              meaning: "The card name is not recognised."),
        Entry(error: .cantDispose, name: "SCARD_E_CANT_DISPOSE", code: 0x8010_000E,
              meaning: "The card could not be disposed of as requested."),
        Entry(error: .protocolMismatch, name: "SCARD_E_PROTO_MISMATCH", code: 0x8010_000F,
              meaning: "The requested protocols do not match the card's protocol."),
        Entry(error: .notReady, name: "SCARD_E_NOT_READY", code: 0x8010_0010,
              meaning: "The reader or card is not ready for commands."),
        Entry(error: .invalidValue, name: "SCARD_E_INVALID_VALUE", code: 0x8010_0011,
              meaning: "A parameter value could not be interpreted."),
        Entry(error: .systemCancelled, name: "SCARD_E_SYSTEM_CANCELLED", code: 0x8010_0012,
              meaning: "The system cancelled the call, e.g. at shutdown."),
        Entry(error: .communicationError, name: "SCARD_F_COMM_ERROR", code: 0x8010_0013,
              meaning: "The connection to pcscd broke, e.g. pcscd was stopped or killed."),
        Entry(error: .unknownError, name: "SCARD_F_UNKNOWN_ERROR", code: 0x8010_0014,
              meaning: "pcsc-lite reported an internal error of unknown cause."),
        Entry(error: .invalidATR, name: "SCARD_E_INVALID_ATR", code: 0x8010_0015,
              meaning: "An ATR string is not valid."),
        Entry(error: .notTransacted, name: "SCARD_E_NOT_TRANSACTED", code: 0x8010_0016,
              meaning: "Ending a transaction that was never begun."),
        Entry(error: .readerUnavailable, name: "SCARD_E_READER_UNAVAILABLE", code: 0x8010_0017,
              meaning: "The reader is not available: unplugged, or its driver failed."),
        Entry(error: .shutdown, name: "SCARD_P_SHUTDOWN", code: 0x8010_0018,
              meaning: "The call was aborted because pcscd is exiting."),
        Entry(error: .pciTooSmall, name: "SCARD_E_PCI_TOO_SMALL", code: 0x8010_0019,
              meaning: "The receive PCI buffer is too small."),
        Entry(error: .readerUnsupported, name: "SCARD_E_READER_UNSUPPORTED", code: 0x8010_001A,
              meaning: "The reader driver does not meet the minimal requirements."),
        Entry(error: .duplicateReader, name: "SCARD_E_DUPLICATE_READER", code: 0x8010_001B,
              meaning: "The reader driver did not produce a unique reader name."),
        Entry(error: .cardUnsupported, name: "SCARD_E_CARD_UNSUPPORTED", code: 0x8010_001C,
              meaning: "The card does not meet the minimal requirements."),
        Entry(error: .noService, name: "SCARD_E_NO_SERVICE", code: 0x8010_001D,
              meaning: "pcscd is not running (or its socket /run/pcscd/pcscd.comm is unreachable)."),
        Entry(error: .serviceStopped, name: "SCARD_E_SERVICE_STOPPED", code: 0x8010_001E,
              meaning: "pcscd has shut down."),
        Entry(error: .unexpected, name: "SCARD_E_UNEXPECTED", code: 0x8010_001F,
              meaning: "An unexpected card error occurred (same code as SCARD_E_UNSUPPORTED_FEATURE)."),
        Entry(error: .unsupportedFeature, name: "SCARD_E_UNSUPPORTED_FEATURE", code: 0x8010_001F,
              meaning: "The reader or card does not support the requested feature."),
        Entry(error: .iccInstallation, name: "SCARD_E_ICC_INSTALLATION", code: 0x8010_0020,
              meaning: "No primary provider can be found for the card."),
        Entry(error: .iccCreateOrder, name: "SCARD_E_ICC_CREATEORDER", code: 0x8010_0021,
              meaning: "The requested order of object creation is not supported."),
        Entry(error: .directoryNotFound, name: "SCARD_E_DIR_NOT_FOUND", code: 0x8010_0023,
              meaning: "The directory does not exist on the card."),
        Entry(error: .fileNotFound, name: "SCARD_E_FILE_NOT_FOUND", code: 0x8010_0024,
              meaning: "The file does not exist on the card."),
        Entry(error: .noDirectory, name: "SCARD_E_NO_DIR", code: 0x8010_0025,
              meaning: "The path is not a directory on the card."),
        Entry(error: .noFile, name: "SCARD_E_NO_FILE", code: 0x8010_0026,
              meaning: "The path is not a file on the card."),
        Entry(error: .noAccess, name: "SCARD_E_NO_ACCESS", code: 0x8010_0027,
              meaning: "Access to the file is denied."),
        Entry(error: .writeTooMany, name: "SCARD_E_WRITE_TOO_MANY", code: 0x8010_0028,
              meaning: "The card does not have enough memory to store the data."),
        Entry(error: .badSeek, name: "SCARD_E_BAD_SEEK", code: 0x8010_0029,
              meaning: "Setting the card's file pointer failed."),
        Entry(error: .invalidCHV, name: "SCARD_E_INVALID_CHV", code: 0x8010_002A,
              meaning: "The PIN is incorrect."),
        Entry(error: .unknownResourceManager, name: "SCARD_E_UNKNOWN_RES_MNG", code: 0x8010_002B,
              meaning: "A layered component returned an unrecognised error."),
        Entry(error: .noSuchCertificate, name: "SCARD_E_NO_SUCH_CERTIFICATE", code: 0x8010_002C,
              meaning: "The requested certificate does not exist."),
        Entry(error: .certificateUnavailable, name: "SCARD_E_CERTIFICATE_UNAVAILABLE", code: 0x8010_002D,
              meaning: "The requested certificate could not be obtained."),
        Entry(error: .noReadersAvailable, name: "SCARD_E_NO_READERS_AVAILABLE", code: 0x8010_002E,
              meaning: "pcscd knows no reader: none is plugged in or configured."),
        Entry(error: .communicationDataLost, name: "SCARD_E_COMM_DATA_LOST", code: 0x8010_002F,
              meaning: "Communication with the card failed; retry."),
        Entry(error: .noKeyContainer, name: "SCARD_E_NO_KEY_CONTAINER", code: 0x8010_0030,
              meaning: "The requested key container does not exist on the card."),
        Entry(error: .serverTooBusy, name: "SCARD_E_SERVER_TOO_BUSY", code: 0x8010_0031,
              meaning: "pcscd is too busy to complete the call."),
        Entry(error: .unsupportedCard, name: "SCARD_W_UNSUPPORTED_CARD", code: 0x8010_0065,
              meaning: "The reader cannot talk to the card (ATR configuration conflict)."),
        Entry(error: .unresponsiveCard, name: "SCARD_W_UNRESPONSIVE_CARD", code: 0x8010_0066,
              meaning: "The card does not answer a reset (mute card)."),
        Entry(error: .unpoweredCard, name: "SCARD_W_UNPOWERED_CARD", code: 0x8010_0067,
              meaning: "The card has lost power; communication is impossible."),
        Entry(error: .resetCard, name: "SCARD_W_RESET_CARD", code: 0x8010_0068,
              meaning: "The card was reset; the exchange must start again."),
        Entry(error: .removedCard, name: "SCARD_W_REMOVED_CARD", code: 0x8010_0069,
              meaning: "The card left the reader during the exchange."),
        Entry(error: .securityViolation, name: "SCARD_W_SECURITY_VIOLATION", code: 0x8010_006A,
              meaning: "Access denied, on Linux usually by polkit (org.debian.pcsc-lite.access_pcsc)."),
        Entry(error: .wrongCHV, name: "SCARD_W_WRONG_CHV", code: 0x8010_006B,
              meaning: "The wrong PIN was presented."),
        Entry(error: .chvBlocked, name: "SCARD_W_CHV_BLOCKED", code: 0x8010_006C,
              meaning: "The PIN is blocked after too many wrong attempts."),
        Entry(error: .endOfFile, name: "SCARD_W_EOF", code: 0x8010_006D,
              meaning: "The end of the card file has been reached."),
        Entry(error: .cancelledByUser, name: "SCARD_W_CANCELLED_BY_USER", code: 0x8010_006E,
              meaning: "The user cancelled a card selection dialog."),
        Entry(error: .cardNotAuthenticated, name: "SCARD_W_CARD_NOT_AUTHENTICATED", code: 0x8010_006F,
              meaning: "No PIN was presented to the card."),
    ]
}

/// Throws the ``PCSCError`` for a PC/SC return code; returns for `SCARD_S_SUCCESS`.
@inline(__always)
func check(_ returnCode: Int) throws(PCSCError) {
    if let error = PCSCError(returnCode: returnCode) { throw error }
}

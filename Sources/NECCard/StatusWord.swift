/// The two status bytes SW1 SW2 that end every response APDU, with a name and a meaning
/// for traces and checks. Covers ISO 7816-4 status words and the DESFire native `91 xx`
/// family.
public struct StatusWord: Hashable, Sendable, CustomStringConvertible {
    /// The first status byte.
    public let sw1: UInt8
    /// The second status byte.
    public let sw2: UInt8

    /// A status word from its two bytes.
    public init(_ sw1: UInt8, _ sw2: UInt8) {
        self.sw1 = sw1
        self.sw2 = sw2
    }

    /// A status word from its 16-bit value, SW1 in the high byte: `0x9100`.
    public init(_ value: UInt16) {
        self.init(UInt8(value >> 8), UInt8(value & 0xFF))
    }

    /// The status word ending `response`, or nil when the response has fewer than two bytes.
    public init?(response: [UInt8]) {
        guard response.count >= 2 else { return nil }
        self.init(response[response.count - 2], response[response.count - 1])
    }

    /// SW1 in the high byte, SW2 in the low byte.
    public var value: UInt16 { UInt16(sw1) << 8 | UInt16(sw2) }

    /// `"91 A0"`.
    public var hex: String { Hex.spaced([sw1, sw2]) }

    /// `"91 A0 APPLICATION_NOT_FOUND"`.
    public var description: String { "\(hex) \(name)" }

    // MARK: Well-known values

    /// ISO 7816: normal processing.
    public static let success = StatusWord(0x90, 0x00)
    /// DESFire: OPERATION_OK.
    public static let desfireOK = StatusWord(0x91, 0x00)
    /// DESFire: ADDITIONAL_FRAME, send `90 AF 00 00 00` for the rest.
    public static let desfireAdditionalFrame = StatusWord(0x91, 0xAF)
    /// DESFire: APPLICATION_NOT_FOUND.
    public static let desfireApplicationNotFound = StatusWord(0x91, 0xA0)
    /// DESFire: FILE_NOT_FOUND.
    public static let desfireFileNotFound = StatusWord(0x91, 0xF0)
    /// DESFire: BOUNDARY_ERROR (read beyond the end of a file).
    public static let desfireBoundaryError = StatusWord(0x91, 0xBE)
    /// DESFire: PERMISSION_DENIED.
    public static let desfirePermissionDenied = StatusWord(0x91, 0x9D)
    /// DESFire: AUTHENTICATION_ERROR.
    public static let desfireAuthenticationError = StatusWord(0x91, 0xAE)
    /// ISO 7816: file or application not found.
    public static let fileNotFound = StatusWord(0x6A, 0x82)
    /// ISO 7816: instruction not supported (a card that does not speak DESFire native).
    public static let insNotSupported = StatusWord(0x6D, 0x00)
    /// ISO 7816: class not supported (a card that does not know CLA `90`).
    public static let claNotSupported = StatusWord(0x6E, 0x00)
    /// ISO 7816: wrong length.
    public static let wrongLength = StatusWord(0x67, 0x00)
    /// ISO 7816: security status not satisfied.
    public static let securityStatusNotSatisfied = StatusWord(0x69, 0x82)
    /// ISO 7816: function not supported (what readers answer GET DATA with on contact cards).
    public static let functionNotSupported = StatusWord(0x6A, 0x81)

    /// True for `90 00` and DESFire `91 00`.
    public var isSuccess: Bool { self == .success || self == .desfireOK }

    /// True for any DESFire native status (`91 xx`).
    public var isDESFire: Bool { sw1 == 0x91 }

    /// True for an ISO 7816-4 warning or error status (`62 xx` .. `6F xx`): a well-formed
    /// "no" from a card that speaks ISO 7816.
    public var isISOError: Bool { (0x62...0x6F).contains(sw1) }

    /// A short, stable, searchable name: `OPERATION_OK`, `APPLICATION_NOT_FOUND`,
    /// `FILE_NOT_FOUND`, `INS_NOT_SUPPORTED`, ... or `UNKNOWN`.
    public var name: String { entry.name }

    /// What it means, in words a technician can use.
    public var meaning: String { entry.meaning }

    private var entry: (name: String, meaning: String) {
        if sw1 == 0x91 { return StatusWord.desfire(sw2) }
        switch (sw1, sw2) {
        case (0x90, 0x00): return ("SUCCESS", "ok")
        case (0x61, _): return ("BYTES_REMAINING", "\(sw2 == 0 ? 256 : Int(sw2)) more bytes available (GET RESPONSE)")
        case (0x62, 0x81): return ("DATA_CORRUPTED", "part of the returned data may be corrupted")
        case (0x62, 0x82): return ("END_OF_FILE", "end of data reached before Le bytes")
        case (0x62, 0x83): return ("FILE_DEACTIVATED", "selected file or application is deactivated")
        case (0x62, _): return ("WARNING", "warning, memory unchanged")
        case (0x63, let x) where x & 0xF0 == 0xC0: return ("COUNTER", "verification failed, \(x & 0x0F) tries left")
        case (0x63, _): return ("WARNING_CHANGED", "warning, memory changed")
        case (0x64, _): return ("EXECUTION_ERROR", "execution error, memory unchanged")
        case (0x65, 0x81): return ("MEMORY_FAILURE", "memory failure")
        case (0x65, _): return ("EXECUTION_ERROR_CHANGED", "execution error, memory changed")
        case (0x67, 0x00): return ("WRONG_LENGTH", "wrong length")
        case (0x68, 0x81): return ("LOGICAL_CHANNEL_NOT_SUPPORTED", "logical channel not supported")
        case (0x68, 0x82): return ("SECURE_MESSAGING_NOT_SUPPORTED", "secure messaging not supported")
        case (0x68, _): return ("CLA_FUNCTION_NOT_SUPPORTED", "function in CLA not supported")
        case (0x69, 0x81): return ("INCOMPATIBLE_FILE_STRUCTURE", "command incompatible with file structure")
        case (0x69, 0x82): return ("SECURITY_STATUS_NOT_SATISFIED", "security status not satisfied")
        case (0x69, 0x83): return ("AUTHENTICATION_BLOCKED", "authentication method blocked")
        case (0x69, 0x84): return ("REFERENCE_DATA_UNUSABLE", "reference data not usable")
        case (0x69, 0x85): return ("CONDITIONS_NOT_SATISFIED", "conditions of use not satisfied")
        case (0x69, 0x86): return ("COMMAND_NOT_ALLOWED", "command not allowed (no current file)")
        case (0x69, _): return ("COMMAND_NOT_ALLOWED", "command not allowed")
        case (0x6A, 0x80): return ("INCORRECT_DATA", "incorrect parameters in the data field")
        case (0x6A, 0x81): return ("FUNCTION_NOT_SUPPORTED", "function not supported")
        case (0x6A, 0x82): return ("FILE_NOT_FOUND", "file or application not found")
        case (0x6A, 0x83): return ("RECORD_NOT_FOUND", "record not found")
        case (0x6A, 0x84): return ("NOT_ENOUGH_MEMORY", "not enough memory space in the file")
        case (0x6A, 0x86): return ("INCORRECT_P1P2", "incorrect parameters P1-P2")
        case (0x6A, 0x88): return ("REFERENCED_DATA_NOT_FOUND", "referenced data not found")
        case (0x6A, _): return ("WRONG_PARAMETERS", "wrong parameters")
        case (0x6B, 0x00): return ("WRONG_P1P2", "wrong parameters P1-P2")
        case (0x6C, _): return ("WRONG_LE", "wrong Le: \(sw2 == 0 ? 256 : Int(sw2)) bytes available")
        case (0x6D, 0x00): return ("INS_NOT_SUPPORTED", "instruction not supported")
        case (0x6E, 0x00): return ("CLA_NOT_SUPPORTED", "class not supported")
        case (0x6F, 0x00): return ("NO_PRECISE_DIAGNOSIS", "no precise diagnosis")
        default: return ("UNKNOWN", "unknown status")
        }
    }

    /// DESFire native status codes (the SW2 of `91 xx`), from the DESFire EV1 datasheet.
    private static func desfire(_ code: UInt8) -> (name: String, meaning: String) {
        switch code {
        case 0x00: ("OPERATION_OK", "ok")
        case 0x0C: ("NO_CHANGES", "no changes done to backup files")
        case 0x0E: ("OUT_OF_EEPROM_ERROR", "not enough memory on the card")
        case 0x1C: ("ILLEGAL_COMMAND_CODE", "command code not supported")
        case 0x1E: ("INTEGRITY_ERROR", "CRC or MAC does not match data")
        case 0x40: ("NO_SUCH_KEY", "invalid key number")
        case 0x7E: ("LENGTH_ERROR", "length of command string invalid")
        case 0x9D: ("PERMISSION_DENIED", "permission denied")
        case 0x9E: ("PARAMETER_ERROR", "value of a parameter invalid")
        case 0xA0: ("APPLICATION_NOT_FOUND", "application not found")
        case 0xA1: ("APPL_INTEGRITY_ERROR", "unrecoverable error within the application")
        case 0xAE: ("AUTHENTICATION_ERROR", "authentication error")
        case 0xAF: ("ADDITIONAL_FRAME", "more data follows")
        case 0xBE: ("BOUNDARY_ERROR", "read or write beyond the end of the file")
        case 0xC1: ("PICC_INTEGRITY_ERROR", "unrecoverable error within the card")
        case 0xCA: ("COMMAND_ABORTED", "previous command was not fully completed")
        case 0xCD: ("PICC_DISABLED_ERROR", "card was disabled by an unrecoverable error")
        case 0xCE: ("COUNT_ERROR", "too many applications")
        case 0xDE: ("DUPLICATE_ERROR", "application or file already exists")
        case 0xEE: ("EEPROM_ERROR", "could not complete a memory operation")
        case 0xF0: ("FILE_NOT_FOUND", "file not found")
        case 0xF1: ("FILE_INTEGRITY_ERROR", "unrecoverable error within the file")
        default: ("UNKNOWN", "unknown DESFire status")
        }
    }
}

/// An ITSO Shell Reference Number: IIN `633597` (6 digits), OID (4), ISSN (7), and a
/// Luhn check digit (1). The primary key of entitlement lists and hotlists.
public struct ISRN: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// ITSO's issuer identification number; every ITSO card starts with it.
    public static let iin = "633597"

    /// The 18 digits, no spaces.
    public let digits: String

    /// Why a text is not an ISRN.
    public enum Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        /// Not 18 digits once spaces are removed.
        case wrongLength(Int)
        /// A character other than a digit or a space, at this 0-based position.
        case notADigit(position: Int)
        /// Does not start with 633597.
        case wrongIIN(String)
        /// The last digit is not the Luhn check digit of the 17 before it.
        case badCheckDigit(expected: Int, found: Int)

        public var description: String {
            switch self {
            case .wrongLength(let n): "ISRN must have 18 digits, not \(n)"
            case .notADigit(let p): "ISRN has a character that is not a digit at position \(p + 1)"
            case .wrongIIN(let iin): "ISRN must start with 633597, not \(iin)"
            case .badCheckDigit(let e, let f): "ISRN check digit is \(f), Luhn says \(e)"
            }
        }
    }

    /// Parses and validates an ISRN written with or without spaces (`633597 0130 1234 5674`).
    /// - Parameter text: the ISRN as printed or typed.
    /// - Throws: `ISRN.Invalid` naming the first problem found.
    public init(_ text: some StringProtocol) throws(Invalid) {
        var digits: [UInt8] = []
        digits.reserveCapacity(18)
        var position = 0
        for ch in text.utf8 {
            defer { position += 1 }
            if ch == UInt8(ascii: " ") { continue }
            guard ch >= 48, ch <= 57 else { throw .notADigit(position: position) }
            digits.append(ch - 48)
        }
        guard digits.count == 18 else { throw .wrongLength(digits.count) }
        let string = String(decoding: digits.map { $0 + 48 }, as: UTF8.self)
        guard string.hasPrefix(ISRN.iin) else { throw .wrongIIN(String(string.prefix(6))) }
        let expected = Luhn.checkDigit(for: digits.dropLast())
        guard expected == digits[17] else {
            throw .badCheckDigit(expected: Int(expected), found: Int(digits[17]))
        }
        self.digits = string
    }

    /// Builds an ISRN from digits already known to be well formed, without the Luhn check.
    /// Used by decoders that report a bad check digit as a separate check.
    public init(unchecked digits: String) {
        self.digits = digits
    }

    /// The 4-digit operator ID (OID), digits 7-10.
    public var oid: String { String(digits.dropFirst(6).prefix(4)) }
    /// The 7-digit ITSO shell serial number (ISSN), digits 11-17.
    public var issn: String { String(digits.dropFirst(10).prefix(7)) }
    /// The Luhn check digit, the last digit.
    public var checkDigit: Int { Int(digits.utf8.last! - 48) }

    /// True when the last digit is the Luhn check digit of the rest.
    public var hasValidCheckDigit: Bool { Luhn.isValid(digits) }

    /// Printed the way cards print it: `633597 0130 1234 5674`.
    public var grouped: String {
        let d = Array(digits)
        guard d.count == 18 else { return digits }
        return "\(String(d[0..<6])) \(String(d[6..<10])) \(String(d[10..<14])) \(String(d[14..<18]))"
    }

    /// For logs: the IIN and the last four digits only, `633597******5674`.
    public var masked: String { ISRN.mask(digits) }

    /// Masks any card number or reference for logs: keeps the first six and last four
    /// characters of values of 12 or more (`633597******5674`), and only the last two of short ones.
    public static func mask(_ value: String) -> String {
        let chars = Array(value)
        if chars.count >= 12 {
            // A fixed run of six stars, so the mask does not tell the length either.
            return String(chars.prefix(6)) + "******" + String(chars.suffix(4))
        }
        if chars.count <= 2 { return String(repeating: "*", count: chars.count) }
        return String(repeating: "*", count: chars.count - 2) + String(chars.suffix(2))
    }

    public var description: String { digits }

    public static func < (a: ISRN, b: ISRN) -> Bool { a.digits < b.digits }
}

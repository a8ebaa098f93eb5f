/// The Luhn check digit of ISO/IEC 7812-1, used as the ISRN's last digit.
public enum Luhn {
    /// The check digit (0-9) for `digits`, which must all be 0-9.
    public static func checkDigit(for digits: some Collection<UInt8>) -> UInt8 {
        var sum = 0
        // Walking from the right, the digit next to the check digit is doubled.
        var double = true
        for d in digits.reversed() {
            var v = Int(d)
            if double {
                v *= 2
                if v > 9 { v -= 9 }
            }
            sum += v
            double.toggle()
        }
        return UInt8((10 - sum % 10) % 10)
    }

    /// True when the last digit of `digits` is the Luhn check digit of the rest.
    public static func isValid(_ digits: some BidirectionalCollection<UInt8>) -> Bool {
        guard let last = digits.last, digits.count >= 2 else { return false }
        return checkDigit(for: digits.dropLast()) == last
    }

    /// True when `text` is all ASCII digits and passes the Luhn check.
    public static func isValid(_ text: String) -> Bool {
        var digits: [UInt8] = []
        for ch in text.utf8 {
            guard ch >= 48, ch <= 57 else { return false }
            digits.append(ch - 48)
        }
        return isValid(digits)
    }
}

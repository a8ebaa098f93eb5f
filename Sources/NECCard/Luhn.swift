/// The Luhn check digit of ISO/IEC 7812-1, used as the ISRN's last digit.
public enum Luhn {
    /// The check digit (0-9) for `digits`, which must all be 0-9.
    public static func checkDigit(for digits: some Collection<UInt8>) -> UInt8 {
        // Walking from the right, the digit next to the check digit is doubled.
        let sum = weightedSum(digits.reversed(), doublingFirst: true)
        return UInt8((10 - sum % 10) % 10)
    }

    /// True when the last digit of `digits` is the Luhn check digit of the rest.
    public static func isValid(_ digits: some BidirectionalCollection<UInt8>) -> Bool {
        guard let last = digits.last, digits.count >= 2 else { return false }
        return checkDigit(for: digits.dropLast()) == last
    }

    /// True when `text` is all ASCII digits and passes the Luhn check.
    public static func isValid(_ text: String) -> Bool { isValid(ascii: text.utf8) }

    /// True when `ascii` holds only the ASCII digits `0`-`9`, at least two, and passes
    /// the Luhn check. Reads the bytes in place, without copying them (a list import
    /// checks every row).
    public static func isValid(ascii: some BidirectionalCollection<UInt8>) -> Bool {
        guard ascii.count >= 2, ascii.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
        // With the check digit included, the digit next to it is the first doubled one.
        return weightedSum(ascii.reversed().lazy.map { $0 - 48 }, doublingFirst: false) % 10 == 0
    }

    /// The Luhn sum of `digits` (0-9, rightmost first), every other one doubled and
    /// reduced to one digit, starting with the first when `doublingFirst`.
    private static func weightedSum(_ digits: some Sequence<UInt8>, doublingFirst: Bool) -> Int {
        var sum = 0
        var double = doublingFirst
        for d in digits {
            var v = Int(d)
            if double {
                v *= 2
                if v > 9 { v -= 9 }
            }
            sum += v
            double.toggle()
        }
        return sum
    }
}

/// Hex helpers used for UIDs, ATRs, APDU traces and digests.
public enum Hex {
    /// Upper-case hex without separators: `[0x04, 0xA1]` -> `"04A1"`.
    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        render(bytes, separator: false, lowercase: false)
    }

    /// Upper-case hex with one space between bytes: `"04 A1"`.
    public static func spaced(_ bytes: some Sequence<UInt8>) -> String {
        render(bytes, separator: true, lowercase: false)
    }

    /// Lower-case hex without separators, as digests are written: `[0x04, 0xA1]` -> `"04a1"`.
    public static func lowercase(_ bytes: some Sequence<UInt8>) -> String {
        render(bytes, separator: false, lowercase: true)
    }

    /// Parses hex digits, ignoring spaces, colons and dashes. Returns nil on any other
    /// character or an odd digit count.
    public static func bytes(_ text: some StringProtocol) -> [UInt8]? {
        var out: [UInt8] = []
        var high: UInt8? = nil
        for ch in text.utf8 {
            let v: UInt8
            switch ch {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = ch - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = ch - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = ch - UInt8(ascii: "A") + 10
            case UInt8(ascii: " "), UInt8(ascii: ":"), UInt8(ascii: "-"): continue
            default: return nil
            }
            if let h = high {
                out.append(h << 4 | v)
                high = nil
            } else {
                high = v
            }
        }
        return high == nil ? out : nil
    }

    private static func render(_ bytes: some Sequence<UInt8>, separator: Bool, lowercase: Bool) -> String {
        // 10 to 15 plus this is "A" to "F" (55) or "a" to "f" (87).
        let letters: UInt8 = lowercase ? 87 : 55
        func digit(_ v: UInt8) -> Character { Character(Unicode.Scalar(v < 10 ? v + 48 : v + letters)) }
        var out = ""
        for b in bytes {
            if separator && !out.isEmpty { out.append(" ") }
            out.append(digit(b >> 4))
            out.append(digit(b & 0x0F))
        }
        return out
    }
}

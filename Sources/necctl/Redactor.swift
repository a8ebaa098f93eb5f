import Foundation

/// Masks what must not leave the school in a bug report: card numbers (ISRNs), chip UIDs,
/// pupil references and keys. Every text `necctl debuginfo` collects goes through it.
///
/// It errs on the side of masking: a masked hex string that was not a UID costs a
/// developer a question; an unmasked card number costs a child their privacy.
struct Redactor {
    /// One pattern and what each match becomes.
    private struct Rule {
        let pattern: NSRegularExpression
        let replace: (_ match: NSTextCheckingResult, _ text: NSString) -> String
    }

    private let rules: [Rule]

    init() {
        func regex(_ pattern: String) -> NSRegularExpression {
            // The patterns are constants; a typo in one is a programming error caught by every test run.
            try! NSRegularExpression(pattern: pattern, options: [])
        }
        rules = [
            // Private keys, whole files of them: nothing of them is kept.
            Rule(pattern: regex(#"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"#)) { _, _ in
                "-----[private key removed]-----"
            },
            // trusted_list_keys = ["...", "..."], across lines: every string in the array.
            Rule(pattern: regex(#"(?m)^(\s*trusted_list_keys\s*=\s*)\[[^\]]*\]?"#)) { match, text in
                let prefix = text.substring(with: match.range(at: 1))
                let body = text.substring(with: match.range).dropFirst(prefix.count)
                let count = body.components(separatedBy: "\"").count / 2
                let masked = Array(repeating: "\"[key removed]\"", count: count).joined(separator: ", ")
                return prefix + "[" + masked + "]"
            },
            // A 32-byte value in base64 (Ed25519 keys and seeds, signers): 43 characters and '='.
            Rule(pattern: regex(#"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])"#)) { _, _ in
                "[key removed]"
            },
            // ISRNs: 633597 and 12 digits, plain or grouped 6-4-4-4 as cards print them.
            Rule(pattern: regex(#"(?<![0-9])633597[ -]?([0-9]{4})[ -]?([0-9]{4})[ -]?([0-9]{4})(?![0-9])"#)) { match, text in
                "633597******" + text.substring(with: match.range(at: 3))
            },
            // "pupil":"..." in JSON (events, lookups): the value, whatever it is.
            Rule(pattern: regex(#"("pupil"\s*:\s*)"(?:[^"\\]|\\.)*""#)) { match, text in
                text.substring(with: match.range(at: 1)) + "\"[pupil]\""
            },
            // pupil=..., pupil: ..., `pupil     TEST-0001` (necctl lookup): the next word.
            Rule(pattern: regex(#"(?i)(\bpupils?\b(?:[ \t]*[:=][ \t]*|[ \t]+))(?!\[pupil\])("?)[^\s",;)\]}]+"#)) { match, text in
                text.substring(with: match.range(at: 1)) + text.substring(with: match.range(at: 2)) + "[pupil]"
            },
            // UIDs after uid/card context: 4, 7 or 10 bytes, plain or in spaced or colon pairs.
            Rule(pattern: regex(
                #"(?i)(\b(?:uid|card|chip)\w*\b[^0-9A-Fa-f\n]{0,16}?)((?:[0-9A-F]{2}[ :]?){9}[0-9A-F]{2}|(?:[0-9A-F]{2}[ :]?){6}[0-9A-F]{2}|(?:[0-9A-F]{2}[ :]?){3}[0-9A-F]{2})(?![0-9A-Fa-f])"#
            )) { match, text in
                let uid = text.substring(with: match.range(at: 2))
                let hex = uid.filter(\.isHexDigit)
                // The first byte names the chip's maker (04 is NXP), worth keeping; the rest goes.
                return text.substring(with: match.range(at: 1)) + String(hex.prefix(2)) + String(repeating: "*", count: hex.count - 2)
            },
        ]
    }

    /// `text` with every card number, UID, pupil reference and key masked.
    func redact(_ text: String) -> String {
        var result = text
        for rule in rules {
            result = Self.apply(rule, to: result)
        }
        return result
    }

    /// A CSV entitlement list with its `pupil` column masked, as well as everything ``redact(_:)`` masks.
    func redactCSV(_ text: String) -> String {
        // Council exports end lines with CRLF, which Swift counts as one Character and so
        // never splits on "\n": work on LF lines and put the CRs back afterwards.
        let crlf = text.contains("\r\n")
        var lines = (crlf ? text.replacingOccurrences(of: "\r\n", with: "\n") : text).components(separatedBy: "\n")
        guard let headerIndex = lines.firstIndex(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
            return redact(text)
        }
        let header = lines[headerIndex].split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"\r\u{FEFF}")).lowercased() }
        let pupilColumn = header.firstIndex(of: "pupil")
        // A UID in the card column has no "uid" beside it for the text rules to see.
        let cardColumn = header.firstIndex(of: "card")
        if pupilColumn != nil || cardColumn != nil {
            for index in lines.indices where index > headerIndex && !lines[index].isEmpty {
                var fields = Self.csvFields(lines[index])
                if let column = pupilColumn, column < fields.count { fields[column] = "[pupil]" }
                if let column = cardColumn, column < fields.count {
                    let value = fields[column].filter { $0.isLetter || $0.isNumber }
                    fields[column] = value.hasPrefix("633597") && value.count == 18
                        ? "633597******" + String(value.suffix(4))
                        : String(value.prefix(2)) + String(repeating: "*", count: max(0, value.count - 2))
                }
                lines[index] = fields.joined(separator: ",")
            }
        }
        return redact(lines.joined(separator: crlf ? "\r\n" : "\n"))
    }

    /// Splits one CSV line into fields, keeping each field's quotes so the line can be joined again.
    private static func csvFields(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        for character in line {
            if character == "\"" { quoted.toggle() }
            if character == "," && !quoted {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }

    private static func apply(_ rule: Rule, to text: String) -> String {
        let source = text as NSString
        let matches = rule.pattern.matches(in: text, range: NSRange(location: 0, length: source.length))
        guard !matches.isEmpty else { return text }
        var result = ""
        var position = 0
        for match in matches {
            result += source.substring(with: NSRange(location: position, length: match.range.location - position))
            result += rule.replace(match, source)
            position = match.range.location + match.range.length
        }
        result += source.substring(from: position)
        return result
    }
}

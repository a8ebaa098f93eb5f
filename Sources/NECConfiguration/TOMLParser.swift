// A strict parser for the part of TOML a configuration file needs, with line numbers.
//
// TOMLKit was tried first: its bundled toml++ aborts on an assertion for a typo as small as
// `[=` or `[.]` (debug builds), and it keeps no positions for values. A daemon's
// configuration file is a few dozen lines, so a small parser that refuses everything it
// does not understand, and says on which line, is the better trade.
//
// Supported: comments, `key = value` with bare or quoted keys, basic strings with escapes,
// literal strings, decimal integers, floats (with `inf` and `nan`), booleans, arrays of any
// of these across lines, `[table]` and `[[array table]]` headers. Refused with a clear
// message: dotted keys, inline tables, multi-line strings, dates and times, hex/octal/binary.

/// A TOML value with the line it starts on.
struct TOMLValue: Equatable {
    /// The kinds of value the subset has.
    enum Kind: Equatable {
        case string(String)
        case integer(Int)
        case float(Double)
        case boolean(Bool)
        case array([TOMLValue])
    }

    var kind: Kind
    var line: Int

    /// How error messages name the value's type.
    var typeDescription: String {
        switch kind {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a number with a fraction"
        case .boolean: "a boolean"
        case .array: "an array"
        }
    }

    static func == (lhs: TOMLValue, rhs: TOMLValue) -> Bool {
        switch (lhs.kind, rhs.kind) {
        // NaN is not equal to itself, but the same text parsed twice is the same document.
        case (.float(let a), .float(let b)) where a.isNaN && b.isNaN: lhs.line == rhs.line
        default: lhs.kind == rhs.kind && lhs.line == rhs.line
        }
    }
}

/// `key = value`, with the line of the key.
struct TOMLEntry: Equatable {
    var key: String
    var value: TOMLValue
    var line: Int
}

/// A parsed document, in file order.
struct TOMLDocument: Equatable {
    /// One top-level entry, or one table with the entries under its header.
    enum Item: Equatable {
        case entry(TOMLEntry)
        case table(name: String, line: Int, isArrayElement: Bool, entries: [TOMLEntry])
    }

    var items: [Item] = []
}

/// A syntax error: where, and what was expected.
struct TOMLSyntaxError: Error, Equatable {
    var line: Int
    var column: Int
    var message: String
}

/// The parser: a cursor over UTF-8 bytes that knows its line and column.
struct TOMLParser {
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0
    /// Arrays nested deeper than this are refused rather than recursed into.
    private static let maximumDepth = 32

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Parses a whole document.
    static func parse(_ text: String) throws(TOMLSyntaxError) -> TOMLDocument {
        var parser = TOMLParser(Array(text.utf8))
        return try parser.document()
    }

    // MARK: Cursor

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }
    private func peek(_ offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }
    private var column: Int { index - lineStart + 1 }

    private func error(_ message: String) -> TOMLSyntaxError {
        TOMLSyntaxError(line: line, column: column, message: message)
    }

    /// How a byte is shown in a message.
    private func describe(_ byte: UInt8?) -> String {
        guard let byte else { return "end of file" }
        switch byte {
        case UInt8(ascii: "\n"): return "end of line"
        case 0x20...0x7E: return "'\(Character(Unicode.Scalar(byte)))'"
        default: return "byte 0x\(String(byte, radix: 16))"
        }
    }

    private mutating func advance() {
        if current == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        index += 1
    }

    private mutating func skipSpaces() {
        while current == UInt8(ascii: " ") || current == UInt8(ascii: "\t") { advance() }
    }

    /// Skips a comment to the end of its line; control characters in it are refused, as TOML says.
    private mutating func skipComment() throws(TOMLSyntaxError) {
        guard current == UInt8(ascii: "#") else { return }
        while let byte = current, byte != UInt8(ascii: "\n") {
            if byte == UInt8(ascii: "\r") && peek(1) == UInt8(ascii: "\n") { advance(); continue }
            if (byte < 0x20 && byte != UInt8(ascii: "\t")) || byte == 0x7F {
                throw error("control character \(describe(byte)) in comment")
            }
            advance()
        }
    }

    /// After a value or header: spaces, an optional comment, then a line end or the end.
    private mutating func endOfLine() throws(TOMLSyntaxError) {
        skipSpaces()
        try skipComment()
        if current == UInt8(ascii: "\r") && peek(1) == UInt8(ascii: "\n") { advance() }
        guard let byte = current else { return }
        guard byte == UInt8(ascii: "\n") else { throw error("expected end of line, found \(describe(byte))") }
        advance()
    }

    /// Inside arrays: spaces, comments and line breaks in any number.
    private mutating func skipBlank() throws(TOMLSyntaxError) {
        while true {
            skipSpaces()
            try skipComment()
            if current == UInt8(ascii: "\r") && peek(1) == UInt8(ascii: "\n") { advance() }
            guard current == UInt8(ascii: "\n") else { return }
            advance()
        }
    }

    // MARK: Document

    private mutating func document() throws(TOMLSyntaxError) -> TOMLDocument {
        var document = TOMLDocument()
        var topKeys: Set<String> = []
        var tableNames: Set<String> = []
        var arrayTableNames: Set<String> = []
        // The table being filled: its index in items and the keys it has.
        var open: (item: Int, keys: Set<String>)?
        while true {
            try skipBlank()
            guard let byte = current else { break }
            let startLine = line
            if byte == UInt8(ascii: "[") {
                let isArray = peek(1) == UInt8(ascii: "[")
                advance()
                if isArray { advance() }
                skipSpaces()
                let name = try key()
                skipSpaces()
                if current == UInt8(ascii: ".") { throw error("dotted table names are not supported") }
                guard current == UInt8(ascii: "]") else { throw error("expected ']' after table name, found \(describe(current))") }
                advance()
                if isArray {
                    guard current == UInt8(ascii: "]") else { throw error("expected ']]' to close [[\(name)]]") }
                    advance()
                }
                try endOfLine()
                if isArray {
                    if tableNames.contains(name) || topKeys.contains(name) {
                        throw TOMLSyntaxError(line: startLine, column: 1, message: "[[\(name)]] redefines \(name)")
                    }
                    arrayTableNames.insert(name)
                } else {
                    if tableNames.contains(name) || arrayTableNames.contains(name) || topKeys.contains(name) {
                        throw TOMLSyntaxError(line: startLine, column: 1, message: "table [\(name)] defined twice")
                    }
                    tableNames.insert(name)
                }
                document.items.append(.table(name: name, line: startLine, isArrayElement: isArray, entries: []))
                open = (document.items.count - 1, [])
                continue
            }
            let entry = try keyValue()
            if let table = open {
                var keys = table.keys
                guard keys.insert(entry.key).inserted else {
                    throw TOMLSyntaxError(line: entry.line, column: 1, message: "duplicate key \(entry.key)")
                }
                open = (table.item, keys)
                if case .table(let name, let headerLine, let isArray, var entries) = document.items[table.item] {
                    entries.append(entry)
                    document.items[table.item] = .table(
                        name: name, line: headerLine, isArrayElement: isArray, entries: entries)
                }
            } else {
                guard topKeys.insert(entry.key).inserted else {
                    throw TOMLSyntaxError(line: entry.line, column: 1, message: "duplicate key \(entry.key)")
                }
                document.items.append(.entry(entry))
            }
        }
        return document
    }

    private mutating func keyValue() throws(TOMLSyntaxError) -> TOMLEntry {
        let keyLine = line
        let name = try key()
        skipSpaces()
        if current == UInt8(ascii: ".") { throw error("dotted keys are not supported; use a [table] header") }
        guard current == UInt8(ascii: "=") else { throw error("expected '=' after \(name), found \(describe(current))") }
        advance()
        skipSpaces()
        let parsed = try value(depth: 0)
        try endOfLine()
        return TOMLEntry(key: name, value: parsed, line: keyLine)
    }

    /// A bare key (`A-Za-z0-9_-`) or a quoted one.
    private mutating func key() throws(TOMLSyntaxError) -> String {
        switch current {
        case UInt8(ascii: "\""):
            return try basicString()
        case UInt8(ascii: "'"):
            return try literalString()
        default:
            var name: [UInt8] = []
            while let byte = current, Self.isBareKeyByte(byte) {
                name.append(byte)
                advance()
            }
            guard !name.isEmpty else { throw error("expected a key, found \(describe(current))") }
            return String(decoding: name, as: UTF8.self)
        }
    }

    private static func isBareKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default: false
        }
    }

    // MARK: Values

    private mutating func value(depth: Int) throws(TOMLSyntaxError) -> TOMLValue {
        let valueLine = line
        switch current {
        case UInt8(ascii: "\""):
            return TOMLValue(kind: .string(try basicString()), line: valueLine)
        case UInt8(ascii: "'"):
            return TOMLValue(kind: .string(try literalString()), line: valueLine)
        case UInt8(ascii: "["):
            return TOMLValue(kind: .array(try array(depth: depth + 1)), line: valueLine)
        case UInt8(ascii: "{"):
            throw error("inline tables are not supported")
        case nil, UInt8(ascii: "\n"), UInt8(ascii: "#"), UInt8(ascii: "\r"):
            throw error("expected a value, found \(describe(current))")
        default:
            return TOMLValue(kind: try scalarWord(), line: valueLine)
        }
    }

    private mutating func array(depth: Int) throws(TOMLSyntaxError) -> [TOMLValue] {
        guard depth <= Self.maximumDepth else { throw error("arrays nested more than \(Self.maximumDepth) deep") }
        advance()  // [
        var elements: [TOMLValue] = []
        while true {
            try skipBlank()
            if current == UInt8(ascii: "]") {
                advance()
                return elements
            }
            elements.append(try value(depth: depth))
            try skipBlank()
            switch current {
            case UInt8(ascii: ","): advance()
            case UInt8(ascii: "]"): continue
            default: throw error("expected ',' or ']' in array, found \(describe(current))")
            }
        }
    }

    /// `true`, `false`, a number, or an error naming what it looks like.
    private mutating func scalarWord() throws(TOMLSyntaxError) -> TOMLValue.Kind {
        let startColumn = column
        var word: [UInt8] = []
        while let byte = current,
            Self.isBareKeyByte(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: ":")
        {
            word.append(byte)
            advance()
        }
        let text = String(decoding: word, as: UTF8.self)
        func fail(_ message: String) -> TOMLSyntaxError { TOMLSyntaxError(line: line, column: startColumn, message: message) }
        switch text {
        case "true": return .boolean(true)
        case "false": return .boolean(false)
        case "inf", "+inf": return .float(.infinity)
        case "-inf": return .float(-.infinity)
        case "nan", "+nan", "-nan": return .float(.nan)
        case "": throw fail("expected a value, found \(describe(current))")
        default: break
        }
        let unsigned = text.drop { $0 == "+" || $0 == "-" }
        if unsigned.hasPrefix("0x") || unsigned.hasPrefix("0o") || unsigned.hasPrefix("0b") {
            throw fail("hexadecimal, octal and binary numbers are not supported: \(text)")
        }
        if text.contains(":") || (unsigned.count >= 10 && unsigned.dropFirst(4).first == "-") {
            throw fail("dates and times are not supported: \(text)")
        }
        guard let number = Self.number(text) else {
            let quoted = text.allSatisfy { $0.isLetter } ? " (strings need quotes)" : ""
            throw fail("invalid value \(text)\(quoted)")
        }
        return number
    }

    /// A TOML decimal integer or float, checked digit by digit (underscores only between
    /// digits, no leading zeros), or nil.
    private static func number(_ text: String) -> TOMLValue.Kind? {
        var digits = Substring(text)
        var sign = ""
        if let first = digits.first, first == "+" || first == "-" {
            sign = first == "-" ? "-" : ""
            digits = digits.dropFirst()
        }
        /// A run of digits with single underscores between them, or nil.
        func digitRun(_ part: Substring) -> String? {
            guard let first = part.first, first.isASCII, first.isNumber, let last = part.last, last.isASCII, last.isNumber
            else { return nil }
            var previousUnderscore = false
            var clean = ""
            for character in part {
                if character == "_" {
                    if previousUnderscore { return nil }
                    previousUnderscore = true
                    continue
                }
                guard character.isASCII, character.isNumber else { return nil }
                previousUnderscore = false
                clean.append(character)
            }
            return clean
        }
        let exponentIndex = digits.firstIndex { $0 == "e" || $0 == "E" }
        let mantissa = exponentIndex.map { digits[..<$0] } ?? digits
        let pointIndex = mantissa.firstIndex(of: ".")
        guard let integerPart = digitRun(pointIndex.map { mantissa[..<$0] } ?? mantissa) else { return nil }
        if integerPart.count > 1 && integerPart.hasPrefix("0") { return nil }
        var floatText = sign + integerPart
        if let pointIndex {
            guard let fraction = digitRun(mantissa[mantissa.index(after: pointIndex)...]) else { return nil }
            floatText += "." + fraction
        }
        if let exponentIndex {
            var exponent = digits[digits.index(after: exponentIndex)...]
            var exponentSign = ""
            if let first = exponent.first, first == "+" || first == "-" {
                exponentSign = String(first)
                exponent = exponent.dropFirst()
            }
            guard let exponentDigits = digitRun(exponent) else { return nil }
            floatText += "e" + exponentSign + exponentDigits
        }
        if pointIndex == nil && exponentIndex == nil {
            return Int(sign + integerPart).map { .integer($0) }
        }
        return Double(floatText).map { .float($0) }
    }

    /// A `"..."` string on one line, with TOML's escapes.
    private mutating func basicString() throws(TOMLSyntaxError) -> String {
        if peek(1) == UInt8(ascii: "\"") && peek(2) == UInt8(ascii: "\"") {
            throw error("multi-line strings are not supported")
        }
        advance()
        var scalars = String.UnicodeScalarView()
        var pending: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: pending, as: UTF8.self).unicodeScalars)
            pending.removeAll()
        }
        while true {
            guard let byte = current, byte != UInt8(ascii: "\n") else { throw error("unterminated string") }
            if byte == UInt8(ascii: "\"") {
                advance()
                flush()
                return String(scalars)
            }
            if byte == UInt8(ascii: "\\") {
                advance()
                flush()
                scalars.append(try escape())
                continue
            }
            if (byte < 0x20 && byte != UInt8(ascii: "\t")) || byte == 0x7F {
                throw error("control character \(describe(byte)) in string (write it as an escape)")
            }
            pending.append(byte)
            advance()
        }
    }

    private mutating func escape() throws(TOMLSyntaxError) -> Unicode.Scalar {
        guard let byte = current else { throw error("unterminated string") }
        advance()
        switch byte {
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = byte == UInt8(ascii: "u") ? 4 : 8
            var value: UInt32 = 0
            for _ in 0..<count {
                guard let digit = current, let nibble = Self.hexValue(digit) else {
                    throw error("\\\(Character(Unicode.Scalar(byte))) needs \(count) hex digits")
                }
                value = value << 4 | nibble
                advance()
            }
            guard let scalar = Unicode.Scalar(value) else {
                throw error("\\\(Character(Unicode.Scalar(byte))) escape is not a Unicode scalar value")
            }
            return scalar
        default:
            throw error("unknown escape \\\(describe(byte))")
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// A `'...'` string on one line, taken as written.
    private mutating func literalString() throws(TOMLSyntaxError) -> String {
        if peek(1) == UInt8(ascii: "'") && peek(2) == UInt8(ascii: "'") {
            throw error("multi-line strings are not supported")
        }
        advance()
        var text: [UInt8] = []
        while true {
            guard let byte = current, byte != UInt8(ascii: "\n") else { throw error("unterminated string") }
            advance()
            if byte == UInt8(ascii: "'") { return String(decoding: text, as: UTF8.self) }
            if (byte < 0x20 && byte != UInt8(ascii: "\t")) || byte == 0x7F {
                throw error("control character \(describe(byte)) in string")
            }
            text.append(byte)
        }
    }
}

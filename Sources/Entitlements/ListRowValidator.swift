import GRDB
import GRDBSQLite
import NECCard

/// Checks the header and every row of a list against the list format's rules (docs/entitlements.md), reports each
/// problem, and binds good rows straight from the reader's bytes into the insert
/// statement (no String per field on the common path: a 1M-row import is mostly this).
struct ListRowValidator {
    enum Column: String, CaseIterable {
        case card, pupil, entitlement, status
        case validFrom = "valid_from"
        case validUntil = "valid_until"
        case dailyLimit = "daily_limit"
        case allergens, message, balance
    }

    /// The columns that belong to the pupil, not the card: every one but `card` and
    /// `status`, which must agree on all of a pupil's rows. In list order, as reported.
    static let pupilColumns: [Column] = [.entitlement, .validFrom, .validUntil, .dailyLimit, .allergens, .message, .balance]

    let file: String
    private(set) var report: (ListImportIssue) -> Void
    private(set) var errors = 0
    private(set) var warnings = 0
    private var index: [Column: Int] = [:]
    /// Field positions of the required columns, from the header (read per row: no
    /// dictionary lookups on the hot path).
    private var cardField = 0, pupilField = 0, entitlementField = 0
    private var statusField: Int?, allergensField: Int?, messageField: Int?
    private var validFromField: Int?, validUntilField: Int?, dailyLimitField: Int?, balanceField: Int?
    private var fieldCount = 0
    /// The normalised card of the row being checked.
    private var card: [UInt8] = []

    /// The longest message accepted, in characters: a note for a till screen.
    static let maxMessage = 500
    /// Errors, and warnings, reported at most: a file of garbage would otherwise print a
    /// line for every line it has. The rest are counted (`errors`) but not reported.
    static let maxListed = 1000

    /// This validator with the header it has read, counting errors but reporting none:
    /// for checking rows again, where any error means the file changed.
    func silenced() -> ListRowValidator {
        var copy = self
        copy.report = { _ in }
        return copy
    }

    init(file: String, report: @escaping (ListImportIssue) -> Void) {
        self.file = file
        self.report = report
        card.reserveCapacity(18)
    }

    mutating func error(line: Int, _ reason: String) {
        errors += 1
        if errors <= Self.maxListed { report(ListImportIssue(file: file, line: line, reason: reason)) }
    }

    mutating func warning(line: Int, _ reason: String) {
        warnings += 1
        if warnings <= Self.maxListed { report(ListImportIssue(file: file, line: line, reason: reason, isWarning: true)) }
    }

    /// Reads the header record. Returns false when rows cannot be checked (a required
    /// column is missing, or the header is not a header).
    mutating func readHeader(_ r: CSVReader) -> Bool {
        let line = r.recordLine
        if let syntax = r.syntaxError {
            error(line: line, "header: \(syntax.description)")
            // Not all of it was kept: its columns cannot be trusted.
            if case .recordTooLong = syntax { return false }
            if case .fieldTooLong = syntax { return false }
        }
        fieldCount = r.fieldCount
        for i in 0..<r.fieldCount {
            let name = r.withField(i) { bytes in
                String(validating: bytes, as: UTF8.self)
            }?.trimmingASCIISpaces()
            guard let name, name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
                error(line: line, "header: column \(i + 1) is not a column name (binary data? the file must be UTF-8 CSV)")
                continue
            }
            if let column = Column(rawValue: name) {
                if index[column] != nil {
                    error(line: line, "header: column \(name) appears twice")
                } else {
                    index[column] = i
                }
            } else {
                warning(line: line, "unknown column \"\(Self.printable(name))\" ignored")
            }
        }
        var ok = true
        for required in [Column.card, .pupil, .entitlement] where index[required] == nil {
            error(line: line, "header: missing required column \(required.rawValue)")
            ok = false
        }
        cardField = index[.card] ?? 0
        pupilField = index[.pupil] ?? 0
        entitlementField = index[.entitlement] ?? 0
        statusField = index[.status]
        allergensField = index[.allergens]
        messageField = index[.message]
        validFromField = index[.validFrom]
        validUntilField = index[.validUntil]
        dailyLimitField = index[.dailyLimit]
        balanceField = index[.balance]
        return ok && errors == 0
    }

    /// A row that passed every check, ready to bind.
    struct CheckedRow {
        var entitlement: Entitlement
        var hotlisted: Bool
        var from: CivilDate?
        var until: CivilDate?
        var limit: Int?
        var allergens: String?
        var balance: Int?
    }

    /// Checks the current record, reporting every problem. Returns the checked row (and
    /// leaves its normalised card in `card`) when it is good.
    mutating func check(_ r: CSVReader, line: Int) -> CheckedRow? {
        if let syntax = r.syntaxError {
            error(line: line, syntax.description)
            return nil
        }
        guard r.fieldCount == fieldCount else {
            error(line: line, "row has \(r.fieldCount) field\(r.fieldCount == 1 ? "" : "s"), the header has \(fieldCount) (truncated or unquoted comma?)")
            return nil
        }
        let before = errors
        checkCard(r, line: line)
        let pupilOK = r.withTrimmedField(pupilField) { checkText($0, max: 64, min: 1, identifier: true) }
        if let why = pupilOK { error(line: line, "pupil: \(why)") }
        let entitlement = r.withTrimmedField(entitlementField) { Self.entitlement($0) }
        if entitlement == nil { error(line: line, "entitlement: must be fsm, paid or fsm+paid") }
        var hotlisted = false
        if let i = statusField {
            switch r.withTrimmedField(i, { Self.status($0) }) {
            case .some(let h): hotlisted = h
            case nil: error(line: line, "status: must be active or hotlisted")
            }
        }
        let from = date(r, .validFrom, validFromField, line: line)
        let until = date(r, .validUntil, validUntilField, line: line)
        if let from, let until, until < from { error(line: line, "valid_until is before valid_from") }
        let limit = pence(r, .dailyLimit, dailyLimitField, line: line)
        let balance = pence(r, .balance, balanceField, line: line)
        var allergens: String?
        if let i = allergensField, !r.withTrimmedField(i, { $0.isEmpty }) {
            let text = r.trimmedField(i)
            var names: [String] = []
            for part in text.split(separator: ";", omittingEmptySubsequences: true) {
                let name = String(part).trimmingASCIISpaces().lowercased()
                if name.isEmpty { continue }
                if Allergens.names.contains(name) {
                    if !names.contains(name) { names.append(name) }
                } else {
                    error(line: line, "allergens: \"\(Self.printable(name))\" is not one of the FSA 14 (\(Allergens.names.joined(separator: ", ")))")
                }
            }
            if !names.isEmpty { allergens = names.joined(separator: ";") }
        }
        if let i = messageField, let why = r.withTrimmedField(i, { checkText($0, max: Self.maxMessage, min: 0) }) {
            error(line: line, "message: \(why)")
        }
        guard errors == before, let entitlement else { return nil }
        return CheckedRow(
            entitlement: entitlement, hotlisted: hotlisted, from: from, until: until, limit: limit, allergens: allergens,
            balance: balance)
    }

    /// Whole pence (up to 9 digits) in `column`, nil when the column is absent or empty.
    private mutating func pence(_ r: CSVReader, _ column: Column, _ field: Int?, line: Int) -> Int? {
        guard let i = field else { return nil }
        // -1: empty; -2: not whole pence.
        let value = r.withTrimmedField(i) { bytes -> Int in
            if bytes.isEmpty { return -1 }
            guard bytes.count <= 9 else { return -2 }
            var v = 0
            for b in bytes {
                guard b >= 48 && b <= 57 else { return -2 }
                v = v * 10 + Int(b - 48)
            }
            return v
        }
        if value == -1 { return nil }
        guard value >= 0 else {
            error(line: line, "\(column.rawValue): must be whole pence (digits only)")
            return nil
        }
        return value
    }

    /// True when `b` is `s`'s bytes.
    static func equal(_ b: UnsafeBufferPointer<UInt8>, _ s: StaticString) -> Bool {
        guard s.utf8CodeUnitCount == b.count else { return false }
        let p = s.utf8Start
        for i in 0..<b.count where b[i] != p[i] { return false }
        return true
    }

    /// The Luhn check of an ISRN's 18 ASCII digits (checked to be digits), on the bytes
    /// (every row of a list has it checked, twice).
    static func luhnValid(_ digits: [UInt8]) -> Bool {
        var sum = 0
        var double = false
        for b in digits.reversed() {
            var v = Int(b) - 48
            if double {
                v *= 2
                if v > 9 { v -= 9 }
            }
            sum += v
            double.toggle()
        }
        return sum % 10 == 0
    }

    /// `fsm`, `paid` or `fsm+paid`, compared as bytes (this runs for every row).
    static func entitlement(_ b: UnsafeBufferPointer<UInt8>) -> Entitlement? {
        func equals(_ s: StaticString) -> Bool { Self.equal(b, s) }
        if b.isEmpty { return nil }
        if equals("fsm") { return .fsm }
        if equals("paid") { return .paid }
        if equals("fsm+paid") { return [.fsm, .paid] }
        return nil
    }

    /// A status: false for empty or `active`, true for `hotlisted`, nil for anything else.
    static func status(_ b: UnsafeBufferPointer<UInt8>) -> Bool? {
        func equals(_ s: StaticString) -> Bool { Self.equal(b, s) }
        if b.isEmpty { return false }
        if equals("active") { return false }
        if equals("hotlisted") { return true }
        return nil
    }

    /// Keyed hashes of the current record's pupil and of its pupil columns (see
    /// ``pupilColumns``), as checked: two rows of one pupil must have equal `columns`.
    /// Also the pupil's first 16 bytes, big-endian and zero-padded: sorting by them (then
    /// the hash) puts pupils in SQLite's text order, but for those sharing 16 bytes; and
    /// they are the whole pupil unless `long` (a pupil has no zero bytes).
    func pupilHashes(_ row: CheckedRow, _ r: CSVReader, k0: UInt64, k1: UInt64)
        -> (pupil: UInt64, columns: UInt64, hi: UInt64, lo: UInt64, long: Bool)
    {
        var p = SipHash24(k0: k0, k1: k1)
        var hi: UInt64 = 0, lo: UInt64 = 0
        var long = false
        r.withTrimmedField(pupilField) { bytes in
            long = bytes.count > 16
            p.update(bytes)
            for i in 0..<16 {
                let b = UInt64(i < bytes.count ? bytes[i] : 0)
                if i < 8 { hi = hi << 8 | b } else { lo = lo << 8 | b }
            }
        }
        var c = SipHash24(k0: k1, k1: k0)
        func optional(_ v: Int?) {
            c.update(v == nil ? 0 : 1)
            c.update(UInt64(bitPattern: Int64(v ?? 0)))
        }
        c.update(UInt64(row.entitlement.rawValue))
        optional(row.from?.daysSinceUnixEpoch)
        optional(row.until?.daysSinceUnixEpoch)
        optional(row.limit)
        optional(row.balance)
        var allergens = row.allergens ?? ""
        c.update(UInt64(allergens.utf8.count))
        allergens.withUTF8 { c.update($0) }
        if let i = messageField {
            r.withTrimmedField(i) { bytes in
                c.update(UInt64(bytes.count))
                c.update(bytes)
            }
        } else {
            c.update(0)
        }
        return (p.finalize(), c.finalize(), hi, lo, long)
    }

    /// The current record's pupil, and its pupil columns as checked (`row`), for naming
    /// the columns on which two rows of one pupil disagree.
    func pupilValues(_ row: CheckedRow, _ r: CSVReader) -> (pupil: String, columns: [Column: String]) {
        let message = index[.message].map { r.trimmedField($0) } ?? ""
        let columns: [Column: String] = [
            .entitlement: String(row.entitlement.rawValue),
            .validFrom: row.from.map { "\($0)" } ?? "",
            .validUntil: row.until.map { "\($0)" } ?? "",
            .dailyLimit: row.limit.map(String.init) ?? "",
            .allergens: row.allergens ?? "",
            .message: message,
            .balance: row.balance.map(String.init) ?? "",
        ]
        return (r.trimmedField(pupilField), columns)
    }

    /// The sort key of the current `card`: SQLite's text order of the card column, packed
    /// (see `ImportEntry`).
    func cardKey() -> (hi: UInt64, lo: UInt64) {
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for i in 0..<18 {
            let symbol: UInt64
            if i < card.count {
                let b = card[i]
                symbol = UInt64(b <= 57 ? b - 48 : b - 55)
            } else {
                symbol = 0
            }
            if i < 16 { hi = hi << 4 | symbol } else { lo = lo << 4 | symbol }
        }
        let lengthCode: UInt64 = card.count == 8 ? 0 : (card.count == 14 ? 1 : 2)
        return (hi, lo << 2 | lengthCode)
    }

    /// Copies a checked row's values (the current record, `card`) into `staged`, to be
    /// inserted later by ``insert(_:at:listID:statement:db:)`` without the record.
    func stage(_ row: CheckedRow, _ r: CSVReader, line: Int, into staged: inout StagedRows) {
        var s = StagedRows.Row(line: UInt32(truncatingIfNeeded: line))
        s.card = card.withUnsafeBufferPointer { staged.keep($0) }
        s.pupil = r.withTrimmedField(pupilField) { staged.keep($0) }
        s.entitlement = Int64(row.entitlement.rawValue)
        s.hotlisted = row.hotlisted
        s.from = StagedRows.int(row.from?.daysSinceUnixEpoch)
        s.until = StagedRows.int(row.until?.daysSinceUnixEpoch)
        s.limit = StagedRows.int(row.limit)
        s.balance = StagedRows.int(row.balance)
        if var a = row.allergens { s.allergens = a.withUTF8 { staged.keep($0) } }
        if let i = messageField {
            r.withTrimmedField(i) { if !$0.isEmpty { s.message = staged.keep($0) } }
        }
        staged.rows.append(s)
    }

    /// Rows one `INSERT` statement writes when staging (`insertRowsSQL(count:)`): one
    /// statement's cursor stays on the B-tree's last page from row to row, where a
    /// statement a row seeks from the root every time.
    static let rowsPerInsert = 32

    /// `INSERT INTO list_row ... VALUES (...), (...)` for `count` rows of 11 values.
    static func insertRowsSQL(count: Int) -> String {
        let values = "(" + Array(repeating: "?", count: 11).joined(separator: ", ") + ")"
        return """
            INSERT INTO list_row (list_id, card, pupil, entitlement, hotlisted, valid_from, valid_until,
                                  daily_limit, allergens, message, balance)
            VALUES \(Array(repeating: values, count: count).joined(separator: ", "))
            """
    }

    /// `INSERT INTO list_pupil ... VALUES (?, ?, ?), ...` for `count` pairs.
    static func insertPupilsSQL(count: Int) -> String {
        "INSERT INTO list_pupil (list_id, pupil, card) VALUES " + Array(repeating: "(?, ?, ?)", count: count).joined(separator: ", ")
    }

    /// Binds staged row `i`'s 11 values from parameter `first` on.
    private static func bind(_ staged: StagedRows, at i: Int, listID: Int64, _ h: OpaquePointer, from first: Int32) {
        let s = staged.rows[i]
        sqlite3_bind_int64(h, first, listID)
        staged.withText(s.card) { bindText(h, first + 1, $0) }
        staged.withText(s.pupil) { bindText(h, first + 2, $0) }
        sqlite3_bind_int64(h, first + 3, s.entitlement)
        sqlite3_bind_int64(h, first + 4, s.hotlisted ? 1 : 0)
        bindInt(h, first + 5, s.from)
        bindInt(h, first + 6, s.until)
        bindInt(h, first + 7, s.limit)
        staged.withOptionalText(s.allergens) { if let t = $0 { bindText(h, first + 8, t) } else { sqlite3_bind_null(h, first + 8) } }
        staged.withOptionalText(s.message) { if let t = $0 { bindText(h, first + 9, t) } else { sqlite3_bind_null(h, first + 9) } }
        bindInt(h, first + 10, s.balance)
    }

    /// Binds staged row `i` and inserts it into `list_row` under `listID`.
    mutating func insert(_ staged: StagedRows, at i: Int, listID: Int64, statement: Statement, db: Database) throws {
        let h = statement.sqliteStatement
        sqlite3_reset(h)
        ListRowValidator.bind(staged, at: i, listID: listID, h, from: 1)
        let rc = sqlite3_step(h)
        sqlite3_reset(h)
        if rc == SQLITE_DONE { return }
        if rc & 0xFF == SQLITE_CONSTRAINT {
            error(line: Int(staged.rows[i].line), "card: duplicate, already on an earlier line")
            return
        }
        throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }

    /// Inserts staged rows `rows` (``rowsPerInsert`` of them) with one statement of
    /// ``insertRowsSQL(count:)``; when it fails on a key, row by row with `single`, so that
    /// the duplicate is named by its line (a failed statement has written nothing).
    mutating func insert(
        _ staged: StagedRows, rows: Range<Int>, listID: Int64, statement: Statement, single: Statement, db: Database
    ) throws {
        let h = statement.sqliteStatement
        sqlite3_reset(h)
        for (k, i) in rows.enumerated() { ListRowValidator.bind(staged, at: i, listID: listID, h, from: Int32(11 * k + 1)) }
        let rc = sqlite3_step(h)
        sqlite3_reset(h)
        if rc == SQLITE_DONE { return }
        if rc & 0xFF == SQLITE_CONSTRAINT {
            for i in rows { try insert(staged, at: i, listID: listID, statement: single, db: db) }
            return
        }
        throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }

    /// Inserts (`pupil`, `card`) into `list_pupil` under `listID`.
    static func insertPupil(
        listID: Int64, pupil: UnsafeBufferPointer<UInt8>, card: UnsafeBufferPointer<UInt8>, statement: Statement, db: Database
    ) throws {
        let h = statement.sqliteStatement
        sqlite3_reset(h)
        bindPupil(listID: listID, pupil: pupil, card: card, h, from: 1)
        try step(h, db)
    }

    /// Binds a (pupil, card) pair's 3 values from parameter `first` on.
    static func bindPupil(listID: Int64, pupil: UnsafeBufferPointer<UInt8>, card: UnsafeBufferPointer<UInt8>, _ h: OpaquePointer, from first: Int32) {
        sqlite3_bind_int64(h, first, listID)
        bindText(h, first + 1, pupil)
        bindText(h, first + 2, card)
    }

    /// Runs a bound insert to its end.
    static func step(_ h: OpaquePointer, _ db: Database) throws {
        let rc = sqlite3_step(h)
        sqlite3_reset(h)
        if rc == SQLITE_DONE { return }
        throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }

    /// The current record's trimmed pupil bytes.
    func withPupil<R>(_ r: CSVReader, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try r.withTrimmedField(pupilField, body)
    }

    private mutating func checkCard(_ r: CSVReader, line: Int) {
        card.removeAll(keepingCapacity: true)
        let why: String? = r.withTrimmedField(cardField) { (bytes) -> String? in
            var digits = 0
            var hex = 0
            var other = false
            for b in bytes {
                switch b {
                case 48...57: digits += 1; hex += 1
                case 65...70, 97...102: hex += 1
                case 32: break
                default: other = true
                }
            }
            if other { return "card: must be an 18-digit ISRN or a UID of 8 or 14 hex digits" }
            if digits == 18 && hex == 18 {
                for b in bytes where b != 32 { card.append(b) }
                if card.count == 18 && card[0] == 54 && card[1] == 51 && card[2] == 51 && card[3] == 53
                    && card[4] == 57 && card[5] == 55 && Self.luhnValid(card)
                {
                    return nil
                }
                do {
                    _ = try ISRN(String(decoding: card, as: UTF8.self))
                    return nil
                } catch {
                    return "card: \(error)"
                }
            }
            if (hex == 8 || hex == 14) && !bytes.contains(32) {
                for b in bytes { card.append(b >= 97 ? b - 32 : b) }
                // ISO/IEC 14443-3: a 4-byte UID starting 08 is drawn anew at every tap.
                if hex == 8 && card[0] == 48 && card[1] == 56 {
                    return "card: \(String(decoding: card, as: UTF8.self)) is a random ID (4 bytes starting 08): it changes at every tap and cannot identify a card"
                }
                return nil
            }
            return bytes.isEmpty
                ? "card: empty"
                : "card: must be an 18-digit ISRN or a UID of 8 or 14 hex digits, not \(hex) characters"
        }
        if let why { error(line: line, why) }
    }

    private mutating func date(_ r: CSVReader, _ column: Column, _ field: Int?, line: Int) -> CivilDate? {
        guard let i = field, !r.withTrimmedField(i, { $0.isEmpty }) else { return nil }
        let text = r.trimmedField(i)
        if text.isEmpty { return nil }
        guard let d = CivilDate(iso: text) else {
            error(line: line, "\(column.rawValue): \"\(Self.printable(text))\" is not a date (YYYY-MM-DD)")
            return nil
        }
        return d
    }

    /// Why `bytes` is not `min`-`max` printable UTF-8 characters, or nil. An identifier
    /// (a pupil reference) must also look like only itself: no invisible formatting
    /// characters (zero-width space, bidi controls) and no spaces but the plain one.
    private func checkText(_ bytes: UnsafeBufferPointer<UInt8>, max: Int, min: Int, identifier: Bool = false) -> String? {
        var ascii = true
        for b in bytes {
            if b < 0x20 || b == 0x7F { return "control characters are not allowed" }
            if b >= 0x80 { ascii = false }
        }
        let count: Int
        if ascii {
            count = bytes.count
        } else {
            guard let s = String(validating: bytes, as: UTF8.self) else { return "not valid UTF-8" }
            if s.unicodeScalars.contains(where: { (0x80...0x9F).contains($0.value) }) {
                return "control characters are not allowed"
            }
            if identifier {
                if let c = s.unicodeScalars.first(where: { $0.properties.generalCategory == .format }) {
                    return "invisible formatting characters are not allowed (\(Self.codePoint(c)))"
                }
                if let c = s.unicodeScalars.first(where: { $0.properties.isWhitespace && $0 != " " }) {
                    return "only plain spaces are allowed (\(Self.codePoint(c)) is another space)"
                }
            }
            count = s.count
        }
        if count < min { return "empty" }
        if count > max { return "longer than \(max) characters" }
        return nil
    }

    /// `U+00A0`.
    static func codePoint(_ c: Unicode.Scalar) -> String {
        let hex = String(c.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// A value safe to echo in an error line.
    static func printable(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }).prefix(40))
    }
}

/// SQLite's "copy this buffer now" destructor.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

private func bindText(_ h: OpaquePointer, _ i: Int32, _ bytes: UnsafeBufferPointer<UInt8>) {
    if let base = bytes.baseAddress {
        base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { _ = sqlite3_bind_text(h, i, $0, Int32(bytes.count), transient) }
    } else {
        sqlite3_bind_text(h, i, "", 0, transient)
    }
}

private func bindInt(_ h: OpaquePointer, _ i: Int32, _ v: Int?) {
    if let v { sqlite3_bind_int64(h, i, Int64(v)) } else { sqlite3_bind_null(h, i) }
}

private func bindInt(_ h: OpaquePointer, _ i: Int32, _ v: Int64) {
    if v == StagedRows.null { sqlite3_bind_null(h, i) } else { sqlite3_bind_int64(h, i, v) }
}

/// Checked rows' values, held between re-reading them from the file (outside any
/// transaction) and inserting them (inside one), so that the write lock is held for
/// SQLite's own work only: their text back to back in one buffer, reused batch after batch.
struct StagedRows {
    /// A text value: where it is in `bytes`; `length` -1 for NULL.
    struct Text {
        var start: Int32 = 0
        var length: Int32 = -1
    }

    struct Row {
        var line: UInt32
        var card = Text(), pupil = Text(), allergens = Text(), message = Text()
        var entitlement: Int64 = 0
        var hotlisted = false
        /// ``StagedRows/null`` for NULL.
        var from = StagedRows.null, until = StagedRows.null, limit = StagedRows.null, balance = StagedRows.null
    }

    /// The integer standing for NULL (no list value is this).
    static let null = Int64.min

    static func int(_ v: Int?) -> Int64 { v.map { Int64($0) } ?? null }

    private(set) var bytes: [UInt8] = []
    var rows: [Row] = []

    var count: Int { rows.count }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        rows.removeAll(keepingCapacity: true)
    }

    mutating func keep(_ text: UnsafeBufferPointer<UInt8>) -> Text {
        let t = Text(start: Int32(bytes.count), length: Int32(text.count))
        bytes.append(contentsOf: text)
        return t
    }

    func withOptionalText<R>(_ t: Text, _ body: (UnsafeBufferPointer<UInt8>?) throws -> R) rethrows -> R {
        guard t.length >= 0 else { return try body(nil) }
        return try bytes.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[Int(t.start)..<Int(t.start + t.length)]))
        }
    }

    func withText<R>(_ t: Text, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try bytes.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[Int(t.start)..<Int(t.start + max(0, t.length))]))
        }
    }
}

extension String {
    func trimmingASCIISpaces() -> String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}

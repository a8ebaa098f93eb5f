public import Foundation
import Crypto
import GRDB
import GRDBSQLite
import NECCard
#if canImport(Glibc)
import Glibc
#endif

/// One problem found in a list file, reported as `FILE:LINE: reason`.
public struct ListImportIssue: Sendable, Equatable, CustomStringConvertible {
    /// The file as the caller named it.
    public var file: String
    /// 1-based line; the line a record starts on.
    public var line: Int
    /// What is wrong, for a person.
    public var reason: String
    /// True for a warning (an unknown column), which does not reject the file.
    public var isWarning: Bool

    /// - Parameters: the issue's fields, see the properties.
    public init(file: String, line: Int, reason: String, isWarning: Bool = false) {
        self.file = file
        self.line = line
        self.reason = reason
        self.isWarning = isWarning
    }

    /// `FILE:LINE: reason`, with `warning: ` before the reason of a warning.
    public var description: String { "\(file):\(line): \(isWarning ? "warning: " : "")\(reason)" }
}

/// Test hooks into `importList`: called at fixed points of an import.
struct ImportHooks {
    /// After pass 1 checked (and hashed) the whole file, before pass 2 reads it again.
    var betweenPasses: (() -> Void)?
}

/// Why an import or rollback did not change the list in force.
public enum ListImportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file has `errorCount` errors (each already reported); nothing changed.
    case rejected(file: String, errorCount: Int)
    /// `require_signed_lists` is on and no signature was given.
    case signatureRequired(file: String)
    /// The signature does not verify with any trusted key (or none is configured).
    case badSignature(file: String, trustedKeyCount: Int)
    /// The signature file is not a signature.
    case unreadableSignature(file: String)
    /// The file cannot be opened or read.
    case cannotRead(file: String, errno: Int32)
    /// The file changed between the signature check and the import.
    case fileChanged(file: String)
    /// Another import into the same database is running.
    case importRunning(database: String)
    /// `rollback` with no previous list kept.
    case noPreviousList

    /// The message `necctl` prints.
    public var description: String {
        switch self {
        case .rejected(let f, let n) where n > ListRowValidator.maxListed:
            "\(f): rejected, \(n) errors: the first \(ListRowValidator.maxListed) are listed, and \(n - ListRowValidator.maxListed) more errors are not; the list in force is unchanged"
        case .rejected(let f, let n):
            "\(f): rejected, \(n) error\(n == 1 ? "" : "s"); the list in force is unchanged"
        case .signatureRequired(let f):
            "\(f): refused, require_signed_lists is on and no signature was given (--signature FILE)"
        case .badSignature(let f, let keys):
            keys == 0
                ? "\(f): refused, it is signed but no trusted_list_keys are configured to check the signature"
                : "\(f): refused, the signature does not match the file with any of the \(keys) trusted key(s): the file was changed or signed by another key"
        case .unreadableSignature(let f): "\(f): not an Ed25519 signature (base64 of 64 bytes)"
        case .cannotRead(let f, let e): "\(f): cannot read: \(String(cString: strerror(e)))"
        case .fileChanged(let f):
            "\(f): refused, the file changed while it was being imported: nothing was installed, the list in force is unchanged"
        case .importRunning(let db): "\(db): another list import into this database is running; try again when it has finished"
        case .noPreviousList: "no previous list is kept: nothing to roll back to"
        }
    }
}

/// What a successful import put in force.
public struct ListImportSummary: Sendable, Equatable {
    /// The list now in force.
    public var status: ListStatus
    /// Warnings (unknown columns), already reported.
    public var warnings: Int
}

/// The UK Food Standards Agency's 14 allergens, the names a list may use.
public enum Allergens {
    /// Lower-case names, in FSA order.
    public static let names: [String] = [
        "celery", "gluten", "crustaceans", "eggs", "fish", "lupin", "milk", "molluscs", "mustard", "nuts",
        "peanuts", "sesame", "soya", "sulphites",
    ]
}

/// One good row of a list being imported, between the two passes: where it is in the
/// file and its card as a sort key. `hi` holds the card's first 16 characters, 4 bits
/// each ('0'-'9' then 'A'-'F', the order SQLite compares them in), zero-padded; `mid`
/// holds the last two characters and a length code (shorter first, so a prefix sorts
/// first, as in text order) above the 54-bit file offset, which breaks ties in file order.
struct ImportEntry {
    var hi: UInt64
    var mid: UInt64
    var line: UInt32
    var length: UInt32

    static func < (a: ImportEntry, b: ImportEntry) -> Bool { (a.hi, a.mid) < (b.hi, b.mid) }

    /// Heapsort: in place, so sorting 1M entries needs no second buffer (the standard
    /// sort's merge buffer would add half the array to the import's peak memory).
    static func sortInPlace(_ entries: inout [ImportEntry]) {
        entries.withUnsafeMutableBufferPointer { a in
            let n = a.count
            func siftDown(_ start: Int, _ end: Int) {
                var root = start
                while true {
                    var child = 2 * root + 1
                    if child >= end { return }
                    if child + 1 < end && a[child] < a[child + 1] { child += 1 }
                    if !(a[root] < a[child]) { return }
                    a.swapAt(root, child)
                    root = child
                }
            }
            var start = n / 2
            while start > 0 {
                start -= 1
                siftDown(start, n)
            }
            var end = n
            while end > 1 {
                end -= 1
                a.swapAt(0, end)
                siftDown(0, end)
            }
        }
    }
}

/// One good row of a list being imported, for the check that a pupil's rows agree and
/// for `list_pupil`: the row's pupil (its first 16 bytes, and a keyed hash) and its pupil
/// columns (a keyed hash, see `ListRowValidator.pupilHashes`), its card (as its sort key,
/// see `ImportEntry`), and where to read it again: to name the columns when they
/// disagree, and for a pupil longer than 16 bytes. So `list_pupil` is written from
/// memory, as checked, for pupils of up to 16 bytes (`TEST-0000001` and every council
/// reference seen so far).
struct PupilEntry {
    var hi: UInt64
    var lo: UInt64
    var pupil: UInt64
    var columns: UInt64
    var offset: Int64
    /// The card's sort key, first 64 bits (`ImportEntry.hi`).
    var card: UInt64
    var line: UInt32
    /// The record's length (17 bits: a good record is at most `CSVReader.maxRecord`
    /// bytes), the last 10 bits of the card's sort key, and whether the pupil is longer
    /// than 16 bytes.
    private var packed: UInt32

    init(
        hashes: (pupil: UInt64, columns: UInt64, hi: UInt64, lo: UInt64, long: Bool), card: (hi: UInt64, lo: UInt64),
        offset: Int64, line: Int, length: Int
    ) {
        hi = hashes.hi
        lo = hashes.lo
        pupil = hashes.pupil
        columns = hashes.columns
        self.offset = offset
        self.card = card.hi
        self.line = UInt32(truncatingIfNeeded: line)
        packed = UInt32(length & 0x1FFFF) | UInt32(card.lo & 0x3FF) << 17 | (hashes.long ? 1 << 27 : 0)
    }

    var length: Int { Int(packed & 0x1FFFF) }
    var cardLo: UInt64 { UInt64(packed >> 17 & 0x3FF) }
    var longPupil: Bool { packed >> 27 & 1 == 1 }

    /// The pupil, when it is not `longPupil`: the 16 bytes up to the first zero.
    func withShortPupil<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        var bytes = (hi.bigEndian, lo.bigEndian)
        return try withUnsafeBytes(of: &bytes) { raw in
            let all = raw.bindMemory(to: UInt8.self)
            let n = all.firstIndex(of: 0) ?? 16
            return try body(UnsafeBufferPointer(rebasing: all[0..<n]))
        }
    }

    /// The card, as `ListRowValidator.cardKey()` packed it.
    func withCard<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try ImportEntry.withCard(hi: card, lo: cardLo, body)
    }
}

extension ImportEntry {
    /// The card a sort key (`ListRowValidator.cardKey()`: 18 4-bit symbols and a length
    /// code) was made from.
    static func withCard<R>(hi: UInt64, lo: UInt64, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let count = [8, 14, 18][Int(min(lo & 3, 2))]
        var bytes: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return try withUnsafeMutableBytes(of: &bytes) { raw in
            let out = raw.bindMemory(to: UInt8.self)
            for i in 0..<count {
                let symbol = i < 16 ? hi >> (60 - 4 * UInt64(i)) & 0xF : lo >> (2 + 4 * (17 - UInt64(i))) & 0xF
                out[i] = UInt8(symbol < 10 ? 48 + symbol : 55 + symbol)
            }
            return try body(UnsafeBufferPointer(rebasing: UnsafeBufferPointer(out)[0..<count]))
        }
    }
}

extension EntitlementStore {
    /// Validates `path` and, when it is faultless, puts it in force in one transaction,
    /// keeping the list it replaces for `rollbackList()`.
    ///
    /// The file is streamed (one read buffer, one record in memory). Rows are staged
    /// under a new list id in short write transactions (`writeBriefly`); lookups keep
    /// seeing the list in force until the final transaction switches `current`. Any error
    /// rejects the whole file, and so does a file that changes while it is imported.
    /// - Parameters:
    ///   - path: the CSV file.
    ///   - signaturePath: its detached Ed25519 signature, if any.
    ///   - trust: trusted keys and whether a signature is required.
    ///   - at: the import time recorded.
    ///   - progress: called at the start and end of each phase and now and then in between.
    ///   - report: called with every error and warning, in file order.
    /// - Throws: `ListImportError`, or `DatabaseError` when the store fails.
    @discardableResult
    public func importList(
        path: String, signaturePath: String? = nil, trust: ListTrust = ListTrust(), at: Date = Date(),
        progress: ((ImportProgress) -> Void)? = nil, report: @escaping (ListImportIssue) -> Void = { _ in }
    ) throws -> ListImportSummary {
        try importList(
            path: path, signaturePath: signaturePath, trust: trust, at: at, progress: progress, report: report,
            hooks: ImportHooks())
    }

    /// `importList`, with hooks for tests.
    func importList(
        path: String, signaturePath: String?, trust: ListTrust, at: Date,
        progress: ((ImportProgress) -> Void)?, report: @escaping (ListImportIssue) -> Void, hooks: ImportHooks
    ) throws -> ListImportSummary {
        // Held until the staged list is in force or gone (see `StagingLock`).
        guard let lock = try StagingLock.tryAcquire(database: self.path) else {
            throw ListImportError.importRunning(database: self.path)
        }
        defer { withExtendedLifetime(lock) {} }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ListImportError.cannotRead(file: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ListImportError.cannotRead(file: path, errno: errno) }
        let size = Int64(st.st_size)
        var timings = ImportTimings()

        // Signature first: a refused file is not even parsed.
        var signer: String?
        var signedDigest: String?
        if let signaturePath {
            guard let sigBytes = FileManager.default.contents(atPath: signaturePath) else {
                throw ListImportError.cannotRead(file: signaturePath, errno: errno)
            }
            guard let signature = try? ListSigningKey.signature(fromFile: sigBytes) else {
                throw ListImportError.unreadableSignature(file: signaturePath)
            }
            let verified = try EntitlementStore.verify(
                fd: fd, size: Int(size), signature: signature, keys: trust.trustedKeys, path: path)
            guard let key = verified.key else {
                throw ListImportError.badSignature(file: path, trustedKeyCount: trust.trustedKeys.count)
            }
            signer = key.base64
            signedDigest = verified.sha256
            lseek(fd, 0, SEEK_SET)
            timings.end("signature: verify, hash")
        } else if trust.requireSigned {
            throw ListImportError.signatureRequired(file: path)
        }

        // Pass 1: check every row, hash the file, and keep for each good row only its
        // sort key, place and line (24 bytes a row). Nothing is written on a bad file.
        var hasher = SHA256()
        // Every good row's fingerprint, summed: pass 2 sums the rows it reads again and
        // installs nothing unless the sums agree, so what is installed is what was checked
        // (and hashed, and verified against the signature). Keyed at random for each
        // import, so no one can change a row without changing its fingerprint.
        var rng = SystemRandomNumberGenerator()
        let k0 = rng.next() as UInt64, k1 = rng.next() as UInt64
        var checkedSum: UInt64 = 0
        var reader = CSVReader(fd: fd)
        reader.onChunk = { hasher.update(bufferPointer: $0) }
        var validator = ListRowValidator(file: path, report: report)
        let fileName = (path as NSString).lastPathComponent
        let now = EntitlementStore.millis(at)
        var entries: [ImportEntry] = []
        var pupils: [PupilEntry] = []
        // Room for the most rows the file can hold (15 bytes is the shortest row), so the
        // array never grows by copying; pages never touched cost no memory.
        entries.reserveCapacity(Int(size / 15) + 1)
        pupils.reserveCapacity(Int(size / 15) + 1)
        var lastProgress: Int64 = 0
        var rowsRead = 0
        var headerOK = false
        progress?(ImportProgress(phase: .checking, done: 0, total: size, rows: 0))
        do {
            var header = true
            while try reader.next() {
                if header {
                    header = false
                    if !validator.readHeader(reader) { break }
                    headerOK = true
                    continue
                }
                rowsRead += 1
                if let row = validator.check(reader, line: reader.recordLine) {
                    checkedSum &+= reader.fingerprint(k0: k0, k1: k1)
                    let hashes = validator.pupilHashes(row, reader, k0: k0, k1: k1)
                    let key = validator.cardKey()
                    pupils.append(PupilEntry(
                        hashes: hashes, card: key, offset: reader.recordOffset, line: reader.recordLine,
                        length: reader.recordLength))
                    entries.append(ImportEntry(
                        hi: key.hi, mid: key.lo << 54 | UInt64(reader.recordOffset),
                        line: UInt32(truncatingIfNeeded: reader.recordLine), length: UInt32(reader.recordLength)))
                }
                if let progress, reader.offset - lastProgress >= 1 << 20 {
                    lastProgress = reader.offset
                    progress(ImportProgress(phase: .checking, done: reader.offset, total: size, rows: rowsRead))
                }
            }
            // A file that grew while it was read: its true size.
            let read = max(size, reader.offset)
            progress?(ImportProgress(phase: .checking, done: read, total: read, rows: rowsRead))
            if header { validator.error(line: 1, "empty file: no header row") }
        } catch {
            throw ListImportError.cannotRead(file: path, errno: error.errno)
        }
        timings.end("check: parse, validate, hash")
        // Sorted by card in SQLite's text order, the rows append to the new list's end of
        // the B-tree: each batch writes a few fresh pages instead of rewriting pages all
        // over the tree (an 18x difference in bytes written for 1M rows).
        ImportEntry.sortInPlace(&entries)
        var duplicates: [(line: UInt32, first: UInt32)] = []
        var i = 1
        while i < entries.count {
            if entries[i].hi == entries[i - 1].hi && entries[i].mid >> 54 == entries[i - 1].mid >> 54 {
                var first = i - 1
                while first > 0 && entries[first - 1].hi == entries[i].hi && entries[first - 1].mid >> 54 == entries[i].mid >> 54 {
                    first -= 1
                }
                duplicates.append((entries[i].line, entries[first].line))
            }
            i += 1
        }
        for d in duplicates.sorted(by: { $0.line < $1.line }) {
            validator.error(line: Int(d.line), "card: duplicate, first on line \(d.first)")
        }
        timings.end("cards: sort, find duplicates")
        do {
            try EntitlementStore.checkPupilsAgree(&pupils, reader: &reader, validator: &validator)
        } catch {
            throw ListImportError.cannotRead(file: path, errno: error.errno)
        }
        timings.end("pupils: sort, check they agree")
        if headerOK && entries.isEmpty && validator.errors == 0 {
            // Installing it would decline every pupil: surely a broken export.
            validator.error(line: 2, "no rows after the header: a list with no pupils is refused")
        }
        guard validator.errors == 0 else {
            throw ListImportError.rejected(file: path, errorCount: validator.errors)
        }
        let digest = Hex.lowercase(hasher.finalize())
        if let signedDigest, signedDigest != digest { throw ListImportError.fileChanged(file: path) }
        hooks.betweenPasses?()

        // Pass 2: re-read each row by its place, in card order, into a staged list, in
        // short write transactions (see `WriteBudget`).
        try purgeLeftovers()
        let listID = try pool.write { db in
            try db.execute(
                sql: "INSERT INTO list_version (state, file, sha256, imported_at_ms) VALUES ('staging', ?, '', ?)",
                arguments: [fileName, now])
            return db.lastInsertedRowID
        }
        let total = Int64(entries.count)
        do {
            progress?(ImportProgress(phase: .installing, done: 0, total: total, rows: 0))
            try stage(
                listID: listID, entries: entries, pupils: pupils, reader: &reader, validator: &validator,
                fingerprint: (k0, k1, checkedSum), path: path, timings: &timings
            ) { done in
                progress?(ImportProgress(phase: .installing, done: Int64(done), total: total, rows: done))
            }
            timings.end("stage list_row and list_pupil")
        } catch let failure as CSVReader.ReadFailure {
            try discard(listID: listID)
            throw ListImportError.cannotRead(file: path, errno: failure.errno)
        } catch {
            try? discard(listID: listID)
            throw error
        }
        // The switch: one short transaction, durable (the writer's own `synchronous = FULL`).
        let rows = entries.count
        let discarded: Row? = try pool.write { db in
            let discarded = try Row.fetchOne(db, sql: "SELECT id, rows FROM list_version WHERE state = 'previous'")
            try db.execute(sql: "UPDATE list_version SET state = 'discarded' WHERE state = 'previous'")
            try db.execute(sql: "UPDATE list_version SET state = 'previous' WHERE state = 'current'")
            try db.execute(
                sql: "UPDATE list_version SET state = 'current', rows = ?, sha256 = ?, signer = ? WHERE id = ?",
                arguments: [rows, digest, signer, listID])
            return discarded
        }
        timings.end("switch (fsync)")
        if let discarded {
            let old: Int64 = discarded[1]
            progress?(ImportProgress(phase: .tidying, done: 0, total: old, rows: 0))
            try purge(listID: discarded[0]) { deleted in
                progress?(ImportProgress(phase: .tidying, done: deleted, total: old, rows: Int(min(deleted, old))))
            }
            progress?(ImportProgress(phase: .tidying, done: old, total: old, rows: Int(old)))
        }
        timings.end("tidy: delete the list before")
        if ImportTimings.enabled { timings.print(rows: rows) }
        let previous = try pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM list_version WHERE state = 'previous'") ?? false
        }
        let status = ListStatus(
            generation: listID, rows: rows, importedAt: Date(timeIntervalSince1970: Double(now) / 1000),
            file: fileName, sha256: digest, signer: signer, previousAvailable: previous)
        return ListImportSummary(status: status, warnings: validator.warnings)
    }

    /// Writes the checked list under `listID`: `list_row` in card order (`entries`), each
    /// row read again from the file and checked and fingerprinted again, and
    /// `list_pupil` in pupil order (`pupils`), from memory (a pupil longer than 16
    /// bytes is read again too). Both go in the same write transactions, a row and a pupil
    /// at a time, while another thread reads and checks the next rows (`StagingReadAhead`),
    /// so the two cores share the work.
    ///
    /// The transactions are long (up to `WriteBudget.stagingNanos`) while no one waits for
    /// the write lock, and end within a few rows when a writer in another process says it
    /// waits (`WriteWaiterSignal`); the lock is then left free until that writer has had
    /// it. After every transaction it is left free for a moment anyway
    /// (`leaveTheLockFree`), for writers that cannot say they wait.
    /// Throws `fileChanged` unless the rows' fingerprints sum to `fingerprint.sum`,
    /// pass 1's.
    func stage(
        listID: Int64, entries: [ImportEntry], pupils: [PupilEntry], reader: inout CSVReader,
        validator: inout ListRowValidator, fingerprint: (k0: UInt64, k1: UInt64, sum: UInt64), path: String,
        timings: inout ImportTimings, progress: (Int) -> Void
    ) throws {
        let readAhead = StagingReadAhead(
            fd: reader.fileDescriptor, entries: entries, validator: validator.silenced(), fingerprint: fingerprint,
            path: path)
        defer { readAhead.stop() }
        let watch = WriteWaiterSignal.Watch(database: self.path)
        defer { watch.close() }
        var stagedSum: UInt64 = 0
        /// The batch of read rows being inserted, and where in it.
        var staged = StagedRows(), next = 0
        /// Rows of `entries` inserted; pupils inserted.
        var rowsDone = 0, pupilsDone = 0
        var lastProgress = 0
        /// Takes the next batch of read rows, waiting for it when `wait`; false when none
        /// is ready.
        func take(wait: Bool) throws -> Bool {
            guard let batch = try readAhead.take(wait: wait) else { return false }
            staged = batch.rows
            next = 0
            stagedSum &+= batch.sum
            return true
        }
        var pupil: [UInt8] = []
        /// Inserts one pupil's (pupil, card); a long pupil is read again from the file
        /// and must be the pupil pass 1 checked.
        func insert(_ e: PupilEntry, statement: Statement, db: Database) throws {
            guard e.longPupil else {
                return try e.withShortPupil { p in
                    try e.withCard { try ListRowValidator.insertPupil(listID: listID, pupil: p, card: $0, statement: statement, db: db) }
                }
            }
            guard try reader.reread(at: e.offset, length: e.length),
                  let row = validator.check(reader, line: Int(e.line)),
                  validator.pupilHashes(row, reader, k0: fingerprint.k0, k1: fingerprint.k1).pupil == e.pupil,
                  validator.cardKey() == (e.card, e.cardLo)
            else { throw ListImportError.fileChanged(file: path) }
            pupil.removeAll(keepingCapacity: true)
            validator.withPupil(reader) { pupil.append(contentsOf: $0) }
            try pupil.withUnsafeBufferPointer { p in
                try e.withCard { try ListRowValidator.insertPupil(listID: listID, pupil: p, card: $0, statement: statement, db: db) }
            }
        }
        /// Inserts `batch` pupils' (pupil, card) with one statement of as many (`statement`)
        /// when all are short (from memory), else one by one with `single`.
        func insert(_ batch: ArraySlice<PupilEntry>, statement: Statement, single: Statement, db: Database) throws {
            guard !batch.contains(where: \.longPupil) else {
                for e in batch { try insert(e, statement: single, db: db) }
                return
            }
            let h = statement.sqliteStatement
            sqlite3_reset(h)
            for (k, e) in batch.enumerated() {
                e.withShortPupil { p in
                    e.withCard { ListRowValidator.bindPupil(listID: listID, pupil: p, card: $0, h, from: Int32(3 * k + 1)) }
                }
            }
            try ListRowValidator.step(h, db)
        }
        while rowsDone < entries.count || pupilsDone < pupils.count {
            if next == staged.count && rowsDone < entries.count { _ = try take(wait: true) }
            let began = WriteBudget.nanos()
            try writeBriefly { db, budget in
                let batch = ListRowValidator.rowsPerInsert
                let insertRow = try db.cachedStatement(sql: ListRowValidator.insertRowsSQL(count: 1))
                let insertRows = try db.cachedStatement(sql: ListRowValidator.insertRowsSQL(count: batch))
                let insertPupil = try db.cachedStatement(sql: ListRowValidator.insertPupilsSQL(count: 1))
                let insertPupils = try db.cachedStatement(sql: ListRowValidator.insertPupilsSQL(count: batch))
                var done = 0
                // A turn inserts up to `batch` rows and as many pupils, about 0.1 ms: then
                // the waiter signal is looked at (once the transaction has done something).
                while !budget.spent(done) && !(done > 0 && watch.someoneWaits()) {
                    if next == staged.count && rowsDone < entries.count {
                        // The next rows, if read by now; else they are waited for outside
                        // the transaction.
                        guard try take(wait: false) else { break }
                    }
                    let rowReady = next < staged.count
                    let pupilReady = pupilsDone < pupils.count
                    if !rowReady && !pupilReady { break }
                    if rowReady {
                        // A statement of `batch` rows while a batch is left in what was read, else one row.
                        let n = next + batch <= staged.count ? batch : 1
                        try validator.insert(
                            staged, rows: next..<(next + n), listID: listID, statement: n == batch ? insertRows : insertRow,
                            single: insertRow, db: db)
                        next += n
                        rowsDone += n
                        done += n
                    }
                    if pupilReady {
                        let n = pupilsDone + batch <= pupils.count ? batch : 1
                        try insert(
                            pupils[pupilsDone..<(pupilsDone + n)], statement: n == batch ? insertPupils : insertPupil,
                            single: insertPupil, db: db)
                        pupilsDone += n
                        done += n
                    }
                }
            }
            guard validator.errors == 0 else { throw ListImportError.fileChanged(file: path) }
            let committed = WriteBudget.nanos()
            if rowsDone - lastProgress >= 10_000 || rowsDone == entries.count {
                lastProgress = rowsDone
                progress(rowsDone)
            }
            let slept = EntitlementStore.leaveTheLockFree(since: committed) + EntitlementStore.waitForWaiters(watch)
            timings.transaction(began: began, committed: committed, sleptMicros: slept)
        }
        guard stagedSum == fingerprint.sum else { throw ListImportError.fileChanged(file: path) }
    }

    /// Reports every row of a pupil whose pupil columns differ from another of that
    /// pupil's rows, naming the other row's line and the columns. Rows are grouped by
    /// their pupil's hash; a group that disagrees is read again from the file, so a hash
    /// collision between two pupils reports nothing and the columns named are the ones
    /// that differ.
    static func checkPupilsAgree(
        _ pupils: inout [PupilEntry], reader: inout CSVReader, validator: inout ListRowValidator
    ) throws(CSVReader.ReadFailure) {
        pupils.sort { ($0.hi, $0.lo, $0.pupil, $0.line) < ($1.hi, $1.lo, $1.pupil, $1.line) }
        var problems: [(line: Int, reason: String)] = []
        var start = 0
        while start < pupils.count {
            var end = start + 1
            var uniform = true
            while end < pupils.count && pupils[end].pupil == pupils[start].pupil && pupils[end].hi == pupils[start].hi
                && pupils[end].lo == pupils[start].lo
            {
                if pupils[end].columns != pupils[start].columns { uniform = false }
                end += 1
            }
            if !uniform {
                var values: [(line: Int, pupil: String, columns: [ListRowValidator.Column: String])] = []
                for e in pupils[start..<end] {
                    guard try reader.reread(at: e.offset, length: Int(e.length)),
                          let row = validator.check(reader, line: Int(e.line))
                    else { continue }
                    let v = validator.pupilValues(row, reader)
                    values.append((Int(e.line), v.pupil, v.columns))
                }
                for v in values {
                    guard let other = values.first(where: { $0.pupil == v.pupil && $0.columns != v.columns }) else { continue }
                    let differ = ListRowValidator.pupilColumns.filter { v.columns[$0] != other.columns[$0] }
                    problems.append((v.line, "pupil: \(differ.map(\.rawValue).joined(separator: ", ")) differ\(differ.count == 1 ? "s" : "") from line \(other.line), a row of the same pupil (every column but card and status belongs to the pupil)"))
                }
            }
            start = end
        }
        for p in problems.sorted(by: { $0.line < $1.line }) { validator.error(line: p.line, p.reason) }
    }

    /// Puts the previous list back in force; the list it replaces becomes the previous
    /// one, so a second rollback undoes the first.
    /// - Throws: `ListImportError.noPreviousList`.
    @discardableResult
    public func rollbackList() throws -> ListStatus {
        try pool.write { db in
            guard let previous = try Int64.fetchOne(db, sql: "SELECT id FROM list_version WHERE state = 'previous'")
            else { throw ListImportError.noPreviousList }
            let current = try Int64.fetchOne(db, sql: "SELECT id FROM list_version WHERE state = 'current'")
            try db.execute(sql: "UPDATE list_version SET state = 'current' WHERE id = ?", arguments: [previous])
            if let current {
                try db.execute(sql: "UPDATE list_version SET state = 'previous' WHERE id = ?", arguments: [current])
            }
        }
        guard let status = try listStatus() else { throw ListImportError.noPreviousList }
        return status
    }

    /// Verifies `signature` over the whole file, mapped read-only (Ed25519 hashes the
    /// message twice over, so it needs all of it; the mapping is page cache, not heap).
    static func verify(fd: Int32, size: Int, signature: Data, keys: [ListSigningKey.Public], path: String) throws
        -> (key: ListSigningKey.Public?, sha256: String)
    {
        if size == 0 {
            let empty = Data()
            return (keys.first { $0.verifies(signature, of: empty) }, Hex.lowercase(SHA256.hash(data: empty)))
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw ListImportError.cannotRead(file: path, errno: errno)
        }
        defer { munmap(base, size) }
        let bytes = UnsafeRawBufferPointer(start: base, count: size)
        let key = keys.first { $0.verifies(signature, of: bytes) }
        let digest = Hex.lowercase(SHA256.hash(data: bytes))
        return (key, digest)
    }

    /// Deletes what killed or failed imports left: lists staged by an import that is not
    /// running any more, and lists left `discarded`. Quick when there is none (one
    /// indexed read); the store runs it when it opens. A list an import in another
    /// process is staging is left alone (see `StagingLock`).
    public func removeLeftoverLists() throws {
        let any = try pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM list_version WHERE state IN ('staging', 'discarded') LIMIT 1") ?? false
        }
        guard any, let lock = try StagingLock.tryAcquire(database: path) else { return }
        try withExtendedLifetime(lock) { try purgeLeftovers() }
    }

    /// `removeLeftoverLists()` for a caller holding the staging lock: every staged list is
    /// then a dead import's.
    func purgeLeftovers() throws {
        let ids = try pool.write { db in
            try db.execute(sql: "UPDATE list_version SET state = 'discarded' WHERE state = 'staging'")
            return try Int64.fetchAll(db, sql: "SELECT id FROM list_version WHERE state = 'discarded'")
        }
        for id in ids { try purge(listID: id) }
    }

    /// Marks a staged list discarded and deletes its rows.
    func discard(listID: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE list_version SET state = 'discarded' WHERE id = ?", arguments: [listID])
        }
        try purge(listID: listID)
    }

    /// Deletes a discarded list's rows in write transactions that end when a writer waits
    /// (as staging's do, see `stage`), then the list.
    /// - Parameter deleted: called after each transaction with the rows deleted so far.
    func purge(listID: Int64, deleted: ((Int64) -> Void)? = nil) throws {
        var done = false
        var count: Int64 = 0
        let watch = WriteWaiterSignal.Watch(database: self.path)
        defer { watch.close() }
        while !done {
            done = try writeBriefly { db, budget in
                let delete = try db.cachedStatement(sql: """
                    DELETE FROM list_row WHERE list_id = ?1
                    AND card IN (SELECT card FROM list_row WHERE list_id = ?1 LIMIT 64)
                    """)
                let deletePupils = try db.cachedStatement(sql: """
                    DELETE FROM list_pupil WHERE list_id = ?1
                    AND (pupil, card) IN (SELECT pupil, card FROM list_pupil WHERE list_id = ?1 LIMIT 64)
                    """)
                var n = 0
                while !budget.spent(n, clockEvery: 1) && !(n > 0 && watch.someoneWaits()) {
                    try delete.execute(arguments: [listID])
                    if db.changesCount == 0 {
                        // The rows are gone: then the pupils, counted with them.
                        try deletePupils.execute(arguments: [listID])
                        if db.changesCount > 0 {
                            n += db.changesCount
                            continue
                        }
                        try db.execute(sql: "DELETE FROM list_version WHERE id = ?", arguments: [listID])
                        return true
                    }
                    n += db.changesCount
                    count += Int64(db.changesCount)
                }
                return false
            }
            deleted?(count)
            if !done {
                EntitlementStore.leaveTheLockFree()
                EntitlementStore.waitForWaiters(watch)
            }
        }
    }

    /// Runs `body` in one IMMEDIATE transaction that it keeps short: `body` does a piece of
    /// work at a time and stops when `budget.spent(...)` says so. A list import writes
    /// through this only, so that a tap in another process, whose wait for the write lock
    /// is short (it polls every 0.1 ms at first, see `TapLockWait`), always gets it.
    /// Between two calls the caller pauses with `leaveTheLockFree()`.
    ///
    /// Checkpoints: the writer checkpoints (PASSIVE, after its commit, without holding the
    /// write lock) once the WAL reaches `WriteBudget.checkpointPages`, so the WAL stays
    /// well under the 1,000 pages at which the tap's own commit would stop to checkpoint.
    /// Staged rows are worthless until the switch, so these commits are not fsynced
    /// (`synchronous = NORMAL`); the writer connection is back to FULL before it is released.
    func writeBriefly<T>(_ body: (Database, inout WriteBudget) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = \(WriteBudget.synchronous); PRAGMA wal_autocheckpoint = \(WriteBudget.checkpointPages)")
            var result: T?
            var failure: (any Error)?
            do {
                try db.inTransaction(.immediate) {
                    var budget = WriteBudget()
                    result = try body(db, &budget)
                    return .commit
                }
            } catch {
                failure = error
            }
            // Restored even when the work failed: the connection serves taps next.
            try db.execute(sql: "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 1000")
            if let failure { throw failure }
            return result!
        }
    }

    /// Gives the write lock to whoever waits for it (see `writeBriefly`): long enough for a
    /// tap that found it taken (polling every 0.1 ms) to get it next. The lock has been
    /// free since `committed` (monotonic nanoseconds; now by default): only what is left
    /// of `WriteBudget.pauseMicros` after the work done since is slept (a pause that hands
    /// over the lock to writers that cannot announce their wait, not a wait for an event).
    /// - Returns: the microseconds slept.
    @discardableResult
    static func leaveTheLockFree(since committed: UInt64 = WriteBudget.nanos()) -> UInt64 {
        let pause = UInt64(WriteBudget.pauseMicros)
        let worked = (WriteBudget.nanos() - committed) / 1000
        guard worked < pause else { return 0 }
        usleep(useconds_t(pause - worked))
        return pause - worked
    }

    /// Leaves the lock free while a writer in another process says it waits, up to
    /// `WriteBudget.waiterMicros`: it stops saying so once it has the lock. The writer
    /// cannot tell the import when it is done other than by its stamp going stale, so this
    /// looks every 50 µs (a bounded wait for another process, not a poll for an event).
    /// Returns at once when nobody waits.
    /// - Returns: the microseconds slept.
    @discardableResult
    static func waitForWaiters(_ watch: WriteWaiterSignal.Watch) -> UInt64 {
        var slept: UInt64 = 0
        while slept < UInt64(WriteBudget.waiterMicros) && watch.someoneWaits() {
            usleep(50)
            slept += 50
        }
        return slept
    }
}

/// How much one import write transaction may do: `maxWork` pieces (rows), or `maxNanos`
/// from its start, whichever comes first; and how the import leaves the lock between two.
///
/// Staging a list and deleting an old one end a transaction early when a waiter says so
/// (`WriteWaiterSignal`, looked at every 32 rows or so), so a tap waits for a few rows
/// and a commit, not for the transaction, and transactions can be long: 10 ms, ten times
/// fewer commits than the 1 ms ones before 2 Dec 2026 (each commit writes every B-tree's
/// right edge again). A writer on SQLite's own busy timeout (sleeps of 1, 2, 5 ... ms),
/// which cannot say it waits, gets the lock at one of the pauses after each transaction.
struct WriteBudget {
    static let maxWork = 20_000
    static let maxNanos: UInt64 = 10_000_000
    /// Pieces between two looks at the clock.
    static let clockEvery = 16
    /// At least this long free between two transactions: two of a tap's 0.1 ms polls and
    /// more, so a tap that found the lock taken has it at once.
    static let pauseMicros: useconds_t = 250
    /// The longest the lock is left free for writers that say they wait, after a
    /// transaction: a tap's whole decision takes well under this.
    static let waiterMicros: useconds_t = 5000
    /// 1 MiB of WAL, a quarter of the 1,000 pages at which any committer checkpoints.
    static let checkpointPages = 256
    static let synchronous = "NORMAL"
    private let start = WriteBudget.nanos()

    static func nanos() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// True when `done` pieces are enough for one transaction (the clock is read every
    /// `clockEvery` pieces; at least one piece is always done).
    func spent(_ done: Int, clockEvery: Int = WriteBudget.clockEvery) -> Bool {
        if done >= WriteBudget.maxWork { return true }
        if done == 0 || done % clockEvery != 0 { return false }
        return WriteBudget.nanos() - start >= WriteBudget.maxNanos
    }
}

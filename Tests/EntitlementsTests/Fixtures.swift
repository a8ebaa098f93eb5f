import Foundation
import GRDB
import NECCard
@testable import Entitlements

/// Synthetic card numbers and lists: OID 9999, pupils `TEST-0000001`, so no fixture can
/// be mistaken for a real child's card.
enum Fixture {
    /// A valid ISRN with OID 9999 and ISSN `n`.
    static func isrn(_ n: Int) -> String {
        let body = "6335979999" + String(format: "%07d", n)
        let check = Luhn.checkDigit(for: body.utf8.map { $0 - 48 })
        return body + String(check)
    }

    /// A 7-byte UID for pupil `n`.
    static func uid(_ n: Int) -> String { String(format: "04%012X", 0xA1B2_0000_0000 + n) }

    static func pupil(_ n: Int) -> String { String(format: "TEST-%07d", n) }

    /// An identity as a reader would produce it: DESFire, ISRN, UID, expiry.
    static func identity(isrn: String? = nil, uid: String? = nil, expiry: String? = "2030-07-31") -> CardIdentity {
        CardIdentity(
            media: .desfire, uid: uid.flatMap { Hex.bytes($0) }, isrn: isrn.map { ISRN(unchecked: $0) },
            expiry: expiry.flatMap { CivilDate(iso: $0) })
    }

    /// A fresh directory under /tmp, removed by the caller when it likes.
    static func directory() -> String {
        let path = NSTemporaryDirectory() + "entitlements-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, to path: String) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }

    /// A list of `pupils` fsm pupils, each with an ISRN row and a UID row.
    static func twoCardList(pupils: Int, prefix: String = "TEST") -> String {
        var out = "card,pupil,entitlement\n"
        for n in 1...pupils {
            let p = prefix == "TEST" ? pupil(n) : String(format: "\(prefix)-%07d", n)
            out += "\(isrn(n)),\(p),fsm\n\(uid(n)),\(p),fsm\n"
        }
        return out
    }

    /// The default decision policy (Europe/London, a 7-day list, stale lists allowed),
    /// handed to every decision the tests make unless they say otherwise.
    static let policy = DecisionPolicy()

    /// A store in a fresh directory with `list` imported at `at`.
    static func store(list: String? = nil, at: Date = Date()) throws -> (EntitlementStore, String) {
        let dir = directory()
        let store = try EntitlementStore(path: dir + "/necd.sqlite")
        if let list {
            write(list, to: dir + "/list.csv")
            try store.importList(path: dir + "/list.csv", at: at)
        }
        return (store, dir)
    }

    /// `count` more store connections to the database at `path`, as that many processes
    /// would have, for tests of many deciding at once.
    static func connections(_ count: Int, to path: String) throws -> [EntitlementStore] {
        try (0..<count).map { _ in try EntitlementStore(path: path) }
    }

    /// Runs `body` while another connection, as another process would, holds the write
    /// lock of the database at `path` (an IMMEDIATE transaction begun and kept open).
    static func whileWriteLocked<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let other = try DatabaseQueue(path: path)
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let released = DispatchSemaphore(value: 0)
        let holder = Thread {
            try? other.writeWithoutTransaction { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                holding.signal()
                release.wait()
                try db.execute(sql: "ROLLBACK")
            }
            released.signal()
        }
        holder.start()
        holding.wait()
        defer {
            release.signal()
            released.wait()
        }
        return try body()
    }

    /// An instant from an ISO-8601 UTC text.
    static func utc(_ text: String) -> Date {
        let f = ISO8601DateFormatter()
        if text.contains(".") { f.formatOptions = [.withInternetDateTime, .withFractionalSeconds] }
        return f.date(from: text)!
    }

    /// Path of an executable built next to the test bundle.
    static func builtExecutable(_ name: String) -> String? {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        // The bundle may sit in a .xctest directory on some platforms.
        if dir.hasSuffix(".xctest") || dir.hasSuffix("/Contents/MacOS") { dir = (dir as NSString).deletingLastPathComponent }
        let path = dir + "/" + name
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }
}

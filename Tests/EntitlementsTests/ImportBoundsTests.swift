import Foundation
import Testing
@testable import Entitlements

/// A list file of any size costs bounded memory and a bounded number of error lines.
@Suite struct ImportBoundsTests {
    let now = Fixture.utc("2026-11-27T12:00:00Z")

    /// Imports `bytes` over a good list; returns the issues reported (directory removed
    /// from the file names) and the error thrown, and checks that the list in force stays.
    func rejected(_ bytes: [UInt8], name: String = "bad.csv") throws -> (issues: [String], error: ListImportError?) {
        let (store, dir) = try Fixture.store(list: Fixture.twoCardList(pupils: 3), at: now)
        let path = dir + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        var issues: [String] = []
        var thrown: ListImportError?
        do {
            try store.importList(path: path, at: now, report: { issues.append($0.description) })
        } catch let error as ListImportError {
            thrown = error
        }
        #expect(try store.lookup(card: Fixture.isrn(2), at: now, policy: Fixture.policy).verdict.pupil == Fixture.pupil(2))
        #expect(try store.listStatus()?.rows == 6)
        try? FileManager.default.removeItem(atPath: dir)
        return (issues.map { $0.replacingOccurrences(of: dir + "/", with: "") }, thrown)
    }

    let header = "card,pupil,entitlement,message\n"
    var good: String { "\(Fixture.isrn(10)),TEST-0000010,fsm,\n" }

    @Test func tenMegabyteLineIsRejectedWithItsLine() throws {
        var bytes = Array((header + good).utf8)
        bytes += [UInt8](repeating: UInt8(ascii: "A"), count: 10 << 20)
        bytes += Array("\n\(Fixture.isrn(11)),TEST-0000011,lunch,\n".utf8)
        let (issues, error) = try rejected(bytes, name: "big.csv")
        #expect(issues == [
            "big.csv:3: record longer than 65536 bytes, more than any list row holds (not a CSV list, or a quote left open?)",
            "big.csv:4: entitlement: must be fsm, paid or fsm+paid",
        ])
        #expect(error?.description.hasSuffix("big.csv: rejected, 2 errors; the list in force is unchanged") == true)
    }

    @Test func longFieldIsRejectedWithItsLineAndField() throws {
        let long = String(repeating: "x", count: CSVReader.maxField + 1)
        let (issues, _) = try rejected(Array((header + good + "\(Fixture.isrn(11)),TEST-0000011,fsm,\(long)\n").utf8))
        #expect(issues == [
            "bad.csv:3: field 4 is longer than 4096 bytes, more than any list column holds (binary data, or a quote left open?)",
        ])
        // At the limit it is the message rule that applies, not the reader's.
        let limit = String(repeating: "x", count: CSVReader.maxField)
        let (atLimit, _) = try rejected(Array((header + good + "\(Fixture.isrn(11)),TEST-0000011,fsm,\(limit)\n").utf8))
        #expect(atLimit == ["bad.csv:3: message: longer than 500 characters"])
    }

    /// The reader itself: a 10 MB record, unquoted or in a quote left open across lines,
    /// never makes it hold more than its buffer and one bounded record.
    @Test func readerMemoryStaysBounded() throws {
        let dir = Fixture.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for quoted in [false, true] {
            let path = dir + "/big-\(quoted).csv"
            var bytes = Array("card,pupil\n".utf8)
            if quoted { bytes.append(UInt8(ascii: "\"")) }
            // 10 MiB, with a line break every 100 KiB inside the quoted one.
            for i in 0..<(10 << 20) { bytes.append(quoted && i % 100_000 == 99_999 ? 0x0A : UInt8(ascii: "B")) }
            bytes += Array((quoted ? "\",x\nnext,row\n" : "\nnext,row\n").utf8)
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            let fd = open(path, O_RDONLY)
            defer { close(fd) }
            var reader = CSVReader(fd: fd)
            var maxHeld = 0
            #expect(try reader.next())
            #expect(try reader.next())
            #expect(reader.syntaxError == .recordTooLong)
            #expect(reader.recordLine == 2)
            maxHeld = max(maxHeld, reader.heldBytes)
            #expect(try reader.next())
            #expect(reader.syntaxError == nil)
            #expect(reader.fieldCount == 2 && reader.field(0) == "next" && reader.field(1) == "row")
            // The line breaks inside the quoted record still count.
            #expect(reader.recordLine == (quoted ? 3 + (10 << 20) / 100_000 : 3))
            #expect(try !reader.next())
            #expect(maxHeld <= 1 << 20, "held \(maxHeld) bytes")
        }
    }

    @Test func atMostAThousandErrorsAreListed() throws {
        var text = header + good
        for n in 0..<1500 { text += "\(Fixture.isrn(100 + n)),TEST-\(n),lunch,\n" }
        let (issues, error) = try rejected(Array(text.utf8))
        #expect(issues.count == 1000)
        #expect(issues.first == "bad.csv:3: entitlement: must be fsm, paid or fsm+paid")
        #expect(issues.last == "bad.csv:1002: entitlement: must be fsm, paid or fsm+paid")
        guard case .rejected(_, let count) = error else { Issue.record("not rejected: \(String(describing: error))"); return }
        #expect(count == 1500)
        #expect(error?.description.hasSuffix(
            "bad.csv: rejected, 1500 errors: the first 1000 are listed, and 500 more errors are not; the list in force is unchanged") == true)
    }
}

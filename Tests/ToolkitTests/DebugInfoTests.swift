import Foundation
import NECTestSupport
import Testing

/// `necctl debuginfo`: the file has what a developer needs and nothing that names a child.
struct DebugInfoTests {
    /// The synthetic list's cards and pupils, from its CSV.
    private func listValues(_ csv: String) throws -> (cards: [String], pupils: [String]) {
        // gen-list ends lines with CRLF, which Swift counts as one Character: split on any newline.
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(whereSeparator: \.isNewline)
        let header = lines[0].split(separator: ",").map { String($0) }
        let card = try #require(header.firstIndex(of: "card"))
        let pupil = try #require(header.firstIndex(of: "pupil"))
        var cards: [String] = []
        var pupils: [String] = []
        // gen-list quotes only the message column, which comes after card and pupil.
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            cards.append(fields[card])
            pupils.append(fields[pupil])
        }
        return (cards, pupils)
    }

    @Test func fileHasTheSectionsAndNoCardNumberUIDPupilOrKey() async throws {
        let scratch = try Scratch()
        let database = scratch.file("necd.sqlite")
        let keygen = try await ChildProcess.necctl(["list", "keygen", "--out", scratch.file("signing.key")])
        try #require(keygen.status == 0)
        let keyLine = keygen.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let publicKey = try #require(keyLine.split(separator: "\"").dropFirst().first.map(String.init))

        // The list's file name itself is bait: doctor shows it in the list check.
        let csv = try await importGeneratedList(rows: 300, into: database, scratch: scratch, name: "list.csv")
        let (cards, pupils) = try listValues(csv)
        let isrns = cards.filter { $0.count == 18 }
        let uids = cards.filter { $0.count != 18 }
        try #require(isrns.count > 10 && uids.count > 2 && pupils.count == 300)
        let bait = scratch.file("\(isrns[0]).csv")
        try FileManager.default.copyItem(atPath: csv, toPath: bait)
        let imported = try await ChildProcess.necctl(["list", "import", bait, "--database", database])
        try #require(imported.status == 0, "\(imported.stderr)")

        let config = try scratch.write("necd.toml", """
            # Till 1 test cards: \(isrns[1]) and \(ISRNText.grouped(isrns[2])), uid \(uids[0])
            # the tap that failed: {"card":{"isrn":"\(isrns[3])","uid":"\(uids[1])"},"pupil":"\(pupils[1])"}
            # pupil \(pupils[2]) was declined; card UID: \(ISRNText.spaced(uids[2]))
            socket = "necd.sock"
            database = "necd.sqlite"
            trusted_list_keys = [
                "\(publicKey)",
            ]
            """)
        let output = scratch.file("report.txt")
        let result = try await ChildProcess.necctl(["debuginfo", "--config", config, "--output", output])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("wrote \(output)"))
        let text = try String(contentsOfFile: output, encoding: .utf8)

        for section in ["===== versions", "necctl ", "pcscd ", "===== readers (PC/SC)", "===== USB devices",
                        "===== kernel modules of interest", "===== necctl doctor", "===== configuration \(config)"] {
            #expect(text.contains(section), "missing \(section)")
        }
        #expect(text.contains("FAULT   necd"), "doctor's output is in the file")
        #expect(text.contains("socket = \"necd.sock\""), "the configuration is in the file")

        for isrn in isrns {
            #expect(!text.contains(isrn), "ISRN \(isrn) leaked")
            #expect(!text.contains(ISRNText.grouped(isrn)), "ISRN \(isrn) leaked, grouped")
        }
        for uid in uids {
            #expect(!text.contains(uid), "UID \(uid) leaked")
            #expect(!text.contains(ISRNText.spaced(uid)), "UID \(uid) leaked, spaced")
        }
        for pupil in pupils {
            #expect(!text.contains(pupil), "pupil \(pupil) leaked")
        }
        #expect(!text.contains(publicKey), "trusted key leaked")
        // Masked, not deleted: the developer still sees that a card number was there.
        #expect(text.contains("633597******" + isrns[1].suffix(4)))
        #expect(text.contains("633597******" + isrns[2].suffix(4)))
    }

    @Test func defaultFileNameHasHostAndDate() async throws {
        let scratch = try Scratch()
        try scratch.write("necd.toml", "socket = \"necd.sock\"\ndatabase = \"necd.sqlite\"\n")
        let result = try await ChildProcess.necctl(["debuginfo", "--config", scratch.file("necd.toml")], directory: scratch.path)
        #expect(result.status == 0, "\(result.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: scratch.path)
        let report = try #require(files.first { $0.hasPrefix("necd-debuginfo-") && $0.hasSuffix(".txt") })
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? ""
        #expect(report.contains(host))
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.file(report))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    /// The redactor through `debuginfo --redact`: event lines, logs and lists.
    @Test(arguments: [
        (#"{"class":"TAP","seq":4,"card":{"isrn":"633597999900000018","uid":"04A1B2C3D4E580","media":"desfire"},"decision":"authorised","pupil":"TEST-0001"}"#,
         #"{"class":"TAP","seq":4,"card":{"isrn":"633597******0018","uid":"04************","media":"desfire"},"decision":"authorised","pupil":"[pupil]"}"#),
        ("card 633597 9999 0000 0018 declined", "card 633597******0018 declined"),
        ("UID  04 A1 B2 C3 D4 E5 80 (7 bytes)", "UID  04************ (7 bytes)"),
        ("uid=DEADBEEF tapped", "uid=DE****** tapped"),
        ("chip uid 0102030405060708090A", "chip uid 01******************"),
        ("pupil     TEST-0002", "pupil     [pupil]"),
        ("released lunch for pupil=P0000042.", "released lunch for pupil=[pupil]"),
        ("seq 633597999900000018999 is not an ISRN", "seq 633597999900000018999 is not an ISRN"),
        ("reader ACS ACR1252 01 00 present", "reader ACS ACR1252 01 00 present"),
        ("sha256 0c5e3f", "sha256 0c5e3f"),
        ("signed by ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=", "signed by [key removed]"),
    ])
    func redactsOneLine(input: String, expected: String) async throws {
        let scratch = try Scratch()
        let file = try scratch.write("in.log", input + "\n")
        let result = try await ChildProcess.necctl(["debuginfo", "--redact", file])
        #expect(result.status == 0)
        #expect(result.stdout == expected + "\n")
    }

    @Test(arguments: ["\n", "\r\n"])
    func redactsTheCardAndPupilColumnsOfAList(lineEnd: String) async throws {
        let scratch = try Scratch()
        let file = try scratch.write("list.csv", [
            "card,pupil,entitlement,message",
            #"633597999900000018,TEST-0001,fsm,"Halal, no gelatine""#,
            "04A1B2C3D4E580,TEST-0002,paid,",
            "",
        ].joined(separator: lineEnd))
        let result = try await ChildProcess.necctl(["debuginfo", "--redact", file])
        #expect(result.status == 0)
        #expect(result.stdout == [
            "card,pupil,entitlement,message",
            #"633597******0018,[pupil],fsm,"Halal, no gelatine""#,
            "04************,[pupil],paid,",
            "",
        ].joined(separator: lineEnd))
    }

    @Test func aGeneratedListRedactsCompletely() async throws {
        let scratch = try Scratch()
        let csv = scratch.file("list.csv")
        let generated = try await ChildProcess.run(
            "/usr/bin/env", ["python3", BuiltProducts.packageRoot.appendingPathComponent("scripts/gen-list").path, "500", "--out", csv])
        try #require(generated.status == 0)
        let original = try String(contentsOfFile: csv, encoding: .utf8)
        let result = try await ChildProcess.necctl(["debuginfo", "--redact", csv])
        #expect(result.status == 0)
        #expect(!result.stdout.contains("TEST-"))
        let rows = result.stdout.split(whereSeparator: \.isNewline)
        #expect(rows.count == original.split(whereSeparator: \.isNewline).count)
        for row in rows.dropFirst() {
            let card = row.prefix { $0 != "," }
            #expect(card.hasPrefix("633597******") || card.dropFirst(2).allSatisfy { $0 == "*" }, "\(row)")
        }
    }
}

/// Card numbers written the ways people and tools write them.
enum ISRNText {
    /// `633597 9999 0000 0018`.
    static func grouped(_ isrn: String) -> String {
        let d = Array(isrn)
        return "\(String(d[0..<6])) \(String(d[6..<10])) \(String(d[10..<14])) \(String(d[14...]))"
    }

    /// `04 A1 B2 C3`: hex in spaced pairs, as `necctl scan` prints a UID.
    static func spaced(_ hex: String) -> String {
        stride(from: 0, to: hex.count, by: 2).map { offset in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return String(hex[start..<hex.index(start, offsetBy: 2)])
        }.joined(separator: " ")
    }
}

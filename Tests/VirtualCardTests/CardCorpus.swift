import Foundation
import NECCard
import NECCardRecording
import VirtualCard

/// What a corpus recording must decode to: the `*.expected.json` beside each `*.jsonl` in
/// Tests/CardCorpus. Written by hand from the card each recording was made of, never from
/// what the decoder said of it. Keys absent from the file must be absent from the identity.
struct CorpusExpectation: Codable, Equatable, CustomStringConvertible {
    var media: String?
    var uid: String?
    var uid_random: Bool?
    var isrn: String?
    var expiry: String?
    var no_expiry: Bool?
    var mcrn: String?
    var readable: Bool?
    /// The names of the checks that fail, in order.
    var failed_checks: [String]?
    var apdus: Int
    /// True when the read gives no identity (the card left mid-read).
    var read_error: Bool?
    /// The ITSO Directory's card-blocked bit, its sequence (DIRS#) and INS#, as
    /// `necctl scan` reads them; absent when the card has no Directory to read.
    var card_blocked: Bool?
    var directory_sequence: Int?
    var ins: Int?

    /// The identity a decoder gave, in the same terms.
    init(_ identity: CardIdentity) {
        media = identity.media.rawValue
        uid = identity.uidHex
        uid_random = identity.uidRandom
        isrn = identity.isrn?.digits
        expiry = identity.expiry?.description
        no_expiry = identity.noExpiry ? true : nil
        mcrn = identity.mcrn
        readable = identity.isReadable
        failed_checks = identity.checks.filter { !$0.ok }.map(\.name)
        apdus = identity.apduCount
        if case .read(let directory, _) = identity.directory {
            card_blocked = directory.isBlocked
            directory_sequence = Int(directory.sequence)
            ins = directory.shellIteration.map(Int.init)
        }
    }

    /// A read that gave no identity after `apdus` exchanges.
    init(readErrorAfter apdus: Int) {
        self.apdus = apdus
        read_error = true
    }

    init(media: String, uid: String?, uidRandom: Bool = false, isrn: String? = nil, expiry: String? = nil,
         noExpiry: Bool = false, mcrn: String? = nil, readable: Bool = true, failed: [String] = [], apdus: Int,
         blocked: Bool? = nil, sequence: Int? = nil, ins: Int? = nil) {
        self.card_blocked = blocked
        self.directory_sequence = sequence
        self.ins = ins
        self.media = media
        self.uid = uid
        self.uid_random = uidRandom
        self.isrn = isrn
        self.expiry = expiry
        self.no_expiry = noExpiry ? true : nil
        self.mcrn = mcrn
        self.readable = readable
        self.failed_checks = failed
        self.apdus = apdus
    }

    var json: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }

    var description: String { String(decoding: json, as: UTF8.self) }
}

/// The corpus: synthetic recordings of every medium, geometry and fault the VirtualCard
/// models give, plus Flipso's public demo shells as decoding vectors, each with its
/// expected identity. `scripts/gen-card-corpus` writes them to Tests/CardCorpus; the
/// corpus tests replay what is there.
enum CardCorpus {
    struct Entry {
        let name: String
        let tap: RecordedTap
        let expected: CorpusExpectation
    }

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("CardCorpus")

    /// The synthetic ISRN 633597 9999 NNNNNNN with its Luhn digit.
    static func isrn(_ serial: Int) -> ISRN {
        let body = "6335979999" + String(repeating: "0", count: 7 - String(serial).count) + String(serial)
        return ISRN(unchecked: body + String(Luhn.checkDigit(for: body.utf8.map { $0 - 48 })))
    }

    static let uid7: [UInt8] = [0x04, 0x5E, 0x11, 0x7A, 0x2C, 0x90, 0x81]
    static let expiry = CivilDate(iso: "2031-03-31")!

    static func shell(_ serial: Int, expiry: CivilDate? = CardCorpus.expiry, mcrn: String? = nil, fileLength: Int = 32) -> VirtualShell {
        VirtualShell(isrn: isrn(serial), expiry: expiry, mcrn: mcrn, fileLength: fileLength)
    }

    // MARK: Recording

    struct LeftTheField: Error, CustomStringConvertible {
        var description: String { "the card left the field (no answer)" }
    }

    /// An emulated card as a transport: what vpcd would carry.
    struct EmulatedTransport: APDUTransport {
        var card: EmulatedCard
        mutating func transmit(_ command: [UInt8]) throws -> [UInt8] {
            switch card.receive(command) {
            case .answer(let bytes): return bytes
            case .remove: throw LeftTheField()
            }
        }
    }

    /// A card that is no model: answers from a table, `91 1C` (or `6D 00`) otherwise.
    struct TableTransport: APDUTransport {
        let answers: [[UInt8]: [[UInt8]]]
        var given: [[UInt8]: Int] = [:]
        mutating func transmit(_ command: [UInt8]) throws -> [UInt8] {
            let n = given[command, default: 0]
            given[command] = n + 1
            if let list = answers[command], n < list.count { return list[n] }
            return command.first == 0x90 ? [0x91, 0x1C] : [0x6D, 0x00]
        }
    }

    /// Reads `transport` with the decoder, recording every exchange as `necctl scan --record`
    /// does (the ITSO Directory read too, as scan always reads it).
    static func record(atr: [UInt8], over transport: some APDUTransport, reader: String = "Virtual Reader 00 00") -> RecordedTap {
        var tracing = TracingTransport(transport)
        _ = try? CardReader.read(atr: atr, transport: &tracing, directory: .inform)
        return RecordedTap(
            necdRelease: "corpus", time: "2026-12-02T00:00:00.000Z", reader: reader, atr: atr,
            exchanges: tracing.exchanges.map { RecordedExchange(command: $0.command, response: $0.response, error: $0.error) })
    }

    static func record(_ model: VirtualCardModel, seed: UInt64 = 1) -> RecordedTap {
        record(atr: model.atr, over: EmulatedTransport(card: EmulatedCard(model: model, seed: seed)))
    }

    /// A DESFire card of given bytes: the UID, the ITSO application with `file` as its
    /// shell file (0x0F) and `directory`, when given, as file 0x00 (where the usual
    /// geometry, S = 16, puts it). Reads of file 0x00 are answered as a DESFire card
    /// answers READ DATA: the bytes asked for, or to the end for length 0, `91 BE` past it.
    struct DESFireFiles: APDUTransport {
        let uid: [UInt8]
        let file: [UInt8]
        let directory: [UInt8]?
        mutating func transmit(_ command: [UInt8]) throws -> [UInt8] {
            if command == CardUID.getDataCommand { return uid + [0x90, 0x00] }
            if command == DESFire.selectITSO { return [0x91, 0x00] }
            if command == DESFire.readShell { return file + [0x91, 0x00] }
            guard command.count == 13, command[0] == 0x90, command[1] == 0xBD, command[5] == 0x00, let directory else {
                return [0x91, 0x1C]
            }
            let offset = Int(command[6]) | Int(command[7]) << 8 | Int(command[8]) << 16
            let length = Int(command[9]) | Int(command[10]) << 8 | Int(command[11]) << 16
            let end = length == 0 ? directory.count : offset + length
            guard offset <= directory.count, end <= directory.count else { return [0x91, 0xBE] }
            return Array(directory[offset..<end]) + [0x91, 0x00]
        }
    }

    static func desfireTap(uid: [UInt8], file: [UInt8], directory: [UInt8]? = nil) -> RecordedTap {
        record(atr: VirtualCardModel.desfireITSO(shell: shell(1)).atr, over: DESFireFiles(uid: uid, file: file, directory: directory))
    }

    /// The shell with a SECRC that is right for its bytes.
    static func sealed(_ shell: [UInt8]) -> [UInt8] {
        var out = shell
        let length = Int(shell[0] >> 2) * 4
        let crc = CRCB.checksum(out[0..<(length - 2)])
        out[length - 2] = UInt8(crc & 0xFF)
        out[length - 1] = UInt8(crc >> 8)
        return out
    }

    // MARK: The entries

    static let flipsoBlockedShell = Hex.bytes("18 11 63 35 97 02 26 02 00 00 29 07 04 02 2B 26 40 10 08 07 00 00 44 C7")!
    static let flipsoBlockedDirectory = Hex.bytes("00 31 03 8A 00 2B 26 01 81 C0 2B 26 03 88 40 AB 26")!
        + [UInt8](repeating: 0, count: 20) + Hex.bytes("04 EE 1A EB 02 FF 4F 00 00 00 00 00 11")!
    static let flipsoShell = Hex.bytes("18 11 63 35 97 02 87 07 00 00 79 07 04 01 36 7F A0 10 08 07 00 00 2C 82")!
    static let flipsoDirectory = Hex.bytes("00 21 04 7E 01 00 00 03 DA D3 2A 70 03 DA D3 2A 74")!
        + [UInt8](repeating: 0, count: 20) + Hex.bytes("8C EE 76 E9 83 1F F0 00 00 00 00 00 08 00 00 4E 30 F3")!

    static var entries: [Entry] {
        let u = Hex.string(uid7)
        var list: [Entry] = []
        func add(_ name: String, _ tap: RecordedTap, _ expected: CorpusExpectation) {
            list.append(Entry(name: name, tap: tap, expected: expected))
        }
        // The random ID seed 7 draws (4 bytes, 08 first): new on every tap of the real card.
        let randomID = Hex.string(EmulatedCard(model: .desfireRandomUID(), seed: 7).uid)
        add("desfire-nec", record(.desfireITSO(uid: uid7, shell: shell(101))),
            .init(media: "desfire", uid: u, isrn: isrn(101).digits, expiry: "2031-03-31", apdus: 5, blocked: false, sequence: 1, ins: 1))
        add("desfire-multiframe", record(.desfireITSO(uid: uid7, shell: shell(102, fileLength: 128))),
            .init(media: "desfire", uid: u, isrn: isrn(102).digits, expiry: "2031-03-31", apdus: 7, blocked: false, sequence: 1, ins: 1))
        add("desfire-mcrn-shell", record(.desfireITSO(uid: uid7, shell: shell(103, mcrn: "99990000000000000042"))),
            .init(media: "desfire", uid: u, isrn: isrn(103).digits, expiry: "2031-03-31", mcrn: "99990000000000000042", apdus: 5, blocked: false, sequence: 1, ins: 1))
        add("desfire-no-expiry", record(.desfireITSO(uid: uid7, shell: shell(104, expiry: nil))),
            .init(media: "desfire", uid: u, isrn: isrn(104).digits, noExpiry: true, apdus: 5, blocked: false, sequence: 1, ins: 1))
        add("desfire-expired", record(.desfireITSO(uid: uid7, shell: shell(105, expiry: VirtualCardModel.pastExpiry))),
            .init(media: "desfire", uid: u, isrn: isrn(105).digits, expiry: "2024-07-31", apdus: 5, blocked: false, sequence: 1, ins: 1))
        add("desfire-bad-secrc", record(VirtualCardModel.desfireITSO(uid: uid7, shell: shell(106)).with(.badSECRC)),
            .init(media: "desfire", uid: u, readable: false, failed: ["secrc"], apdus: 3))
        add("desfire-bad-luhn", record(VirtualCardModel.desfireITSO(uid: uid7, shell: shell(107)).with(.badLuhn)),
            .init(media: "desfire", uid: u, isrn: String(isrn(107).digits.dropLast()) + String((Int(String(isrn(107).digits.last!))! + 1) % 10),
                  readable: false, failed: ["luhn"], apdus: 3))
        // A non-decimal nibble (A) in the ISSN, byte 8, under a SECRC that is right.
        var nonBCD = shell(108).fileBytes()
        nonBCD[8] = 0xA0 | nonBCD[8] & 0x0F
        add("desfire-non-bcd", desfireTap(uid: uid7, file: sealed(nonBCD)),
            .init(media: "desfire", uid: u, readable: false, failed: ["bcd"], apdus: 3))
        // The compact shell of paper tickets: no ISRN, the UID is the identity.
        add("desfire-compact-shell", desfireTap(uid: uid7, file: [0x18, 0x01, 0x04] + [UInt8](repeating: 0, count: 29)),
            .init(media: "desfire", uid: u, apdus: 3))
        add("desfire-random-uid", record(.desfireRandomUID(shell: shell(109)), seed: 7),
            .init(media: "desfire", uid: randomID, uidRandom: true, isrn: isrn(109).digits, expiry: "2031-03-31", apdus: 5, blocked: false, sequence: 1, ins: 1))
        add("desfire-random-uid-no-itso", record(.desfireRandomUID(), seed: 7),
            .init(media: "desfire", uid: randomID, uidRandom: true, readable: false, apdus: 3))
        add("desfire-no-itso", record(.desfireWithoutITSO(uid: uid7)),
            .init(media: "desfire", uid: u, apdus: 3))
        add("desfire-removed-mid-read", record(VirtualCardModel.desfireITSO(uid: uid7, shell: shell(110)).with(.removeAfter(apdus: 2))),
            CorpusExpectation(readErrorAfter: 2))
        // Every answer is 1 to 64 random bytes: the UID answer ends in no 90 00, the
        // select answers with data where a DESFire card gives none, and the read stops there.
        add("desfire-garbage", record(VirtualCardModel.desfireITSO(uid: uid7, shell: shell(113)).with(.garbage(seed: 21))),
            .init(media: "desfire", uid: nil, readable: false, failed: ["uid", "itso_application"], apdus: 2))
        add("cmd2-nec", record(.cmd2ITSO(uid: uid7, shell: shell(111))),
            .init(media: "iso7816", uid: u, isrn: isrn(111).digits, expiry: "2031-03-31", apdus: 7, blocked: false, sequence: 1, ins: 1))
        add("cmd2-bad-secrc", record(VirtualCardModel.cmd2ITSO(uid: uid7, shell: shell(112)).with(.badSECRC)),
            .init(media: "iso7816", uid: u, readable: false, failed: ["secrc"], apdus: 3))
        // Neither select finds ITSO, so nothing says what the chip is: media unknown.
        add("cmd2-no-itso", record(VirtualCardModel(chip: .iso7816, uid: .fixed(uid7), shell: nil)),
            .init(media: "unknown", uid: u, apdus: 3))
        // The ITSO Directory as cards carry it: blocked, missing, CMD2's two copies whose
        // sequence wrapped (the copy numbered 00 is newer than FF), 80-byte sectors.
        add("desfire-blocked", record(VirtualCardModel.desfireITSO(uid: uid7, shell: shell(114)).withDirectory(.blockedCard)),
            .init(media: "desfire", uid: u, isrn: isrn(114).digits, expiry: "2031-03-31", apdus: 5, blocked: true, sequence: 1, ins: 1))
        add("desfire-no-directory", record(VirtualCardModel.desfireITSO(uid: uid7, shell: shell(115)).withDirectory(nil)),
            .init(media: "desfire", uid: u, isrn: isrn(115).digits, expiry: "2031-03-31", apdus: 4))
        add("cmd2-sequence-wrapped", record(VirtualCardModel.cmd2ITSO(uid: uid7, shell: shell(116))
                .withDirectory(VirtualDirectory(blocked: true, sequence: 0xFF), otherCopy: VirtualDirectory(sequence: 0x00))),
            .init(media: "iso7816", uid: u, isrn: isrn(116).digits, expiry: "2031-03-31", apdus: 8, blocked: false, sequence: 0, ins: 1))
        var large = shell(117)
        large.geometry = VirtualCardTruth.largeGeometry
        add("cmd2-large-geometry", record(.cmd2ITSO(uid: uid7, shell: large)),
            .init(media: "iso7816", uid: u, isrn: isrn(117).digits, expiry: "2031-03-31", apdus: 7, blocked: false, sequence: 1, ins: 1))
        add("desfire-ev2-random-uid", record(.desfireRandomUID(shell: shell(118), generation: .ev2), seed: 7),
            .init(media: "desfire", uid: randomID, uidRandom: true, isrn: isrn(118).digits, expiry: "2031-03-31", apdus: 5, blocked: false, sequence: 1, ins: 1))
        add("desfire-ev3-random-uid", record(.desfireRandomUID(shell: shell(119), generation: .ev3), seed: 7),
            .init(media: "desfire", uid: randomID, uidRandom: true, isrn: isrn(119).digits, expiry: "2031-03-31", apdus: 5, blocked: false, sequence: 1, ins: 1))
        add("classic-4k", record(.classic4K(uid: [0x9A, 0x04, 0x05, 0x06])),
            .init(media: "classic", uid: "9A040506", apdus: 1))
        add("classic-1k", record(.classic1K(uid: [0x9A, 0x01, 0x02, 0x03])),
            .init(media: "classic", uid: "9A010203", apdus: 1))
        let ultralightATR = ContactlessATR.storageCard(cardName: 0x0003)
        add("ultralight", record(atr: ultralightATR, over: TableTransport(answers: [CardUID.getDataCommand: [uid7 + [0x90, 0x00]]])),
            .init(media: "ultralight", uid: u, apdus: 1))
        add("flipso-demo-blocked", desfireTap(uid: uid7, file: flipsoBlockedShell + [UInt8](repeating: 0, count: 8), directory: flipsoBlockedDirectory),
            .init(media: "desfire", uid: u, isrn: "633597022602000029", expiry: "2027-03-31", apdus: 5, blocked: true, sequence: 17))
        add("flipso-demo", desfireTap(uid: uid7, file: flipsoShell + [UInt8](repeating: 0, count: 8), directory: flipsoDirectory),
            .init(media: "desfire", uid: u, isrn: "633597028707000079", expiry: "2035-03-14", apdus: 4, blocked: false, sequence: 8, ins: 0))
        return list
    }

    /// Writes every entry to `folder`: NAME.jsonl and NAME.expected.json.
    static func write(to folder: URL = folder) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for entry in entries {
            try Data(CardRecording.line(entry.tap)).write(to: folder.appendingPathComponent(entry.name + ".jsonl"))
            try (entry.expected.json + Data("\n".utf8)).write(to: folder.appendingPathComponent(entry.name + ".expected.json"))
        }
    }
}

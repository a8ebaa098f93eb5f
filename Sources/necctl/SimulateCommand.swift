import ArgumentParser
import Foundation
import NECCard
import VirtualCard

/// `necctl simulate`: puts a virtual NEC on a vsmartcard vpcd reader, so an integrator
/// without hardware can drive the real pcscd and necd.
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Tap a virtual NEC on a virtual reader (vsmartcard's vpcd).",
        discussion: """
            Needs pcscd with the vpcd driver (apt install pcscd vsmartcard-vpcd): vpcd \
            listens on 127.0.0.1:35963 by default, one reader per port. Each tap inserts \
            the card, holds it for --hold seconds and removes it. The shell options \
            (--expired, --no-expiry, --bad-crc, --bad-luhn) give a card without --isrn \
            the synthetic ISRN 633597 9999 0000 0019.
            """
    )

    @Option(help: "The card's ISRN (18 digits, spaces allowed). Without it (and without a shell option) the card has no ITSO shell.")
    var isrn: String?

    @Option(help: "The chip UID in hex (8, 14 or 20 digits), or 'random' for a random-ID card.")
    var uid: String?

    @Option(help: "desfire, iso7816 or classic.")
    var media: String = "desfire"

    @Flag(help: "An expiry date in the past.")
    var expired = false

    @Flag(name: .customLong("no-expiry"), help: "No expiry date: the shell stores ITSO day 0, which means the card never expires.")
    var noExpiry = false

    @Flag(name: .customLong("bad-crc"), help: "Corrupt the shell's SECRC.")
    var badCRC = false

    @Flag(name: .customLong("bad-luhn"), help: "Make the ISRN's check digit wrong (SECRC still right).")
    var badLuhn = false

    @Flag(help: "The card's ITSO directory marks it blocked (DIRBitMap bit 0).")
    var blocked = false

    @Flag(name: .customLong("no-directory"), help: "The card has a shell but no ITSO directory.")
    var noDirectory = false

    @Option(name: .customLong("directory-sequence"), help: "The directory's sequence number DIRS# (0-255).")
    var directorySequence: UInt8?

    @Flag(name: .customLong("large-geometry"), help: "80-byte sectors, 64 of them, 16 directory entries, as on a real CMD2 card.")
    var largeGeometry = false

    @Option(name: .customLong("desfire-generation"), help: "ev1, ev2 or ev3: what GET VERSION reports.")
    var desfireGeneration: String = "ev1"

    @Flag(name: .customLong("classic-4k"), help: "With --media classic: a MIFARE Classic 4K rather than 1K.")
    var classic4K = false

    @Option(help: "Seconds the card stays on the reader each tap.")
    var hold: Double = 0.5

    @Option(help: "Seconds between taps.")
    var gap: Double = 2.5

    @Option(help: "Number of taps.")
    var count: Int = 1

    @Option(help: "vpcd's TCP port (one per virtual reader).")
    var port: UInt16 = 35963

    @Option(help: "vpcd's address.")
    var host: String = "127.0.0.1"

    @Option(help: "Tap cards taken from this entitlement list (CSV with a 'card' column), in order.")
    var list: String?

    @Flag(help: "Add each tap's last APDU answer time (last_answer_unix_ns, CLOCK_REALTIME) for latency benchmarks.")
    var timestamps = false

    @Option(help: ArgumentHelp("Play back the taps of a recording made with 'necctl scan --record FILE', answering each command as the card did.", valueName: "file"))
    var replay: String?

    @Option(help: ArgumentHelp("With --replay: only the taps recorded on this reader (its full name, a prefix of it, or a glob).", valueName: "name"))
    var reader: String?

    @Option(help: ArgumentHelp("With --replay: only this tap of the recording (1 is the first).", valueName: "n"))
    var tap: Int?

    /// Accepted as by every command (necctl(1), COMMON OPTIONS); this one uses none of the files.
    @OptionGroup var options: ConfigOptions

    func validate() throws {
        if replay != nil { return try validateReplay() }
        guard reader == nil, tap == nil else { throw ValidationError("--reader and --tap choose taps of a recording: give --replay FILE") }
        guard hold > 0, hold <= 86_400 else { throw ValidationError("--hold must be between 0 and 86400 seconds") }
        guard gap >= 0, gap <= 86_400 else { throw ValidationError("--gap must be between 0 and 86400 seconds") }
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard Media(rawValue: media) != nil else { throw ValidationError("--media must be desfire, iso7816 or classic") }
        guard !(expired && noExpiry) else { throw ValidationError("--expired and --no-expiry contradict each other: give one") }
        guard generation != nil else { throw ValidationError("--desfire-generation must be ev1, ev2 or ev3") }
        guard !(blocked && noDirectory) else { throw ValidationError("--blocked needs a directory: drop --no-directory") }
        if media == Media.classic.rawValue, let flag = shellFlags.first {
            throw ValidationError("\(flag) describes the ITSO shell, which a MIFARE Classic card does not carry")
        }
    }

    func run() async throws {
        if let replay { return try await runReplay(replay) }
        let models: [VirtualCardModel]
        do {
            models = try makeModels()
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("necctl simulate: \(error)")
            throw ExitCode(2)
        }
        for (index, model) in models.enumerated() {
            if index > 0 { try await Task.sleep(for: .seconds(gap)) }
            do {
                let stats = try await VirtualCardRunner.tap(
                    card: model, host: host, port: port, hold: .seconds(hold))
                var line = "tap \(index + 1): \(model) on \(host):\(port): \(stats.apdusAnswered) APDUs answered"
                if timestamps {
                    // "-" when no APDU was answered: the reader never read the card.
                    line += " last_answer_unix_ns=" + (stats.lastAnsweredAt.map { String($0.unixNanoseconds) } ?? "-")
                    // The card's side of the read: first command received to last answer written.
                    if let first = stats.firstCommandAt, let last = stats.lastAnsweredAt {
                        let c = (last.instant - first.instant).components
                        line += " read_ms=" + String(format: "%.3f", Double(c.seconds) * 1000 + Double(c.attoseconds) / 1e15)
                    } else {
                        line += " read_ms=-"
                    }
                }
                printOut(line)
            } catch {
                printError("necctl simulate: \(error)")
                throw ExitCode(2)
            }
        }
    }

    private var generation: VirtualCardModel.DESFireGeneration? {
        switch desfireGeneration.lowercased() {
        case "ev1": .ev1
        case "ev2": .ev2
        case "ev3": .ev3
        default: nil
        }
    }

    private var truth: VirtualCardTruth {
        var truth = VirtualCardTruth()
        truth.blocked = blocked
        truth.noDirectory = noDirectory
        truth.directorySequence = directorySequence
        truth.largeGeometry = largeGeometry
        truth.generation = generation ?? .ev1
        truth.classic4K = classic4K
        return truth
    }

    /// The shell options given, as typed.
    var shellFlags: [String] {
        [(expired, "--expired"), (noExpiry, "--no-expiry"), (badCRC, "--bad-crc"), (badLuhn, "--bad-luhn")]
            .filter(\.0).map(\.1)
    }

    private func makeModels() throws -> [VirtualCardModel] {
        try plainModels().map(truth.apply(to:))
    }

    private func plainModels() throws -> [VirtualCardModel] {
        let mediaValue = Media(rawValue: media) ?? .desfire
        guard let list else {
            let model = try VirtualCardModel.from(
                isrn: isrn, uid: uid, media: mediaValue, expired: expired, noExpiry: noExpiry,
                badCRC: badCRC, badLuhn: badLuhn)
            return Array(repeating: model, count: count)
        }
        let cards = try ListCards.read(path: list, limit: count)
        guard !cards.isEmpty else {
            printError("necctl simulate: \(list) names no card")
            throw ExitCode(1)
        }
        return try cards.prefix(count).map { card throws -> VirtualCardModel in
            if let parsed = try? ISRN(card) {
                return try VirtualCardModel.from(
                    isrn: parsed.digits, uid: uid, media: mediaValue, expired: expired, noExpiry: noExpiry,
                    badCRC: badCRC, badLuhn: badLuhn)
            }
            // A UID row: a card with that UID and no ITSO shell.
            return try VirtualCardModel.from(isrn: nil, uid: card, media: mediaValue)
        }
    }
}

/// The `card` column of an entitlement list, for `simulate --list`. Simple CSV: the
/// card column never needs quoting (digits or hex).
enum ListCards {
    struct Unreadable: Error, CustomStringConvertible {
        let description: String
    }

    static func read(path: String, limit: Int) throws -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Unreadable(description: "cannot open \(path)")
        }
        defer { try? handle.close() }
        // The first 4 MiB is plenty for the rows a simulation taps.
        let data = (try? handle.read(upToCount: 4 << 20)) ?? Data()
        var text = String(decoding: data, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        var lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        guard !lines.isEmpty else { return [] }
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\" \r")) }
        guard let column = header.firstIndex(of: "card") else {
            throw Unreadable(description: "\(path): no 'card' column in the header")
        }
        var cards: [String] = []
        for line in lines where cards.count < limit {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard column < fields.count else { continue }
            let card = fields[column].trimmingCharacters(in: CharacterSet(charactersIn: "\" \r"))
            if !card.isEmpty { cards.append(card) }
        }
        return cards
    }
}

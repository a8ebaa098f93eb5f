import ArgumentParser
import Entitlements
import Foundation
import NECCard
import NECProtocol
import ProtocolMapping

/// `necctl lookup CARD [--json]`: the decision a card would get now; nothing redeemed.
/// Exit 0 when it would be authorised, 1 when declined, 2 for a malformed CARD or a fault.
struct LookupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookup",
        abstract: "Show the decision a card would get now, without redeeming anything.",
        discussion: "CARD is an ISRN (18 digits, spaces allowed) or a chip UID in hex (8 or 14 digits). Exit status: 0 authorised, 1 declined, 2 usage error or fault."
    )

    @Argument(help: "An ISRN or a UID.")
    var card: String

    @Flag(help: "Print the LOOKUP object (one JSON line).")
    var json = false

    @OptionGroup var options: ConfigOptions

    func validate() throws {
        do {
            _ = try CardReference.identity(card)
        } catch {
            throw ValidationError("CARD: \(error.description)")
        }
    }

    func run() throws {
        let opened = try StoreAccess.open(options)
        let result = try opened.store.lookup(card: card, at: Date(), policy: opened.policy)
        if json {
            Output.write(MessageCoding.line(LookupMessage(result)))
        } else {
            if (try? CardReference.identity(card))?.uidRandom == true {
                printOut("uid       \(card.uppercased()) is a random ID (4 bytes starting 08): new at every tap, never an identity")
            }
            printOut(Self.describe(result))
        }
        if result.verdict.decision != .authorised { throw ExitCode(1) }
    }

    static func describe(_ r: LookupResult) -> String {
        let v = r.verdict
        var lines: [(String, String)] = []
        if let isrn = r.card.isrn { lines.append(("card", ISRN(unchecked: isrn).grouped)) }
        if let uid = r.card.uid { lines.append(("uid", uid)) }
        let outcome = v.decision == .authorised
            ? "authorised, \(v.kind?.rawValue ?? "")" + (v.dailyLimit.map { " (daily limit \(Pence.pounds($0)))" } ?? "")
            : "declined, \(v.reason?.rawValue ?? "")"
        lines.append(("decision", outcome))
        if let pupil = v.pupil { lines.append(("pupil", pupil)) }
        if let allergens = v.allergens { lines.append(("allergens", allergens.joined(separator: ", "))) }
        if let message = v.message { lines.append(("message", message)) }
        if v.listStale { lines.append(("list", "STALE: import a current list")) }
        return lines.map { $0.0.padding(toLength: 10, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n")
    }
}

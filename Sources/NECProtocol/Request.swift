#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A request a client sends: one JSON object with a `cmd`, on one line.
public enum Request: Hashable, Sendable {
    /// `{"cmd":"watch","enable":true,"since":41}`: start (or stop) the event stream;
    /// with `since`, first replay every stored event with a greater `seq`.
    case watch(enable: Bool, since: Int64?)
    /// `{"cmd":"readers"}`
    case readers
    /// `{"cmd":"status"}`
    case status
    /// `{"cmd":"lookup","card":"633597..."}`: the decision a card (ISRN or UID hex) would get now.
    case lookup(card: String)
    /// `{"cmd":"void","seq":42}`: release the lunch redeemed by event `seq`.
    case void(seq: Int64)
    /// `{"cmd":"redeem","pupil":"P0000042","lane":"till-2"}`: serve a pupil picked by hand,
    /// without a card (minor version 1). Answered with a `TAP` event, `"method":"manual"`.
    case redeem(pupil: String, lane: String?)
    /// `{"cmd":"charge","pupil":"P0000042","amount":235,"txn":"till2-000981","lane":"till-2"}`:
    /// charge `amount` pence to a pupil's account (minor version 1). Answered with a `PAYMENT` event.
    case charge(pupil: String, amount: Int, txn: String, lane: String?)
    /// `{"cmd":"refund","txn":"till2-000981"}`: refund the charge the till made as `txn`
    /// (minor version 1). Answered with a `PAYMENT` event of kind `refund`.
    case refund(txn: String)

    /// Why a line is not a request. The daemon answers each with an `ERROR` and keeps the connection.
    public enum ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The line is not a JSON object (or not UTF-8).
        case notJSONObject
        /// The object has no string `cmd`.
        case missingCommand
        /// The `cmd` is not one this version knows.
        case unknownCommand(String)
        /// A field the command needs is absent.
        case missingField(command: String, field: String)
        /// A field has the wrong type or an impossible value.
        case invalidField(command: String, field: String)
        /// A field breaks a rule a person can act on, e.g. an amount out of range.
        case fieldRule(command: String, field: String, rule: String)

        /// The text sent back in the `ERROR` answer.
        public var description: String {
            switch self {
            case .notJSONObject: "bad request: not a JSON object"
            case .missingCommand: "bad request: no \"cmd\""
            case .unknownCommand(let cmd): "unknown cmd \"\(Request.sanitised(cmd))\""
            case .missingField(let cmd, let field): "\(cmd): missing field \"\(field)\""
            case .invalidField(let cmd, let field): "\(cmd): invalid field \"\(field)\""
            case .fieldRule(let cmd, let field, let rule): "\(cmd): invalid field \"\(field)\": \(rule)"
            }
        }
    }

    /// The request's `cmd`.
    public var command: String {
        switch self {
        case .watch: "watch"
        case .readers: "readers"
        case .status: "status"
        case .lookup: "lookup"
        case .void: "void"
        case .redeem: "redeem"
        case .charge: "charge"
        case .refund: "refund"
        }
    }

    /// The smallest and largest `amount` a `charge` may carry, in whole pence.
    public static let amountRange = 1...100_000

    /// The most characters a `pupil`, `txn` or `lane` in a request may have.
    public static let maxIdentifierCharacters = 64

    /// Parses one line (without its `\n`). Unknown extra keys are ignored, so a client
    /// written for a later minor version still works where it asks for nothing new.
    /// - Parameter line: the line's bytes.
    /// - Throws: ``ParseError``.
    public static func parse<Bytes: Collection<UInt8>>(line: Bytes) throws(ParseError) -> Request {
        let fields: RequestFields
        do {
            fields = try JSONDecoder().decode(RequestFields.self, from: Data(line))
        } catch {
            throw .notJSONObject
        }
        guard case .string(let cmd)? = fields.values["cmd"] else { throw .missingCommand }
        switch cmd {
        case "watch":
            let enable = try fields.bool("enable", in: cmd)
            let since = try fields.optionalSeq("since", in: cmd)
            return .watch(enable: enable, since: since)
        case "readers":
            return .readers
        case "status":
            return .status
        case "lookup":
            guard let value = fields.values["card"] else { throw .missingField(command: cmd, field: "card") }
            guard case .string(let card) = value, !card.isEmpty, card.utf8.count <= 64 else {
                throw .invalidField(command: cmd, field: "card")
            }
            return .lookup(card: card)
        case "void":
            guard let seq = try fields.optionalSeq("seq", in: cmd) else { throw .missingField(command: cmd, field: "seq") }
            return .void(seq: seq)
        case "redeem":
            let pupil = try fields.identifier("pupil", in: cmd)
            let lane = try fields.optionalIdentifier("lane", in: cmd)
            return .redeem(pupil: pupil, lane: lane)
        case "charge":
            let pupil = try fields.identifier("pupil", in: cmd)
            let amount = try fields.amount("amount", in: cmd)
            let txn = try fields.identifier("txn", in: cmd)
            let lane = try fields.optionalIdentifier("lane", in: cmd)
            return .charge(pupil: pupil, amount: amount, txn: txn, lane: lane)
        case "refund":
            return .refund(txn: try fields.identifier("txn", in: cmd))
        default:
            throw .unknownCommand(cmd)
        }
    }

    /// The request as one JSON line, without the `\n`.
    public var jsonLine: String {
        switch self {
        case .watch(let enable, let since?): #"{"cmd":"watch","enable":\#(enable),"since":\#(since)}"#
        case .watch(let enable, nil): #"{"cmd":"watch","enable":\#(enable)}"#
        case .readers: #"{"cmd":"readers"}"#
        case .status: #"{"cmd":"status"}"#
        case .lookup(let card): #"{"cmd":"lookup","card":\#(OrderedJSON.quoted(card))}"#
        case .void(let seq): #"{"cmd":"void","seq":\#(seq)}"#
        case .redeem(let pupil, let lane):
            #"{"cmd":"redeem","pupil":\#(OrderedJSON.quoted(pupil))"# + Self.laneKey(lane) + "}"
        case .charge(let pupil, let amount, let txn, let lane):
            #"{"cmd":"charge","pupil":\#(OrderedJSON.quoted(pupil)),"amount":\#(amount),"txn":\#(OrderedJSON.quoted(txn))"#
                + Self.laneKey(lane) + "}"
        case .refund(let txn): #"{"cmd":"refund","txn":\#(OrderedJSON.quoted(txn))}"#
        }
    }

    private static func laneKey(_ lane: String?) -> String {
        lane.map { #","lane":\#(OrderedJSON.quoted($0))"# } ?? ""
    }

    /// Whether `text` may be a `pupil`, `txn` or `lane` of a request: 1 to 64 printable
    /// characters. Nothing invisible (controls, formatting and bidirectional characters,
    /// private-use or unassigned code points), no white space but the plain space, and
    /// none at either end, so what a till sends is what a person reads in a log.
    public static func isPrintableIdentifier(_ text: String) -> Bool {
        guard (1...maxIdentifierCharacters).contains(text.count), text.first != " ", text.last != " " else { return false }
        return text.unicodeScalars.allSatisfy { scalar in
            scalar == " " || (!scalar.properties.isWhitespace && EchoedText.safe(String(scalar), keepingQuotes: true) == String(scalar))
        }
    }

    /// Keeps an echoed command printable and short, so an ERROR never carries a hostile payload back.
    static func sanitised(_ text: String) -> String {
        EchoedText.safe(text, maxCharacters: 32)
    }
}

/// Text a client sent that the daemon repeats back (an unknown `cmd` in an `ERROR`),
/// made safe to show on a till's screen or a technician's terminal.
public enum EchoedText {
    /// `text` without anything that is not visible text: controls (C0, DEL, C1, so no
    /// terminal escapes), format characters (the bidirectional embeddings, overrides and
    /// isolates such as U+202E, which reorder what a person reads; zero-width joiners and
    /// marks; the BOM), line and paragraph separators, unassigned and private-use code
    /// points; and, unless `keepingQuotes`, without `"` and `\`, so the text reads the
    /// same inside quotes.
    /// - Parameters:
    ///   - text: what the client sent.
    ///   - maxCharacters: keep at most this many characters (an ellipsis marks the cut); nil for all.
    ///   - keepingQuotes: keep `"` and `\` (for a whole message, not a quoted value).
    public static func safe(_ text: String, maxCharacters: Int? = nil, keepingQuotes: Bool = false) -> String {
        let kept = text.unicodeScalars.filter { isShown($0) && (keepingQuotes || ($0 != "\"" && $0 != "\\")) }
        guard let maxCharacters, kept.count > maxCharacters else { return String(String.UnicodeScalarView(kept)) }
        return String(String.UnicodeScalarView(kept.prefix(maxCharacters))) + "…"
    }

    private static func isShown(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned:
            return false
        default:
            return true
        }
    }
}

/// A request object's top-level fields, typed loosely so missing and mistyped fields get precise errors.
private struct RequestFields: Decodable {
    enum Value: Decodable {
        case string(String), integer(Int64), bool(Bool), other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? container.decode(Int64.self) {
                self = .integer(value)
            } else if let value = try? container.decode(String.self) {
                self = .string(value)
            } else {
                self = .other
            }
        }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    var values: [String: Value] = [:]

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        for key in container.allKeys {
            values[key.stringValue] = try container.decode(Value.self, forKey: key)
        }
    }

    func bool(_ field: String, in cmd: String) throws(Request.ParseError) -> Bool {
        guard let value = values[field] else { throw .missingField(command: cmd, field: field) }
        guard case .bool(let flag) = value else { throw .invalidField(command: cmd, field: field) }
        return flag
    }

    func identifier(_ field: String, in cmd: String) throws(Request.ParseError) -> String {
        guard let text = try optionalIdentifier(field, in: cmd) else { throw .missingField(command: cmd, field: field) }
        return text
    }

    func optionalIdentifier(_ field: String, in cmd: String) throws(Request.ParseError) -> String? {
        guard let value = values[field] else { return nil }
        guard case .string(let text) = value else { throw .invalidField(command: cmd, field: field) }
        guard Request.isPrintableIdentifier(text) else {
            throw .fieldRule(command: cmd, field: field, rule: "1 to \(Request.maxIdentifierCharacters) printable characters, no spaces at either end")
        }
        return text
    }

    func amount(_ field: String, in cmd: String) throws(Request.ParseError) -> Int {
        guard let value = values[field] else { throw .missingField(command: cmd, field: field) }
        guard case .integer(let number) = value else {
            throw .fieldRule(command: cmd, field: field, rule: "whole pence, an integer")
        }
        guard Request.amountRange.contains(Int(clamping: number)) else {
            throw .fieldRule(command: cmd, field: field, rule: "whole pence from \(Request.amountRange.lowerBound) to \(Request.amountRange.upperBound)")
        }
        return Int(number)
    }

    func optionalSeq(_ field: String, in cmd: String) throws(Request.ParseError) -> Int64? {
        guard let value = values[field] else { return nil }
        guard case .integer(let number) = value, number >= 0 else { throw .invalidField(command: cmd, field: field) }
        return number
    }
}

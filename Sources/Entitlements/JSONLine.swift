import NECCard

/// Writes one JSON object with keys in the order they are added: the protocol's objects
/// have a fixed key order so that a replayed event is byte-identical to the live one.
/// Absent values are never written (no `null`).
struct JSONObjectWriter {
    private var out = "{"
    private var first = true

    private mutating func key(_ name: String) {
        if !first { out.append(",") }
        first = false
        out.append("\"")
        out.append(name)
        out.append("\":")
    }

    mutating func string(_ name: String, _ value: String) {
        key(name)
        JSONObjectWriter.appendQuoted(value, to: &out)
    }

    mutating func integer(_ name: String, _ value: some BinaryInteger) {
        key(name)
        out.append(String(value))
    }

    mutating func bool(_ name: String, _ value: Bool) {
        key(name)
        out.append(value ? "true" : "false")
    }

    mutating func strings(_ name: String, _ values: [String]) {
        key(name)
        out.append("[")
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(",") }
            JSONObjectWriter.appendQuoted(v, to: &out)
        }
        out.append("]")
    }

    /// Appends a nested object written by `body`.
    mutating func object(_ name: String, _ body: (inout JSONObjectWriter) -> Void) {
        key(name)
        var inner = JSONObjectWriter()
        body(&inner)
        out.append(inner.finish())
    }

    mutating func card(_ card: CardFields) {
        object("card") { o in
            if let isrn = card.isrn { o.string("isrn", isrn) }
            if let uid = card.uid { o.string("uid", uid) }
            o.string("media", card.media.rawValue)
            if let expiry = card.expiry { o.string("expiry", expiry.description) }
        }
    }

    mutating func verdict(_ v: Verdict) {
        string("decision", v.decision.rawValue)
        if let kind = v.kind { string("kind", kind.rawValue) }
        if let reason = v.reason { string("reason", reason.rawValue) }
        if let pupil = v.pupil { string("pupil", pupil) }
        if let allergens = v.allergens, !allergens.isEmpty { strings("allergens", allergens) }
        if let message = v.message { string("message", message) }
        if let limit = v.dailyLimit { integer("daily_limit", limit) }
        if v.listStale { bool("list_stale", true) }
    }

    mutating func finish() -> String {
        out.append("}")
        return out
    }

    /// JSON string escaping: quotes, backslashes and control characters; everything
    /// else passes through as UTF-8.
    static func appendQuoted(_ s: String, to out: inout String) {
        out.append("\"")
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case "\u{2028}": out.append("\\u2028")
            case "\u{2029}": out.append("\\u2029")
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: false)
                    out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append("\"")
    }
}

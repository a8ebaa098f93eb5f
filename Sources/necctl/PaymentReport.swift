import Foundation
import NECCard
import NECProtocol

/// What `necctl payments` shows of one day: its `PAYMENT` events and their totals, as
/// text for people, JSON lines, or CSV.
struct PaymentReport {
    /// The day's charges and refunds, in `seq` order, pupils unmasked.
    let payments: [PaymentEvent]
    /// Whether pupil references are shown in full.
    let showPupils: Bool
    /// necd's zone, for the text's times.
    let timeZone: TimeZone

    /// The authorised charges less the refunds of one pupil or one lane, with counts.
    struct Total: Equatable {
        /// The pupil or the lane; nil for payments made without a lane.
        var key: String?
        /// Pence of the authorised charges.
        var charged = 0
        /// Pence of the authorised refunds.
        var refunded = 0
        /// Authorised charges.
        var charges = 0
        /// Authorised refunds.
        var refunds = 0
        /// Declined charges and refunds.
        var declined = 0
        /// Charged less refunded.
        var net: Int { charged - refunded }

        mutating func add(_ payment: PaymentEvent) {
            guard payment.decision == .authorised else {
                declined += 1
                return
            }
            if payment.kind == .refund {
                refunded += payment.amount
                refunds += 1
            } else if payment.kind == .charge {
                charged += payment.amount
                charges += 1
            }
        }
    }

    /// Totals keyed by `key`, sorted by it (payments without a lane last).
    private func totals(by key: (PaymentEvent) -> String?) -> [Total] {
        var byKey: [String?: Total] = [:]
        for payment in payments {
            let k = key(payment)
            byKey[k, default: Total(key: k)].add(payment)
        }
        return byKey.values.sorted { a, b in
            switch (a.key, b.key) {
            case let (x?, y?): x < y
            case (_?, nil): true
            default: false
            }
        }
    }

    var pupilTotals: [Total] { totals { $0.pupil.isEmpty ? nil : $0.pupil } }
    var laneTotals: [Total] { totals { $0.lane } }

    /// A pupil reference as this report shows it.
    func pupil(_ reference: String) -> String { showPupils ? reference : ISRN.mask(reference) }

    // MARK: Text

    /// The rows as a table, then the totals per pupil and per lane.
    func text() -> String {
        let format = EventFormat(colour: false, timeZone: timeZone, showCardNumbers: showPupils)
        var rows = [["time", "seq", "lane", "txn", "pupil", "kind", "amount", "decision", "reason"]]
        for p in payments {
            rows.append([
                format.clock(p.time), p.seq.map { "#\($0)" } ?? "", p.lane ?? "-", p.txn, p.pupil.isEmpty ? "-" : pupil(p.pupil),
                EventFormat.words(p.kind.rawValue), Pence.pounds(p.amount), EventFormat.words(p.decision.rawValue),
                p.reason.map(EventFormat.reasonWords) ?? "",
            ])
        }
        var lines = Self.table(rows, rightAligned: [1, 6])
        lines.append("")
        lines.append("totals per pupil (authorised charges less refunds)")
        lines += Self.table(pupilTotals.map { [$0.key.map(pupil) ?? "-"] + Self.words($0) }, rightAligned: [1], indent: "  ")
        lines.append("totals per lane")
        lines += Self.table(laneTotals.map { [$0.key ?? "(no lane)"] + Self.words($0) }, rightAligned: [1], indent: "  ")
        return lines.joined(separator: "\n")
    }

    /// `£0.00`, `1 charge £2.35, 1 refund £2.35, 1 declined`.
    private static func words(_ total: Total) -> [String] {
        func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)" + (n == 1 ? "" : "s") }
        var parts = [count(total.charges, "charge") + " " + Pence.pounds(total.charged)]
        if total.refunds > 0 { parts.append(count(total.refunds, "refund") + " " + Pence.pounds(total.refunded)) }
        if total.declined > 0 { parts.append("\(total.declined) declined") }
        return [Pence.pounds(total.net), parts.joined(separator: ", ")]
    }

    /// Rows padded into columns two spaces apart; the last column is not padded.
    private static func table(_ rows: [[String]], rightAligned: Set<Int>, indent: String = "") -> [String] {
        let widths = rows.reduce(into: [Int]()) { widths, row in
            for (i, cell) in row.enumerated() {
                if i == widths.count { widths.append(0) }
                widths[i] = max(widths[i], cell.count)
            }
        }
        return rows.map { row in
            var cells: [String] = []
            for (i, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                if rightAligned.contains(i) {
                    cells.append(pad + cell)
                } else {
                    cells.append(i == row.count - 1 ? cell : cell + pad)
                }
            }
            let line = indent + cells.joined(separator: "  ")
            return String(line.reversed().drop { $0 == " " }.reversed())
        }
    }

    // MARK: JSON

    /// A `TOTAL` line of `--json`:
    /// `{"class":"TOTAL","by":"pupil","pupil":"******42","net":0,"charged":235,"refunded":235,"charges":1,"refunds":1,"declined":1}`;
    /// `lane` in place of `pupil` for a lane's, absent for the payments made without one.
    struct TotalObject: Encodable {
        /// `pupil` or `lane`.
        var by: String
        /// The pupil (as shown) or the lane.
        var key: String?
        var total: Total

        enum CodingKeys: String, CodingKey {
            case messageClass = "class", by, pupil, lane, net, charged, refunded, charges, refunds, declined
        }

        func encode(to encoder: any Encoder) throws {
            var object = encoder.container(keyedBy: CodingKeys.self)
            try object.encode(MessageClass("TOTAL"), forKey: .messageClass)
            try object.encode(by, forKey: .by)
            try object.encodeIfPresent(key, forKey: by == "pupil" ? .pupil : .lane)
            let sums: [(CodingKeys, Int)] = [
                (.net, total.net), (.charged, total.charged), (.refunded, total.refunded),
                (.charges, total.charges), (.refunds, total.refunds), (.declined, total.declined),
            ]
            for (name, value) in sums { try object.encode(value, forKey: name) }
        }
    }

    /// The `PAYMENT` objects as necd sent them (pupils masked unless shown), then one
    /// `TOTAL` object per pupil and per lane.
    func jsonLines() -> [[UInt8]] {
        var lines = payments.map { MessageCoding.line(showPupils ? $0 : EventFormat.masked($0)) }
        lines += pupilTotals.map { MessageCoding.line(TotalObject(by: "pupil", key: $0.key.map(pupil), total: $0)) }
        lines += laneTotals.map { MessageCoding.line(TotalObject(by: "lane", key: $0.key, total: $0)) }
        return lines
    }

    // MARK: CSV

    /// The CSV columns: a payment fills the first ten, a total the first, the pupil or the
    /// lane, and the last six.
    static let csvHeader = [
        "record", "time", "seq", "lane", "txn", "pupil", "kind", "amount", "decision", "reason",
        "net", "charged", "refunded", "charges", "refunds", "declined",
    ]

    /// RFC 4180: CRLF line ends, a header line, fields quoted when they hold a comma, a
    /// double quote, CR or LF (with quotes doubled). Times in UTC as in the protocol,
    /// amounts in whole pence.
    func csv() -> String {
        var records = [Self.csvHeader]
        for p in payments {
            let row = [
                "payment", p.time, p.seq.map(String.init) ?? "", Self.inert(p.lane ?? ""), Self.inert(p.txn),
                p.pupil.isEmpty ? "" : Self.inert(pupil(p.pupil)),
                p.kind.rawValue, String(p.amount), p.decision.rawValue, p.reason?.rawValue ?? "",
            ]
            records.append(row + Array(repeating: "", count: 6))
        }
        func sums(_ t: Total) -> [String] {
            [t.net, t.charged, t.refunded, t.charges, t.refunds, t.declined].map(String.init)
        }
        for t in pupilTotals {
            records.append(["pupil_total", "", "", "", "", Self.inert(t.key.map(pupil) ?? ""), "", "", "", ""] + sums(t))
        }
        for t in laneTotals {
            records.append(["lane_total", "", "", Self.inert(t.key ?? ""), "", "", "", "", "", ""] + sums(t))
        }
        return records.map { $0.map(Self.csvField).joined(separator: ",") + "\r\n" }.joined()
    }

    /// A text a till chose (txn, lane) or a pupil reference, made inert for a spreadsheet:
    /// one that begins with `=`, `+`, `-`, `@`, a tab or a CR would be run as a formula
    /// by the office's spreadsheet, so it gets a leading `'`, which spreadsheets show as
    /// text. Numbers are never touched.
    static func inert(_ text: String) -> String {
        guard let first = text.first, "=+-@\t\r".contains(first) else { return text }
        return "'" + text
    }

    static func csvField(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

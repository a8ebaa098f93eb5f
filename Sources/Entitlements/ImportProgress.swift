/// How far an import is, for a progress bar: which phase, how much of it is done, and
/// of what total. `done` never passes `total`.
public struct ImportProgress: Sendable, Equatable {
    public enum Phase: String, Sendable, Equatable {
        /// Pass 1: every row is checked and the file hashed. `done` and `total` are bytes
        /// of the file.
        case checking
        /// Pass 2: the good rows are staged. `done` and `total` are rows.
        case installing
        /// After the switch: the list before the previous one is deleted. Rows.
        case tidying
    }

    public var phase: Phase
    public var done: Int64
    public var total: Int64
    /// Rows read so far (checking), or `done` (installing, tidying).
    public var rows: Int

    public init(phase: Phase, done: Int64, total: Int64, rows: Int) {
        self.phase = phase
        self.total = max(0, total)
        self.done = min(max(0, done), self.total)
        self.rows = rows
    }

    /// `done` of `total`, 0 to 1 (1 when there is nothing to do).
    public var fraction: Double { total > 0 ? Double(done) / Double(total) : 1 }

    /// One line for a terminal, for example
    /// `checking    [#########---------------------]  30%  3.0 of 10.0 MB, 60,000 rows`.
    /// - Parameter width: characters of the bar between its brackets.
    public func line(width: Int = 30) -> String {
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let percent = String(Int(fraction * 100))
        let what: String
        switch phase {
        case .checking:
            what = "\(Self.megabytes(done)) of \(Self.megabytes(total)) MB, \(Self.grouped(Int64(rows))) rows"
        case .installing:
            what = "\(Self.grouped(done)) of \(Self.grouped(total)) rows"
        case .tidying:
            what = "\(Self.grouped(done)) of \(Self.grouped(total)) rows of the list before the previous one deleted"
        }
        let label = phase.rawValue + String(repeating: " ", count: max(1, 12 - phase.rawValue.count))
        return "\(label)[\(bar)] \(String(repeating: " ", count: 3 - percent.count))\(percent)%  \(what)"
    }

    /// Decimal megabytes with one decimal: `10.0`.
    static func megabytes(_ bytes: Int64) -> String {
        let tenths = (bytes + 50_000) / 100_000
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// `1,000,000`: the same whatever the locale, as in the rest of necctl's output.
    static func grouped(_ n: Int64) -> String {
        var digits = String(n)
        var out = ""
        while digits.count > 3 {
            out = "," + digits.suffix(3) + out
            digits.removeLast(3)
        }
        return digits + out
    }
}

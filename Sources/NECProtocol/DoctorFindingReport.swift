/// One line of `necctl doctor --json`: a check, how it came out, what was seen, and for
/// anything not ok the fix. Not sent on the socket.
///
/// `{"check":"pcscd","status":"fault","detail":"not running","fix":"systemctl start pcscd.socket"}`
public struct DoctorFindingReport: Codable, Hashable, Sendable {
    /// The check's name.
    public var check: String
    /// `ok`, `warning` or `fault`.
    public var status: String
    /// What was seen.
    public var detail: String
    /// What to do; absent when ok.
    public var fix: String?

    /// Creates a finding line.
    /// - Parameters: the line's keys, see the properties.
    public init(check: String, status: String, detail: String, fix: String?) {
        (self.check, self.status, self.detail, self.fix) = (check, status, detail, fix)
    }
}

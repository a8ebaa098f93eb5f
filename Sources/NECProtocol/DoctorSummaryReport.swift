/// The last line of `necctl doctor --json`: the counts and the exit status. Not sent on the socket.
///
/// `{"check":"summary","status":"warning","ok":7,"warnings":1,"faults":0,"exit":1}`
public struct DoctorSummaryReport: Codable, Hashable, Sendable {
    /// Always `summary`.
    public var check = "summary"
    /// The worst status of any check.
    public var status: String
    /// Checks that were ok.
    public var ok: Int
    /// Checks that warned.
    public var warnings: Int
    /// Checks that found a fault.
    public var faults: Int
    /// necctl's exit status.
    public var exit: Int32

    /// Creates the summary line.
    /// - Parameters: the line's keys, see the properties.
    public init(status: String, ok: Int, warnings: Int, faults: Int, exit: Int32) {
        (self.status, self.ok, self.warnings, self.faults, self.exit) = (status, ok, warnings, faults, exit)
    }
}

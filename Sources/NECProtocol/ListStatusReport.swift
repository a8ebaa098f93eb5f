/// What `necctl list status --json` prints: the list in force, as one object of class `LIST`.
///
/// `{"class":"LIST","present":true,"rows":1200,"imported":"2026-11-27T06:00:00.000Z","age":3600,"file":"list.csv",
/// "sha256":"…","signed":false,"stale":false,"previous":true,"generation":3}`, or `{"class":"LIST","present":false}`
/// when no list was ever imported. Not sent on the socket.
public struct ListStatusReport: Codable, Hashable, Sendable {
    /// Always `LIST`.
    public var messageClass = MessageClass("LIST")
    /// Whether a list is in force; every other key is absent when not.
    public var present: Bool
    /// Rows in the list.
    public var rows: Int?
    /// When it was imported, RFC 3339 UTC with milliseconds.
    public var imported: String?
    /// Whole seconds since the import.
    public var age: Int?
    /// The file name it was imported from.
    public var file: String?
    /// SHA-256 of the file's bytes, lower-case hex.
    public var sha256: String?
    /// Whether a trusted key's signature was verified.
    public var signed: Bool?
    /// The base64 public key that signed it, when signed.
    public var signer: String?
    /// Whether it is older than `max_list_age`.
    public var stale: Bool?
    /// Whether a previous list is kept for `necctl list rollback`.
    public var previous: Bool?
    /// Changes whenever another list is put in force.
    public var generation: Int64?

    /// The answer when no list was ever imported.
    public static let absent = ListStatusReport(present: false)

    private init(present: Bool) { self.present = present }

    /// Creates the report of a list in force; `signed` follows from `signer`.
    /// - Parameters: the report's keys, see the properties.
    public init(
        rows: Int, imported: String, age: Int, file: String, sha256: String, signer: String?, stale: Bool,
        previous: Bool, generation: Int64
    ) {
        present = true
        (self.rows, self.imported, self.age) = (rows, imported, age)
        (self.file, self.sha256, self.signed, self.signer) = (file, sha256, signer != nil, signer)
        (self.stale, self.previous, self.generation) = (stale, previous, generation)
    }

    enum CodingKeys: String, CodingKey {
        case messageClass = "class", present, rows, imported, age, file, sha256, signed, signer, stale, previous, generation
    }
}

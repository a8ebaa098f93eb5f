public import Foundation

/// The list in force, as `necctl list status` and the daemon's STATUS report it.
public struct ListStatus: Sendable, Equatable {
    /// Changes whenever another list is put in force (import or rollback).
    public var generation: Int64
    /// Rows in the list.
    public var rows: Int
    /// When it was imported.
    public var importedAt: Date
    /// The file name the list was imported from.
    public var file: String
    /// SHA-256 of the file's bytes, lower-case hex.
    public var sha256: String
    /// The base64 public key whose signature was verified, nil for an unsigned list.
    public var signer: String?
    /// True when a previous list is kept for `necctl list rollback`.
    public var previousAvailable: Bool

    /// - Parameters: the status fields, see the properties.
    public init(
        generation: Int64, rows: Int, importedAt: Date, file: String, sha256: String, signer: String?,
        previousAvailable: Bool
    ) {
        self.generation = generation
        self.rows = rows
        self.importedAt = importedAt
        self.file = file
        self.sha256 = sha256
        self.signer = signer
        self.previousAvailable = previousAvailable
    }

    /// Seconds since the import at `now`.
    public func age(at now: Date = Date()) -> TimeInterval { now.timeIntervalSince(importedAt) }

    /// True when the list is older than the policy's `max_list_age` at `now`.
    public func isStale(at now: Date = Date(), policy: DecisionPolicy) -> Bool {
        age(at: now) > Double(policy.maxListAge) * 86_400
    }
}

// NECProtocol: The socket protocol v1 messages and framing, shared by necd and its clients.

/// The version of the socket protocol this module speaks, and its fixed limits.
///
/// A client compares `major` with the daemon's `VERSION` banner: a different major
/// version means the messages may have changed incompatibly. A higher minor version
/// only adds (new optional fields, new commands, new classes), so a client ignores
/// what it does not know.
public enum ProtocolVersion {
    /// The major version: changes only with an incompatible change.
    public static let major = 1
    /// The minor version: grows when something optional is added. 1 (version 1.1): `VOIDED`
    /// and `PAYMENT` events, the `redeem`, `charge` and `refund` requests, `method` on
    /// `TAP` and `IDENTIFY`, and the reasons `list_untrusted`, `unknown_pupil`,
    /// `outside_service`, `over_daily_limit`, `insufficient_funds` and `card_blocked`.
    public static let minor = 1
    /// The release of necd this module belongs to, sent in the `VERSION` banner.
    public static let release = "0.1.0"
}

/// Limits every peer of the protocol enforces.
public enum ProtocolLimits {
    /// The longest line, in bytes, not counting the `\n`. A longer line closes the connection.
    public static let maxLineBytes = 16_384
}

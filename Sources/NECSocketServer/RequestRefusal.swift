/// A request the backend refuses for a reason the client should read, e.g. an unknown `seq` to void.
///
/// The socket server answers it with `{"class":"ERROR","message":...}`. Any other error
/// thrown by a backend is logged and answered with a generic message, so internal
/// details (paths, SQL) never reach a client.
public struct RequestRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text sent to the client. Must not contain anything the client did not send or may not see.
    public var message: String

    /// Creates a refusal.
    /// - Parameter message: the text sent to the client.
    public init(_ message: String) { self.message = message }

    /// The text sent to the client.
    public var description: String { message }

    /// The refusal of a request this backend does not serve.
    /// - Parameter command: the request's `cmd`.
    public static func unsupported(_ command: String) -> RequestRefusal {
        RequestRefusal("\(command): not supported by this backend")
    }
}

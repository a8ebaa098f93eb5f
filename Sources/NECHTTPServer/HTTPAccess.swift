/// Who may use the HTTP face: the shared secret every request presents, and the browser
/// origins `/ws` accepts. Replaced whole on reload.
public struct HTTPAccess: Sendable, Equatable {
    /// The shared secret: the token file's first line, without surrounding whitespace.
    public var token: String
    /// The exact `Origin` values accepted on `/ws`, besides necd's own (the status page's).
    public var allowedOrigins: Set<String>

    /// - Parameters: see the properties.
    public init(token: String, allowedOrigins: Set<String>) {
        self.token = token
        self.allowedOrigins = allowedOrigins
    }

    /// Why a token file's text gives no token.
    public struct TokenFileError: Error, CustomStringConvertible {
        public let description: String

        /// - Parameter description: what is wrong, naming the file.
        public init(description: String) { self.description = description }
    }

    /// The token in a token file's text: its first line, trimmed; at least 16 characters
    /// of printable ASCII, so it can travel in a URL's query as it is.
    public static func token(fromFile text: String, path: String) throws(TokenFileError) -> String {
        var token = text.split(maxSplits: 1, omittingEmptySubsequences: false, whereSeparator: \.isNewline).first ?? ""
        let blank: Set<Character> = [" ", "\t"]
        while let first = token.first, blank.contains(first) { token.removeFirst() }
        while let last = token.last, blank.contains(last) { token.removeLast() }
        guard !token.isEmpty else {
            throw TokenFileError(description: "the token file \(path) is empty: put the shared secret on its first line")
        }
        guard token.count >= 16 else {
            throw TokenFileError(description: "the token in \(path) is \(token.count) characters; it must have at least 16")
        }
        let urlSafe = token.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "-._~".unicodeScalars.contains($0))
        }
        guard urlSafe else {
            throw TokenFileError(
                description: "the token in \(path) must be letters, digits and - . _ ~ only (it travels in a URL)")
        }
        return String(token)
    }

    /// Whether `presented` is the token, compared in time that does not depend on where
    /// they first differ.
    func accepts(token presented: Substring?) -> Bool {
        guard let presented else { return false }
        let expected = Array(token.utf8)
        let given = Array(presented.utf8)
        var difference = UInt8(expected.count == given.count ? 0 : 1)
        for index in expected.indices {
            difference |= expected[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }

    /// Whether a request with this `Origin` (nil: none sent) may use `/ws`.
    /// - Parameter own: necd's own origins, which its status page is served from.
    func accepts(origin: String?, own: Set<String>) -> Bool {
        guard let origin else { return true }
        return allowedOrigins.contains(origin) || own.contains(origin)
    }
}

public import NECCard

/// A card typed by a person (`necctl lookup`, the socket's `lookup`): an ISRN with or
/// without spaces, or a chip UID in hex.
public enum CardReference {
    /// Why a typed card is neither an ISRN nor a UID.
    public enum Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        /// Looks like an ISRN (digits) but is not a valid one.
        case isrn(ISRN.Invalid)
        /// Neither 18 digits nor 8 or 14 hex digits.
        case notACard

        /// The reason, for a person.
        public var description: String {
            switch self {
            case .isrn(let why): why.description
            case .notACard: "not an ISRN (18 digits) or a UID (8 or 14 hex digits)"
            }
        }
    }

    /// The identity a lookup evaluates: the ISRN or the UID, nothing else read.
    /// - Throws: `CardReference.Invalid`.
    public static func identity(_ text: String) throws(Invalid) -> CardIdentity {
        let compact = text.filter { $0 != " " }
        if compact.count == 18, compact.allSatisfy(\.isASCII), compact.allSatisfy(\.isNumber) {
            do {
                return CardIdentity(isrn: try ISRN(compact))
            } catch {
                throw .isrn(error)
            }
        }
        if compact.count == 8 || compact.count == 14, let uid = Hex.bytes(compact) {
            // A random ID (4 bytes starting 08) is flagged, so the rules never key on it.
            return CardIdentity(uid: uid, uidRandom: (try? CardUID(bytes: uid))?.isRandom ?? false)
        }
        throw .notACard
    }
}

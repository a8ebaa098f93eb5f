public import Foundation
import Crypto

/// Ed25519 keys and detached signatures for entitlement lists. A signature covers the
/// file's bytes exactly as imported, so councils may also sign with other tools
/// (`openssl pkeyutl -sign -rawin`). Keys and signatures are stored as base64 text.
public enum ListSigningKey {
    /// A council's private key (32 bytes).
    public struct Private: Sendable {
        let key: Curve25519.Signing.PrivateKey

        /// A new random key.
        public init() { key = Curve25519.Signing.PrivateKey() }

        /// Parses a key file: base64 of the 32 raw key bytes.
        /// - Throws: `ListSigningKey.Invalid.privateKey`.
        public init(base64 text: String) throws(Invalid) {
            guard let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
            else { throw .privateKey }
            self.key = key
        }

        /// The key file's text (base64, no newline).
        public var base64: String { key.rawRepresentation.base64EncodedString() }

        /// The matching public key.
        public var publicKey: Public { Public(key: key.publicKey) }

        /// Signs `data`; returns the 64-byte signature.
        public func sign(_ data: some DataProtocol) throws -> Data {
            try key.signature(for: data)
        }
    }

    /// A trusted public key (`trusted_list_keys`).
    public struct Public: Sendable, Equatable {
        let key: Curve25519.Signing.PublicKey

        init(key: Curve25519.Signing.PublicKey) { self.key = key }

        /// Parses base64 of the 32 raw key bytes.
        /// - Throws: `ListSigningKey.Invalid.publicKey`.
        public init(base64 text: String) throws(Invalid) {
            guard let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
            else { throw .publicKey(text) }
            self.key = key
        }

        /// Base64 of the raw key, as written in the configuration.
        public var base64: String { key.rawRepresentation.base64EncodedString() }

        /// True when `signature` is this key's signature of `data`.
        public func verifies(_ signature: Data, of data: some DataProtocol) -> Bool {
            key.isValidSignature(signature, for: data)
        }

        /// Same key bytes.
        public static func == (a: Public, b: Public) -> Bool { a.key.rawRepresentation == b.key.rawRepresentation }
    }

    /// A key or signature that cannot be parsed.
    public enum Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        /// A key file that is not base64 of a 32-byte Ed25519 private key.
        case privateKey
        /// A configured key that is not base64 of a 32-byte Ed25519 public key.
        case publicKey(String)
        /// A signature file that is neither base64 of 64 bytes nor 64 raw bytes.
        case signature

        /// The reason, for a person.
        public var description: String {
            switch self {
            case .privateKey: "not an Ed25519 private key (base64 of 32 bytes)"
            case .publicKey(let text): "not an Ed25519 public key (base64 of 32 bytes): \(text)"
            case .signature: "not an Ed25519 signature (base64 of 64 bytes, or 64 raw bytes)"
            }
        }
    }

    /// Parses a signature file: base64 text of 64 bytes, or the 64 raw bytes.
    public static func signature(fromFile bytes: Data) throws(Invalid) -> Data {
        if bytes.count == 64 { return bytes }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let raw = Data(base64Encoded: text), raw.count == 64 else { throw .signature }
        return raw
    }
}

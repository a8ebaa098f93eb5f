/// Why bytes are not well-formed BER-TLV.
public enum TLVError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A tag runs past the end of the input, at this offset.
    case truncatedTag(offset: Int)
    /// A tag longer than 3 bytes (ISO 7816-4 uses at most 3).
    case tagTooLong(offset: Int)
    /// A length field runs past the end of the input.
    case truncatedLength(offset: Int)
    /// Indefinite length (`80`) or a length field of more than 3 bytes.
    case unsupportedLength(offset: Int)
    /// The value is longer than what is left of the input (or of its parent).
    case valueOverrun(tag: UInt32, declared: Int, available: Int)

    /// One line for a technician.
    public var description: String {
        switch self {
        case .truncatedTag(let o): "TLV tag truncated at byte \(o)"
        case .tagTooLong(let o): "TLV tag longer than 3 bytes at byte \(o)"
        case .truncatedLength(let o): "TLV length truncated at byte \(o)"
        case .unsupportedLength(let o): "TLV length form not supported at byte \(o)"
        case .valueOverrun(let t, let d, let a): "TLV \(String(t, radix: 16, uppercase: true)) declares \(d) bytes, only \(a) left"
        }
    }
}

/// One BER-TLV data object (ISO/IEC 7816-4 clause 5.2): a tag and its value. The objects
/// inside a constructed tag are parsed only when asked for (`children()`), so junk inside a
/// template the reader does not need cannot hide the ones it does.
public struct TLV: Sendable, Equatable {
    /// The tag with all its bytes: `0x6F`, `0xA5`, `0x9F38`.
    public let tag: UInt32
    /// The value bytes.
    public let value: [UInt8]
    /// Where the value starts in the outermost input (for redacting traces).
    public let valueOffset: Int

    /// True when the tag's first byte has the constructed bit (`0x20`).
    public var isConstructed: Bool {
        var t = tag
        while t > 0xFF { t >>= 8 }
        return t & 0x20 != 0
    }

    /// The objects inside this one's value.
    /// - Throws: `TLVError` when the value is not well-formed BER-TLV.
    public func children() throws(TLVError) -> [TLV] {
        try TLV.parse(value, baseOffset: valueOffset)
    }

    /// The first object inside this one with `tag`.
    /// - Throws: `TLVError` when the value is not well-formed BER-TLV.
    public func child(_ tag: UInt32) throws(TLVError) -> TLV? {
        try children().first { $0.tag == tag }
    }

    /// Parses a sequence of BER-TLV objects (one level). `00` and `FF` filler bytes between
    /// objects are skipped, as ISO 7816-4 allows.
    /// - Parameters:
    ///   - bytes: the encoded objects.
    ///   - baseOffset: where `bytes` start in the outermost input, for `valueOffset`.
    /// - Throws: `TLVError` for anything malformed; no partial result.
    public static func parse(_ bytes: [UInt8], baseOffset: Int = 0) throws(TLVError) -> [TLV] {
        var objects: [TLV] = []
        var i = 0
        let end = bytes.count
        while i < end {
            if bytes[i] == 0x00 || bytes[i] == 0xFF {
                i += 1
                continue
            }
            // Tag: low 5 bits all set means more tag bytes follow while bit 8 is set.
            let tagStart = i
            var tag = UInt32(bytes[i])
            i += 1
            if bytes[tagStart] & 0x1F == 0x1F {
                while true {
                    guard i < end else { throw .truncatedTag(offset: baseOffset + tagStart) }
                    guard i - tagStart < 3 else { throw .tagTooLong(offset: baseOffset + tagStart) }
                    tag = tag << 8 | UInt32(bytes[i])
                    i += 1
                    if bytes[i - 1] & 0x80 == 0 { break }
                }
            }
            // Length: short form below 0x80, else 0x81..0x83 say how many bytes follow.
            guard i < end else { throw .truncatedLength(offset: baseOffset + i) }
            let first = bytes[i]
            var length = 0
            if first < 0x80 {
                length = Int(first)
                i += 1
            } else {
                let count = Int(first & 0x7F)
                guard (1...3).contains(count) else { throw .unsupportedLength(offset: baseOffset + i) }
                guard i + count < end else { throw .truncatedLength(offset: baseOffset + i) }
                for k in 1...count { length = length << 8 | Int(bytes[i + k]) }
                i += 1 + count
            }
            guard length <= end - i else { throw .valueOverrun(tag: tag, declared: length, available: end - i) }
            objects.append(TLV(tag: tag, value: Array(bytes[i..<(i + length)]), valueOffset: baseOffset + i))
            i += length
        }
        return objects
    }
}

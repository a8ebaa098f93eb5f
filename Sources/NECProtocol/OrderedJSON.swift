/// A JSON encoder that writes keys in the order a type encodes them.
///
/// Foundation's `JSONEncoder` orders keys by hash (or alphabetically), which would put
/// `class` anywhere in a line. The protocol's examples, and people reading `socat`
/// output, expect `class` first and the other keys in a stable, documented order.
/// Only what the message types need: objects, arrays, strings, integers, finite
/// doubles, booleans; `nil` values are left out, never written as `null`.
enum OrderedJSON {
    /// Encodes `value` as compact JSON.
    static func encode(_ value: some Encodable) throws -> String {
        var out = ""
        write(try self.value(of: value, at: []), to: &out)
        return out
    }

    fileprivate static func value<T: Encodable>(of value: T, at codingPath: [any CodingKey]) throws -> JSONValue {
        switch value {
        case let text as String: return .raw(quoted(text))
        case let flag as Bool: return .raw(flag ? "true" : "false")
        case let number as Double: return .raw(try formatted(number, at: codingPath))
        case let number as Float: return .raw(try formatted(Double(number), at: codingPath))
        case let number as any BinaryInteger: return .raw("\(number)")
        default:
            let encoder = TreeEncoder(codingPath: codingPath)
            try value.encode(to: encoder)
            return encoder.value ?? .object(ObjectStore())
        }
    }

    private static func formatted(_ number: Double, at codingPath: [any CodingKey]) throws -> String {
        guard number.isFinite else {
            throw EncodingError.invalidValue(number, .init(codingPath: codingPath, debugDescription: "not a finite number"))
        }
        if number == number.rounded(), abs(number) < 1e15 { return "\(Int64(number))" }
        return "\(number)"
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            // Controls, DEL (a terminal shows `socat` output) and the JavaScript line breaks.
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || (0x2028...0x2029).contains(scalar.value):
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func write(_ value: JSONValue, to out: inout String) {
        switch value {
        case .raw(let text):
            out += text
        case .object(let store):
            out += "{"
            for (index, entry) in store.entries.enumerated() {
                if index > 0 { out += "," }
                out += quoted(entry.key)
                out += ":"
                write(entry.value, to: &out)
            }
            out += "}"
        case .array(let store):
            out += "["
            for (index, item) in store.items.enumerated() {
                if index > 0 { out += "," }
                write(item, to: &out)
            }
            out += "]"
        }
    }
}

fileprivate enum JSONValue {
    case raw(String)
    case object(ObjectStore)
    case array(ArrayStore)
}

fileprivate final class ObjectStore {
    var entries: [(key: String, value: JSONValue)] = []

    func set(_ key: String, _ value: JSONValue) {
        if let index = entries.firstIndex(where: { $0.key == key }) {
            entries[index].value = value
        } else {
            entries.append((key, value))
        }
    }
}

fileprivate final class ArrayStore {
    var items: [JSONValue] = []
}

private final class TreeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var value: JSONValue?

    init(codingPath: [any CodingKey]) { self.codingPath = codingPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let store: ObjectStore
        if case .object(let existing)? = value {
            store = existing
        } else {
            store = ObjectStore()
            value = .object(store)
        }
        return KeyedEncodingContainer(KeyedContainer<Key>(store: store, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let store: ArrayStore
        if case .array(let existing)? = value {
            store = existing
        } else {
            store = ArrayStore()
            value = .array(store)
        }
        return UnkeyedContainer(store: store, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(encoder: self, codingPath: codingPath)
    }
}

private struct IndexKey: CodingKey {
    var stringValue: String { "\(intValue!)" }
    var intValue: Int?
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let store: ObjectStore
    let codingPath: [any CodingKey]

    private func encode<T: Encodable>(_ value: T?, _ key: Key) throws {
        guard let value else { return }
        store.set(key.stringValue, try OrderedJSON.value(of: value, at: codingPath + [key]))
    }

    // Absent values are left out: the protocol never sends null.
    mutating func encodeNil(forKey key: Key) throws {}
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try encode(value as T?, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try encode(value as Bool?, key) }
    mutating func encode(_ value: String, forKey key: Key) throws { try encode(value as String?, key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try encode(value as Double?, key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try encode(value as Float?, key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try encode(value as Int?, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try encode(value as Int8?, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try encode(value as Int16?, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try encode(value as Int32?, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try encode(value as Int64?, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encode(value as UInt?, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try encode(value as UInt8?, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try encode(value as UInt16?, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try encode(value as UInt32?, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try encode(value as UInt64?, key) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectStore()
        store.set(key.stringValue, .object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(store: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = ArrayStore()
        store.set(key.stringValue, .array(nested))
        return UnkeyedContainer(store: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { SuperEncoder(store: store, key: "super", codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        SuperEncoder(store: store, key: key.stringValue, codingPath: codingPath + [key])
    }
}

/// An encoder whose result lands under one key of an object, for `superEncoder`.
private final class SuperEncoder: Encoder {
    let store: ObjectStore
    let key: String
    let inner: TreeEncoder
    var codingPath: [any CodingKey] { inner.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(store: ObjectStore, key: String, codingPath: [any CodingKey]) {
        self.store = store
        self.key = key
        self.inner = TreeEncoder(codingPath: codingPath)
    }

    deinit { if let value = inner.value { store.set(key, value) } }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> { inner.container(keyedBy: type) }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { inner.unkeyedContainer() }
    func singleValueContainer() -> any SingleValueEncodingContainer { inner.singleValueContainer() }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let store: ArrayStore
    let codingPath: [any CodingKey]
    var count: Int { store.items.count }

    mutating func encodeNil() throws { store.items.append(.raw("null")) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        store.items.append(try OrderedJSON.value(of: value, at: codingPath + [IndexKey(count)]))
    }
    mutating func encode(_ value: Bool) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }
    mutating func encode(_ value: String) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }
    mutating func encode(_ value: Double) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }
    mutating func encode(_ value: Float) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }
    mutating func encode(_ value: Int) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }
    mutating func encode(_ value: Int8) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }
    mutating func encode(_ value: Int16) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }
    mutating func encode(_ value: Int32) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }
    mutating func encode(_ value: Int64) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }
    mutating func encode(_ value: UInt) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }
    mutating func encode(_ value: UInt8) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }
    mutating func encode(_ value: UInt16) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }
    mutating func encode(_ value: UInt32) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }
    mutating func encode(_ value: UInt64) throws { store.items.append(try OrderedJSON.value(of: value, at: codingPath)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectStore()
        store.items.append(.object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(store: nested, codingPath: codingPath + [IndexKey(count - 1)]))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = ArrayStore()
        store.items.append(.array(nested))
        return UnkeyedContainer(store: nested, codingPath: codingPath + [IndexKey(count - 1)])
    }

    mutating func superEncoder() -> any Encoder {
        let holder = ObjectStore()
        store.items.append(.object(holder))
        return SuperEncoder(store: holder, key: "super", codingPath: codingPath)
    }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let encoder: TreeEncoder
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { encoder.value = .raw("null") }
    mutating func encode<T: Encodable>(_ value: T) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: Bool) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: String) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: Double) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: Float) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: Int) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: Int8) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: Int16) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: Int32) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: Int64) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: UInt) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: UInt8) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: UInt16) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: UInt32) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
    mutating func encode(_ value: UInt64) throws { encoder.value = try OrderedJSON.value(of: value, at: codingPath) }
}

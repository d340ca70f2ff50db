/// A coding key for any field name: used to read objects case-insensitively and to reject unknown fields.
public struct AnyCodingKey: CodingKey, Hashable, Sendable {
    public var stringValue: String
    public var intValue: Int?

    public init(_ string: String) {
        self.stringValue = string
        self.intValue = nil
    }

    public init?(stringValue: String) { self.init(stringValue) }

    public init?(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

/// Reads a JSON object whose field names are matched case-insensitively against a known set.
///
/// geard (Go) decoded bodies case-insensitively, so its documented bodies say `Image`, `Ports`, `Internal`; ours
/// accept those spellings and any other casing. A field that is not known, or is given twice in different
/// casings, is an error, so that a typo is reported rather than ignored.
public struct CaseInsensitiveObject {
    private let container: KeyedDecodingContainer<AnyCodingKey>
    private let keys: [String: AnyCodingKey]

    /// Reads the object at `decoder`, accepting only `known` field names (compared in lower case).
    public init(from decoder: any Decoder, known: Set<String>) throws {
        container = try decoder.container(keyedBy: AnyCodingKey.self)
        var keys: [String: AnyCodingKey] = [:]
        for key in container.allKeys {
            let lower = key.stringValue.lowercased()
            guard known.contains(lower) else {
                let expected = known.sorted().joined(separator: ", ")
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container, debugDescription: "unknown field '\(key.stringValue)' (known fields: \(expected))")
            }
            if keys[lower] != nil {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container, debugDescription: "field '\(key.stringValue)' is given more than once")
            }
            keys[lower] = key
        }
        self.keys = keys
    }

    /// The value of a field, or nil when absent or JSON `null`.
    public func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T? {
        guard let key = keys[name] else { return nil }
        return try container.decodeIfPresent(type, forKey: key)
    }

    /// The value of the first of several alias fields that is present.
    public func decode<T: Decodable>(_ type: T.Type, _ names: [String]) throws -> T? {
        for name in names {
            if let value = try decode(type, name) { return value }
        }
        return nil
    }

    /// A nested decoder for a field (for values with a custom shape).
    public func superDecoder(_ name: String) throws -> (any Decoder)? {
        guard let key = keys[name], try !container.decodeNil(forKey: key) else { return nil }
        return try container.superDecoder(forKey: key)
    }
}

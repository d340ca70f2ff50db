/// One environment variable of a container.
public struct EnvironmentVariable: Sendable, Hashable, Codable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// `KEY=VALUE` text as a variable; nil when it is not that (see `KeyValue.split`).
    public init?(assignment text: some StringProtocol) {
        guard let (name, value) = KeyValue.split(text) else { return nil }
        self.init(name: name, value: value)
    }

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: ["name", "value"])
        guard let name = try object.decode(String.self, "name") else {
            throw DecodingError.keyNotFound(
                AnyCodingKey("Name"), .init(codingPath: decoder.codingPath, debugDescription: "a variable needs 'Name'"))
        }
        self.name = name
        self.value = try object.decode(String.self, "value") ?? ""
    }

    private enum CodingKeys: String, CodingKey {
        case name = "Name", value = "Value"
    }

    /// Reads the `Environment` field in any of the shapes clients send:
    /// an object `{"KEY": "VALUE"}`, geard's `{"Variables": [{"Name": .., "Value": ..}]}`,
    /// a list of `{"Name": .., "Value": ..}`, or a list of `"KEY=VALUE"` strings.
    public static func decodeList(from decoder: any Decoder) throws -> [EnvironmentVariable] {
        if var list = try? decoder.unkeyedContainer() {
            var result: [EnvironmentVariable] = []
            while !list.isAtEnd {
                if let pair = try? list.decode(String.self) {
                    guard let variable = EnvironmentVariable(assignment: pair) else {
                        throw DecodingError.dataCorruptedError(in: list, debugDescription: "'\(pair)' is not KEY=VALUE")
                    }
                    result.append(variable)
                } else {
                    result.append(try list.decode(EnvironmentVariable.self))
                }
            }
            return result
        }
        let object = try decoder.container(keyedBy: AnyCodingKey.self)
        let keys = object.allKeys
        if keys.count == 1, keys[0].stringValue.lowercased() == "variables",
            let variables = try? object.decode([EnvironmentVariable].self, forKey: keys[0])
        {
            return variables
        }

        return try keys.map { key in
            guard let value = try? object.decode(String.self, forKey: key) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: object, debugDescription: "environment value of '\(key.stringValue)' must be a string")
            }
            return EnvironmentVariable(name: key.stringValue, value: value)
        }
    }
}

/// `KEY=VALUE` text (environment variables, labels) split at its first `=`.
public enum KeyValue {
    /// The key and value, nil without `=` or with nothing before it. The search is by Unicode scalar: a value that
    /// starts with a combining mark (`A=\u{0363}`) makes `=` part of a larger Character, which a Character search would
    /// not find.
    public static func split(_ text: some StringProtocol) -> (key: String, value: String)? {
        let scalars = String(text).unicodeScalars
        guard let eq = scalars.firstIndex(of: "="), eq != scalars.startIndex else { return nil }
        return (String(Substring(scalars[..<eq])), String(Substring(scalars[scalars.index(after: eq)...])))
    }

    /// Whether the text has an `=` anywhere, by Unicode scalar.
    public static func hasEquals(_ text: some StringProtocol) -> Bool {
        text.unicodeScalars.contains("=")
    }
}

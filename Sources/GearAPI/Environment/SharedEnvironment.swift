public import Foundation

/// A named environment (`/environment/{id}`): variables that containers installed with `EnvironmentId` receive
/// when they start, before their own (their own win on a name both set).
public struct SharedEnvironment: Sendable, Hashable, Codable {
    public var id: String
    /// Sorted by name; names unique.
    public var variables: [EnvironmentVariable]
    /// Containers installed with this environment: a change reaches them when they next (re)start.
    public var usedBy: [String]
    public var updatedAt: Date

    public init(id: String, variables: [EnvironmentVariable], usedBy: [String], updatedAt: Date) {
        self.id = id
        self.variables = variables
        self.usedBy = usedBy
        self.updatedAt = updatedAt
    }

    private enum CodingKeys: String, CodingKey {
        case id, variables, usedBy, updatedAt
    }

    // Answers use the lower-case field names of the rest of the API (variables as {"name","value"}).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(variables.map { Pair(name: $0.name, value: $0.value) }, forKey: .variables)
        try c.encode(usedBy, forKey: .usedBy)
        try c.encode(updatedAt, forKey: .updatedAt)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        variables = try c.decode([Pair].self, forKey: .variables).map { EnvironmentVariable(name: $0.name, value: $0.value) }
        usedBy = try c.decode([String].self, forKey: .usedBy)
        updatedAt = try c.decode(Date.self, forKey: .updatedAt)
    }

    private struct Pair: Codable {
        var name: String
        var value: String
    }

    /// The variables as an environment file: one `KEY=VALUE` line each (`Accept: text/plain`).
    public var text: String {
        variables.map { "\($0.name)=\($0.value)\n" }.joined()
    }
}

/// The answer of `GET /environments`.
public struct SharedEnvironmentList: Sendable, Hashable, Codable {
    public var environments: [SharedEnvironment]

    public init(environments: [SharedEnvironment]) { self.environments = environments }
}

/// A change to a named environment: `PUT` replaces every variable, `PATCH` sets the given ones and removes those
/// given without a value (`{"KEY": null}`).
public struct EnvironmentChange: Sendable, Hashable {
    /// Variables to set; a later one with the same name wins.
    public var set: [EnvironmentVariable]
    /// Names to remove (PATCH only).
    public var remove: [String]

    public init(set: [EnvironmentVariable], remove: [String] = []) {
        self.set = set
        self.remove = remove
    }

    /// Reads a body: JSON (`{"KEY":"VALUE"}`, `{"KEY":null}` to remove, geard's `{"env":[{"name":..,"value":..}]}`,
    /// `{"Variables":[...]}` (also with geard's `Source` and `Id`), `[{"Name":..,"Value":..}]` or `["KEY=VALUE"]`), or an environment file: `KEY=VALUE`
    /// lines, blank lines and `#` comments ignored, the value taken as it is up to the line's end.
    public static func parse(_ body: [UInt8]) throws -> EnvironmentChange {
        let first = body.first { ![UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r")].contains($0) }
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
            return try GearJSON.decoder().decode(JSONBody.self, from: Data(body)).change
        }
        guard let text = String(validating: body, as: UTF8.self) else { throw EnvironmentBodyError("the body is not UTF-8 text") }
        var set: [EnvironmentVariable] = []
        // "\r\n" is one Character in Swift: split on every line break, whichever a client sends.
        for (number, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) || line.first == "#" { continue }
            guard let variable = EnvironmentVariable(assignment: line) else {
                throw EnvironmentBodyError("line \(number + 1) is not KEY=VALUE: '\(line.prefix(60))'")
            }
            set.append(variable)
        }
        return EnvironmentChange(set: set)
    }

    private struct JSONBody: Decodable {
        var change: EnvironmentChange

        init(from decoder: any Decoder) throws {
            if let object = try? decoder.container(keyedBy: AnyCodingKey.self) {
                let keys = object.allKeys
                if keys.count == 1, keys[0].stringValue.lowercased() == "env",
                    let list = try? object.decode([EnvironmentVariable].self, forKey: keys[0])
                {
                    change = EnvironmentChange(set: list)
                    return
                }
                // geard's {"Variables": [...], "Source": "", "Id": ""} (the id is the path's).
                let lower = Set(keys.map { $0.stringValue.lowercased() })
                if lower.contains("variables"), lower.isSubset(of: ["variables", "source", "id"]), keys.count > 1 {
                    let description = try GeardEnvironmentDescription(from: decoder)
                    if let source = description.source, !source.isEmpty {
                        throw EnvironmentBodyError("Source '\(source.prefix(100))': variables are not fetched from a URL; send them as Variables")
                    }
                    change = EnvironmentChange(set: description.variables ?? [])
                    return
                }
                // {"KEY": "VALUE", "OLD": null}: null removes.
                if !(keys.count == 1 && keys[0].stringValue.lowercased() == "variables") {
                    var set: [EnvironmentVariable] = []
                    var remove: [String] = []
                    for key in keys {
                        if try object.decodeNil(forKey: key) {
                            remove.append(key.stringValue)
                        } else {
                            guard let value = try? object.decode(String.self, forKey: key) else {
                                throw DecodingError.dataCorruptedError(
                                    forKey: key, in: object,
                                    debugDescription: "the value of '\(key.stringValue)' must be a string (or null to remove it)")
                            }
                            set.append(EnvironmentVariable(name: key.stringValue, value: value))
                        }
                    }
                    change = EnvironmentChange(set: set, remove: remove)
                    return
                }
            }
            change = EnvironmentChange(set: try EnvironmentVariable.decodeList(from: decoder))
        }
    }
}

/// A body that is neither JSON nor `KEY=VALUE` lines.
public struct EnvironmentBodyError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

import Foundation

/// A JSON value as a test reads it: booleans and numbers apart, which `JSONSerialization` does not keep.
indirect enum JSONValue: Decodable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    static func parse(_ bytes: some Sequence<UInt8>) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let value): "\(value)"
        case .integer(let value): "\(value)"
        case .number(let value): "\(value)"
        case .string(let value): "\"\(value.prefix(60))\""
        case .array(let values): "[\(values.count) items]"
        case .object(let object): "{\(object.keys.sorted().prefix(6).joined(separator: ","))}"
        }
    }
}

/// Checks JSON values against the schemas of an OpenAPI 3.1 document: the keywords docs/openapi.json uses (`$ref`,
/// `type`, `enum`, `const`, `properties`, `required`, `additionalProperties`, `items`, `oneOf`, `anyOf`, `allOf`, the
/// bounds of numbers, strings, arrays and objects, `pattern`). Annotations (`format`, `description`, `example`,
/// `content*`) are not checked.
struct OpenAPISchema {
    let document: JSONValue

    /// The problems of `value` against `schema` (empty when it conforms), each with where in the value it lies.
    func problems(_ value: JSONValue, _ schema: JSONValue, at path: String = "$") -> [String] {
        guard case .object(let keywords) = schema else { return schema == .bool(false) ? ["\(path): nothing is allowed here"] : [] }
        var problems: [String] = []
        if let reference = keywords["$ref"]?.string {
            guard let target = resolve(reference) else { return ["\(path): unknown $ref \(reference)"] }
            problems += self.problems(value, target, at: path)
        }
        if let type = keywords["type"], !Self.matches(value, type: type) {
            problems.append("\(path): \(value) is not of type \(type)")
            return problems
        }
        if case .array(let allowed) = keywords["enum"], !allowed.contains(value) {
            problems.append("\(path): \(value) is not one of \(allowed)")
        }
        if let constant = keywords["const"], constant != value { problems.append("\(path): \(value) is not \(constant)") }
        for key in ["oneOf", "anyOf", "allOf"] {
            guard case .array(let branches) = keywords[key] else { continue }
            let passing = branches.filter { self.problems(value, $0, at: path).isEmpty }.count
            switch key {
            case "oneOf" where passing != 1: problems.append("\(path): \(value) matches \(passing) of oneOf's \(branches.count) branches")
            case "anyOf" where passing == 0: problems.append("\(path): \(value) matches none of anyOf")
            case "allOf" where passing != branches.count:
                problems += branches.flatMap { self.problems(value, $0, at: path) }
            default: break
            }
        }
        switch value {
        case .object(let object):
            if case .array(let required) = keywords["required"] {
                for case .string(let name) in required where object[name] == nil { problems.append("\(path): lacks \(name)") }
            }
            let properties: [String: JSONValue] = if case .object(let p) = keywords["properties"] { p } else { [:] }
            for (name, member) in object {
                if let schema = properties[name] {
                    problems += self.problems(member, schema, at: "\(path).\(name)")
                } else if let additional = keywords["additionalProperties"] {
                    problems += self.problems(member, additional, at: "\(path).\(name)")
                }
            }
            if case .integer(let most) = keywords["maxProperties"], object.count > most { problems.append("\(path): more than \(most) members") }
        case .array(let items):
            if let schema = keywords["items"] {
                for (i, item) in items.enumerated() { problems += self.problems(item, schema, at: "\(path)[\(i)]") }
            }
            if case .integer(let most) = keywords["maxItems"], items.count > most { problems.append("\(path): more than \(most) items") }
            if case .integer(let least) = keywords["minItems"], items.count < least { problems.append("\(path): fewer than \(least) items") }
        case .string(let text):
            let count = text.count
            if case .integer(let most) = keywords["maxLength"], count > most { problems.append("\(path): longer than \(most)") }
            if case .integer(let least) = keywords["minLength"], count < least { problems.append("\(path): shorter than \(least)") }
            if let pattern = keywords["pattern"]?.string, text.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(path): \"\(text.prefix(60))\" does not match \(pattern)")
            }
        case .integer, .number:
            let number: Double = if case .integer(let i) = value { Double(i) } else if case .number(let d) = value { d } else { 0 }
            if let bound = Self.number(keywords["minimum"]), number < bound { problems.append("\(path): \(number) < minimum \(bound)") }
            if let bound = Self.number(keywords["maximum"]), number > bound { problems.append("\(path): \(number) > maximum \(bound)") }
            if let bound = Self.number(keywords["exclusiveMinimum"]), number <= bound { problems.append("\(path): \(number) <= \(bound)") }
        case .null, .bool: break
        }
        return problems
    }

    /// The value a local reference (`#/components/schemas/Job`) points at.
    func resolve(_ reference: String) -> JSONValue? {
        guard reference.hasPrefix("#/") else { return nil }
        var node: JSONValue? = document
        for part in reference.dropFirst(2).split(separator: "/") {
            node = node?[part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")]
        }
        return node
    }

    /// Follows `$ref` until the value is not one.
    func dereferenced(_ value: JSONValue?) -> JSONValue? {
        var value = value
        var hops = 0
        while let reference = value?["$ref"]?.string, hops < 16 {
            value = resolve(reference)
            hops += 1
        }
        return value
    }

    static func matches(_ value: JSONValue, type: JSONValue) -> Bool {
        if case .array(let types) = type { return types.contains { matches(value, type: $0) } }
        switch (type.string, value) {
        case ("null", .null), ("boolean", .bool), ("integer", .integer), ("number", .integer), ("number", .number), ("string", .string),
            ("array", .array), ("object", .object):
            return true
        case ("integer", .number(let d)): return d == d.rounded()
        default: return false
        }
    }

    static func number(_ value: JSONValue?) -> Double? {
        switch value {
        case .integer(let i): Double(i)
        case .number(let d): d
        default: nil
        }
    }
}

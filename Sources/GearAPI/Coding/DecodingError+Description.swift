public import Foundation

extension DecodingError {
    /// The error as one line naming the field: `Ports[0].Internal: expected an integer`.
    public var fieldDescription: String {
        func path(_ codingPath: [any CodingKey]) -> String {
            var out = ""
            for key in codingPath {
                if let index = key.intValue {
                    out += "[\(index)]"
                } else {
                    out += (out.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return out
        }
        func typeName(_ type: Any.Type) -> String {
            switch type {
            case is Int.Type, is Int64.Type, is UInt32.Type: "an integer"
            case is Double.Type: "a number"
            case is Bool.Type: "true or false"
            case is String.Type: "a string"
            default:
                "\(type)".hasPrefix("Array") ? "a list" : "an object"
            }
        }
        switch self {
        case .typeMismatch(let type, let context):
            let where_ = path(context.codingPath)
            return "\(where_.isEmpty ? "body" : where_): expected \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(typeName(type)), found null"
        case .keyNotFound(_, let context):
            let where_ = path(context.codingPath)
            return where_.isEmpty ? context.debugDescription : "\(where_): \(context.debugDescription)"
        case .dataCorrupted(let context):
            let where_ = path(context.codingPath)
            if where_.isEmpty {
                return context.debugDescription.contains("JSON") || context.underlyingError != nil
                    ? "the body is not valid JSON" : context.debugDescription
            }
            return "\(where_): \(context.debugDescription)"
        @unknown default:
            return "the body could not be read: \(self)"
        }
    }
}

/// The id of a named environment: the same rules as a container id (1 to 64 of `[A-Za-z0-9_-]`, starting with a
/// letter or digit), since it names files and lands in unit files.
public struct EnvironmentID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) throws(GearError) {
        guard ContainerID.isValid(rawValue) else {
            let shown = rawValue.count > 80 ? String(rawValue.prefix(80)) + "…" : rawValue
            throw GearError(
                .invalidID,
                "invalid environment id '\(shown.debugEscaped)': use 1 to \(ContainerID.maxLength) letters, digits, '_' or '-', starting with a letter or digit"
            )
        }
        self.rawValue = rawValue
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public static func < (lhs: EnvironmentID, rhs: EnvironmentID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue }
}

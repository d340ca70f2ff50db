/// The id of a named environment: 1 to 64 of `[A-Za-z0-9_.-]`, not starting with `.` (it names files: never a
/// hidden one, `.` or `..`). It may start with `-` or `_`, as the ids geard's client makes for inline variables do;
/// it only ever appears after a directory in a path. It does not end in `.podman`: `{id}.podman.env` is the podman
/// rendering of environment `{id}`, which the exec rendering of `{id}.podman` would otherwise collide with.
public struct EnvironmentID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) throws(GearError) {
        guard Self.isValid(rawValue) else {
            let shown = rawValue.count > 80 ? String(rawValue.prefix(80)) + "…" : rawValue
            throw GearError(
                .invalidID,
                "invalid environment id '\(shown.debugEscaped)': use 1 to \(ContainerID.maxLength) letters, digits, '_', '.' or '-', not starting with '.' nor ending in '.podman'"
            )
        }
        self.rawValue = rawValue
    }

    package static func isValid(_ value: String) -> Bool {
        let bytes = value.utf8
        guard (1...ContainerID.maxLength).contains(bytes.count), bytes.first != UInt8(ascii: "."), !value.hasSuffix(".podman") else {
            return false
        }
        return bytes.allSatisfy(ContainerID.isIDByte)
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

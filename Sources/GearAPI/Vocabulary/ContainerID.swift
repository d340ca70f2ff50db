import Foundation

/// A container's id: 1 to 64 characters of `[A-Za-z0-9_.-]`, starting with a letter or digit (geard's ids,
/// `[a-zA-Z0-9.-]{4,24}`, are among them when they start so).
///
/// The id lands in unit names (`ctr-{id}.service`), file names and podman container names, so it admits nothing
/// that could mean something there: no slashes, spaces, `%`, `@` or non-ASCII, and since it starts with a letter
/// or digit it is never `.`, `..`, a hidden file or an option.
public struct ContainerID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let rawValue: String

    public static let maxLength = 64

    /// Validates `rawValue`.
    public init(_ rawValue: String) throws(GearError) {
        guard Self.isValid(rawValue) else {
            let shown = rawValue.count > 80 ? String(rawValue.prefix(80)) + "…" : rawValue
            throw GearError(
                .invalidID,
                "invalid container id '\(shown.debugEscaped)': use 1 to \(Self.maxLength) letters, digits, '_', '.' or '-', starting with a letter or digit"
            )
        }
        self.rawValue = rawValue
    }

    package static func isValid(_ value: String) -> Bool {
        let bytes = value.utf8
        guard (1...maxLength).contains(bytes.count), let first = bytes.first, first.isASCIIAlphanumeric else { return false }
        return bytes.allSatisfy(isIDByte)
    }

    package static func isIDByte(_ byte: UInt8) -> Bool {
        byte.isASCIIAlphanumeric || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    /// What every container's unit name starts with: `ctr-{id}.service`.
    public static let unitPrefix = "ctr-"
    /// The glob of every container's unit.
    public static let unitPattern = "ctr-*.service"

    /// The systemd unit of this container.
    public var unitName: String { Self.unitName(of: rawValue) }

    /// The systemd unit of the container `id` (an id already checked, or one read back from a node's report).
    public static func unitName(of id: String) -> String { "\(unitPrefix)\(id).service" }

    /// The podman container name.
    public var podmanName: String { "\(Self.unitPrefix)\(rawValue)" }

    /// The dynamic user (`DynamicUser=`) an exec-runtime container runs as: `ctr-{id}`, or for long ids a
    /// shortened name with a hash of the id, so that it stays a portable user name (at most 31 characters).
    /// A dot is no part of a portable user name: an id with one takes the shortened form too.
    public var execUserName: String {
        let plain = "ctr-\(rawValue)"
        if plain.utf8.count <= 31 && !rawValue.contains(".") { return plain }
        let prefix = String(rawValue.prefix(13)).replacingOccurrences(of: ".", with: "-")
        return "ctr-\(prefix)-\(fnv1aFingerprint(Array(rawValue.utf8)).prefix(12))"
    }

    public var description: String { rawValue }

    public static func < (lhs: ContainerID, rhs: ContainerID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        try self.init(raw)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// The lane image imports run in, one after the other: no container can have this id (ids start with a letter
    /// or digit).
    package static let imageLane = ContainerID(unchecked: "_images")

    /// The lane of run job `id`: each run job has its own.
    package static func runLane(_ id: String) -> ContainerID { ContainerID(unchecked: "_run-" + id) }

    /// The job id of a run lane.
    package var runJobID: String? { rawValue.hasPrefix("_run-") ? String(rawValue.dropFirst(5)) : nil }
    package var isRunLane: Bool { rawValue.hasPrefix("_run-") }
    /// A lane that is no container (image imports, runs).
    package var isInternalLane: Bool { rawValue.hasPrefix("_") }

    private init(unchecked rawValue: String) {
        self.rawValue = rawValue
    }

    /// The id of a unit name `ctr-{id}.service`, if it is one.
    public static func fromUnitName(_ unit: String) -> ContainerID? {
        guard unit.hasPrefix(unitPrefix), unit.hasSuffix(".service") else { return nil }
        return try? ContainerID(String(unit.dropFirst(4).dropLast(8)))
    }
}

public import GearAPI

/// A path inside a container, resolved to one of its volumes: the only places geard moves files in and out of.
///
/// `/data/logs/a.txt` of a container with `Volumes: [{"Name":"data","Path":"/data"}]` is the volume `data` and
/// the components `logs`, `a.txt` below its host directory. Components are checked here (no `.`, `..`, `/`, NUL
/// or backslash, none empty); symlinks are refused later, while walking the tree (`VolumeTree`).
public struct VolumePath: Sendable, Hashable, CustomStringConvertible {
    public let container: ContainerID
    public let volume: VolumeSpec
    /// The volume's host directory.
    public let root: String
    /// The components below the volume root; empty for the root itself.
    public let components: [String]

    /// The path as the container sees it.
    public var containerPath: String { volume.path + components.map { "/" + $0 }.joined() }
    public var description: String { containerPath }
    /// The last component (for the root, the last component of the volume's path).
    public var name: String { components.last ?? String(volume.path.split(separator: "/").last ?? "") }

    public enum Limits {
        public static let maxComponentBytes = 255
        public static let maxPathBytes = 4096
        public static let maxDepth = 256
    }

    /// Checks components of a container path (already percent-decoded by the transport).
    public static func validate(_ components: [String]) throws(GearError) -> [String] {
        guard !components.isEmpty else { throw GearError(.invalidRequest, "a path inside a volume is required, e.g. /data/file.txt") }
        guard components.count <= Limits.maxDepth else { throw GearError(.invalidRequest, "the path has more than \(Limits.maxDepth) components") }
        var total = 0
        for component in components {
            let bytes = Array(component.utf8)
            total += bytes.count + 1
            let shown = String(component.prefix(80)).debugEscaped
            guard component != ".", component != ".." else {
                throw GearError(.invalidRequest, "the path may not contain '.' or '..' components")
            }
            guard !bytes.isEmpty else { throw GearError(.invalidRequest, "the path has an empty component") }
            guard bytes.count <= Limits.maxComponentBytes else {
                throw GearError(.invalidRequest, "path component '\(shown)…' is longer than \(Limits.maxComponentBytes) bytes")
            }
            guard !bytes.contains(where: { $0 == 0 || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") }) else {
                throw GearError(.invalidRequest, "path component '\(shown)' contains '/', '\\' or NUL")
            }
        }
        guard total <= Limits.maxPathBytes else { throw GearError(.invalidRequest, "the path is longer than \(Limits.maxPathBytes) bytes") }
        return components
    }

    /// Splits and checks an absolute container path given as text (`?path=/data/logs`).
    public static func components(of path: String) throws(GearError) -> [String] {
        guard path.hasPrefix("/") else {
            throw GearError(.invalidRequest, "the path must be absolute, e.g. /data/logs: '\(path.prefix(80).debugEscaped)'")
        }
        return try validate(path.split(separator: "/", omittingEmptySubsequences: true).map(String.init))
    }

    /// Resolves checked components against a container's volumes: the volume whose path is the longest prefix.
    static func resolve(_ components: [String], in definition: ContainerDefinition, layout: StateLayout) throws(GearError) -> VolumePath {
        let checked = try validate(components)
        let candidates = definition.spec.volumes
            .map { (volume: $0, components: $0.path.split(separator: "/").map(String.init)) }
            .sorted { $0.components.count > $1.components.count }
        for candidate in candidates where checked.starts(with: candidate.components) {
            return VolumePath(
                container: definition.id, volume: candidate.volume, root: layout.volume(definition.id, candidate.volume.name),
                components: Array(checked.dropFirst(candidate.components.count)))
        }
        let shown = "/" + checked.joined(separator: "/")
        let volumes = definition.spec.volumes.map(\.path).sorted()
        throw GearError(
            .forbidden,
            "\(shown.prefix(200).debugEscaped) is not inside a volume of \(definition.id); "
                + (volumes.isEmpty ? "it has no volumes" : "its volumes are \(volumes.joined(separator: ", "))"))
    }
}

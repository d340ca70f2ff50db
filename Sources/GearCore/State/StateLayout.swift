public import GearAPI

/// Where geard keeps things: the state directory's folders and the systemd configuration directory.
///
///     {root}/containers/{id}.json       definitions (the source of truth)
///     {root}/units/ctr-{id}.service     unit files, linked into systemd; gear.slice, gear-active.target
///     {root}/env/{id}.env               containers' own environment files (mode 0600)
///     {root}/environments/{id}.json     named environments (the source of truth), rendered into
///     {root}/environments/{id}.env      systemd's EnvironmentFile= syntax (exec) and
///     {root}/environments/{id}.podman.env  podman's --env-file syntax (mode 0600)
///     {root}/volumes/{id}/{name}        volumes
///     {root}/jobs/{id}.json             jobs, kept for a while after they end
///     {root}/images/upload-*.tar        image archives waiting for their import job
///     {root}/events/events.{0,1}.ndjson the event history (see `EventLog`)
///     {root}/tokens-used.json           one-time delegation tokens already used, until they expire
public struct StateLayout: Sendable, Hashable {
    public let root: String
    /// systemd's configuration directory, where links and `.wants` folders live.
    public let systemdUnitDirectory: String

    public init(root: String, systemdUnitDirectory: String = "/etc/systemd/system") throws(GearError) {
        for (what, path) in [("state directory", root), ("systemd unit directory", systemdUnitDirectory)] {
            let bytes = Array(path.utf8)
            guard bytes.first == UInt8(ascii: "/"),
                bytes.allSatisfy({ $0.isASCIIAlphanumeric || "/._-+@".utf8.contains($0) }),
                !path.split(separator: "/").contains("..")
            else {
                throw GearError(.invalidRequest, "the \(what) must be an absolute path of letters, digits and / . _ - + @: \(path)")
            }
        }
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.systemdUnitDirectory = systemdUnitDirectory
    }

    public var containers: String { root + "/containers" }
    public var units: String { root + "/units" }
    public var environments: String { root + "/env" }
    public var volumes: String { root + "/volumes" }
    public var jobs: String { root + "/jobs" }
    public var sharedEnvironments: String { root + "/environments" }
    /// Image archives received by `POST /images`, until their import job ran.
    public var imageUploads: String { root + "/images" }
    public var events: String { root + "/events" }
    public var usedTokens: String { root + "/tokens-used.json" }

    public var allDirectories: [String] { [root, containers, units, environments, volumes, jobs, sharedEnvironments, imageUploads] }

    public func definitionFile(_ id: ContainerID) -> String { "\(containers)/\(id).json" }
    public func unitFile(_ id: ContainerID) -> String { "\(units)/\(id.unitName)" }
    public func unitFile(named name: String) -> String { "\(units)/\(name)" }
    public func environmentFile(_ id: ContainerID) -> String { "\(environments)/\(id).env" }
    public func volumeRoot(_ id: ContainerID) -> String { "\(volumes)/\(id)" }
    public func volume(_ id: ContainerID, _ name: String) -> String { "\(volumes)/\(id)/\(name)" }
    public func jobFile(_ id: String) -> String { "\(jobs)/\(id).json" }
    public func sharedEnvironmentRecord(_ id: EnvironmentID) -> String { "\(sharedEnvironments)/\(id).json" }
    /// A named environment rendered for systemd's `EnvironmentFile=` (exec) or podman's `--env-file`.
    public func sharedEnvironmentFile(_ id: EnvironmentID, podman: Bool) -> String {
        "\(sharedEnvironments)/\(id)\(podman ? ".podman" : "").env"
    }

    /// The link systemd makes for a linked unit.
    public func systemdLink(_ unitName: String) -> String { "\(systemdUnitDirectory)/\(unitName)" }

    /// The symlink that makes `gear-active.target` want a container at boot.
    public func bootWant(_ id: ContainerID) -> String { "\(systemdUnitDirectory)/\(InfrastructureUnits.activeTarget).wants/\(id.unitName)" }
}

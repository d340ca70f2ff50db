public import Foundation

/// A published port: `internal` in the container, `external` on the host.
public struct PortMapping: Sendable, Hashable, Codable {
    public var internalPort: Int
    public var externalPort: Int

    public init(internal: Int, external: Int) {
        self.internalPort = `internal`
        self.externalPort = external
    }

    private enum CodingKeys: String, CodingKey {
        case internalPort = "internal", externalPort = "external"
    }

    /// geard's `X-PortMapping` form, `internal:external`.
    public var headerForm: String { "\(internalPort):\(externalPort)" }
}

/// The state of one container: its definition and what systemd says about its unit.
public struct ContainerStatus: Sendable, Hashable, Codable {
    public var id: String
    /// `ctr-{id}.service`.
    public var unit: String
    /// `podman` or `exec`.
    public var runtime: String
    public var image: String?
    public var cmd: [String]
    /// The desired state: true when the container should run (and start at boot).
    public var started: Bool
    /// systemd's view: `loadState` (`loaded`, `not-found`), `activeState` (`active`, `inactive`, `failed`,
    /// `activating`, `deactivating`), `subState` (`running`, `dead`, ...).
    public var loadState: String
    public var activeState: String
    public var subState: String
    /// The main process (conmon for podman, the program for exec); absent when not running.
    public var mainPID: Int?
    /// How the last run ended: systemd's `Result` (`success`, `exit-code`, `signal`, ...) and the exit status.
    public var result: String?
    public var exitStatus: Int?
    /// How many times systemd restarted the container by its `Restart=` policy.
    public var restarts: Int
    public var activeSince: Date?
    public var inactiveSince: Date?
    public var ports: [PortMapping]
    public var volumes: [VolumeStatus]
    public var restartPolicy: String
    public var memoryLimit: Int64?
    public var cpuLimit: Double?
    /// The labels the container was installed with; absent when none.
    public var labels: [String: String]?
    /// geard's network links the container has (`FromHost:FromPort` inside leads to `ToHost:ToPort`); absent when none.
    public var networkLinks: [NetworkLink]?
    /// What the container's health check last found, while it runs; absent without a check or when not running.
    public var health: HealthStatus?

    public init(
        id: String, unit: String, runtime: String, image: String?, cmd: [String], started: Bool, loadState: String,
        activeState: String, subState: String, mainPID: Int?, result: String?, exitStatus: Int?, restarts: Int,
        activeSince: Date?, inactiveSince: Date?, ports: [PortMapping], volumes: [VolumeStatus], restartPolicy: String,
        memoryLimit: Int64?, cpuLimit: Double?
    ) {
        self.id = id
        self.unit = unit
        self.runtime = runtime
        self.image = image
        self.cmd = cmd
        self.started = started
        self.loadState = loadState
        self.activeState = activeState
        self.subState = subState
        self.mainPID = mainPID
        self.result = result
        self.exitStatus = exitStatus
        self.restarts = restarts
        self.activeSince = activeSince
        self.inactiveSince = inactiveSince
        self.ports = ports
        self.volumes = volumes
        self.restartPolicy = restartPolicy
        self.memoryLimit = memoryLimit
        self.cpuLimit = cpuLimit
    }
}

/// A volume of a container as installed.
public struct VolumeStatus: Sendable, Hashable, Codable {
    public var name: String
    /// Where it is mounted in the container.
    public var path: String
    public var readOnly: Bool

    public init(name: String, path: String, readOnly: Bool) {
        self.name = name
        self.path = path
        self.readOnly = readOnly
    }
}

/// The answer of `GET /containers`.
public struct ContainerList: Sendable, Hashable, Codable {
    public var containers: [ContainerStatus]
    /// With `?all=1`: `ctr-*` units systemd knows that have no definition in geard (left behind by hand).
    public var orphanUnits: [String]?

    public init(containers: [ContainerStatus], orphanUnits: [String]? = nil) {
        self.containers = containers
        self.orphanUnits = orphanUnits
    }
}

/// The answer of `GET /container/{id}/ports`.
public struct PortList: Sendable, Hashable, Codable {
    public var ports: [PortMapping]

    public init(ports: [PortMapping]) { self.ports = ports }
}

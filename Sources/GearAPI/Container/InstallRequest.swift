/// The body of `PUT /container/{id}`: what to run and how.
///
/// Field names follow geard and are matched case-insensitively: `Image`, `Runtime`, `Cmd`, `Started`, `Ports`,
/// `Environment`, `EnvironmentId`, `Volumes`, `Restart`, `Memory`, `CPUs`. Shapes are checked here; meaning (valid image names,
/// port ranges, escaping) is checked by the agent.
public struct InstallRequest: Sendable, Hashable, Codable {
    /// The image to run (`localhost/busybox`); required for the `podman` runtime.
    public var image: String?
    /// `podman` (default) or `exec` (run `cmd` directly on the host, sandboxed by systemd).
    public var runtime: String?
    /// The command: arguments after the image for `podman`, the program and its arguments for `exec`.
    public var cmd: [String]?
    /// Whether the container should be running (and started at boot). Default false.
    public var started: Bool?
    /// Ports to publish; `external` 0 or absent means "allocate one".
    public var ports: [PortRequest]?
    /// Environment variables, in order.
    public var environment: [EnvironmentVariable]?
    /// A named environment (`PUT /environment/{id}`) whose variables the container receives before its own.
    public var environmentID: String?
    /// Named volumes: host directories kept by geard, mounted at `path`.
    public var volumes: [VolumeRequest]?
    /// systemd's `Restart=` policy: `no`, `on-success`, `on-failure` (default), `on-abnormal`, `on-abort`,
    /// `on-watchdog`, `always`.
    public var restart: String?
    /// Memory limit: bytes, or a string with a suffix (`256M`, `1G`, `512MiB`).
    public var memory: MemoryLimit?
    /// CPU limit in CPUs (`0.5` is half of one CPU).
    public var cpus: Double?

    public init(
        image: String? = nil, runtime: String? = nil, cmd: [String]? = nil, started: Bool? = nil,
        ports: [PortRequest]? = nil, environment: [EnvironmentVariable]? = nil, environmentID: String? = nil, volumes: [VolumeRequest]? = nil,
        restart: String? = nil, memory: MemoryLimit? = nil, cpus: Double? = nil
    ) {
        self.image = image
        self.runtime = runtime
        self.cmd = cmd
        self.started = started
        self.ports = ports
        self.environment = environment
        self.environmentID = environmentID
        self.volumes = volumes
        self.restart = restart
        self.memory = memory
        self.cpus = cpus
    }

    static let fields: Set<String> = [
        "image", "runtime", "cmd", "started", "ports", "environment", "environmentid", "volumes", "restart", "memory", "cpus",
    ]

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: Self.fields)
        image = try object.decode(String.self, "image")
        runtime = try object.decode(String.self, "runtime")
        cmd = try object.decode([String].self, "cmd")
        started = try object.decode(Bool.self, "started")
        ports = try object.decode([PortRequest].self, "ports")
        environment = try object.superDecoder("environment").map { try EnvironmentVariable.decodeList(from: $0) }
        environmentID = try object.decode(String.self, "environmentid")
        volumes = try object.decode([VolumeRequest].self, "volumes")
        restart = try object.decode(String.self, "restart")
        memory = try object.decode(MemoryLimit.self, "memory")
        cpus = try object.decode(Double.self, "cpus")
    }

    private enum CodingKeys: String, CodingKey {
        case image = "Image", runtime = "Runtime", cmd = "Cmd", started = "Started", ports = "Ports"
        case environment = "Environment", environmentID = "EnvironmentId", volumes = "Volumes", restart = "Restart", memory = "Memory", cpus = "CPUs"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(image, forKey: .image)
        try c.encodeIfPresent(runtime, forKey: .runtime)
        try c.encodeIfPresent(cmd, forKey: .cmd)
        try c.encodeIfPresent(started, forKey: .started)
        try c.encodeIfPresent(ports, forKey: .ports)
        if let environment {
            try c.encode(environment, forKey: .environment)
        }
        try c.encodeIfPresent(environmentID, forKey: .environmentID)
        try c.encodeIfPresent(volumes, forKey: .volumes)
        try c.encodeIfPresent(restart, forKey: .restart)
        try c.encodeIfPresent(memory, forKey: .memory)
        try c.encodeIfPresent(cpus, forKey: .cpus)
    }
}

/// A port to publish: `Internal` inside the container, `External` on the host (0 or absent: allocate).
public struct PortRequest: Sendable, Hashable, Codable {
    public var internalPort: Int
    public var externalPort: Int?

    public init(internal: Int, external: Int? = nil) {
        self.internalPort = `internal`
        self.externalPort = external
    }

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: ["internal", "external"])
        guard let internalPort = try object.decode(Int.self, "internal") else {
            throw DecodingError.keyNotFound(
                AnyCodingKey("Internal"), .init(codingPath: decoder.codingPath, debugDescription: "a port needs 'Internal'"))
        }
        self.internalPort = internalPort
        self.externalPort = try object.decode(Int.self, "external")
    }

    private enum CodingKeys: String, CodingKey {
        case internalPort = "Internal", externalPort = "External"
    }
}

/// A named volume: a host directory under geard's state directory, mounted at `path` in the container.
public struct VolumeRequest: Sendable, Hashable, Codable {
    public var name: String
    public var path: String
    public var readOnly: Bool?

    public init(name: String, path: String, readOnly: Bool? = nil) {
        self.name = name
        self.path = path
        self.readOnly = readOnly
    }

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: ["name", "path", "readonly"])
        guard let name = try object.decode(String.self, "name"), let path = try object.decode(String.self, "path") else {
            throw DecodingError.keyNotFound(
                AnyCodingKey("Name"), .init(codingPath: decoder.codingPath, debugDescription: "a volume needs 'Name' and 'Path'"))
        }
        self.name = name
        self.path = path
        self.readOnly = try object.decode(Bool.self, "readonly")
    }

    private enum CodingKeys: String, CodingKey {
        case name = "Name", path = "Path", readOnly = "ReadOnly"
    }
}

/// A memory limit: a number of bytes, or a string such as `256M`, `1G`, `512MiB` (parsed by the agent).
public struct MemoryLimit: Sendable, Hashable, Codable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    /// The limit as given.
    public var text: String

    public init(_ text: String) { self.text = text }
    public init(stringLiteral value: String) { self.text = value }
    public init(integerLiteral value: Int) { self.text = String(value) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let bytes = try? container.decode(Int64.self) {
            text = String(bytes)
        } else {
            text = try container.decode(String.self)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}

/// The body of `PUT /container/{id}`: what to run and how.
///
/// Field names follow geard and are matched case-insensitively: `Image`, `Runtime`, `Cmd`, `Started`, `Ports`,
/// `Environment`, `EnvironmentId`, `Volumes`, `Restart`, `Memory`, `CPUs`. Shapes are checked here; meaning (valid image names,
/// port ranges, escaping) is checked by the agent.
///
/// geard's whole `InstallContainerRequest`, which its client always sends, is read too: `Id` (it must be the path's
/// id), `Simple`, `Isolate`, `SocketActivation`, `SkipSocketProxy`, `NetworkLinks`, `VolumeConfig`,
/// `SystemdSlice`, and `Environment` as geard's `{"Variables": [...], "Source": "", "Id": ""}`.
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
    /// exec runtime: parts of the unit's sandbox the container goes without (`MemoryDenyWriteExecute` for a JIT,
    /// `SystemCallFilter`, `PrivateUsers`, `ProtectProc`, `RestrictAddressFamilies`, `RestrictNamespaces`).
    public var relax: [String]?
    /// Labels kept with the container and shown by status and list (`gear deploy` marks its instances with them):
    /// keys of letters, digits, `.`, `-`, `_` and `/`; values of printable text.
    public var labels: [String: String]?
    /// A health check, one of three kinds: `HealthCmd` (a command run inside the container like exec, healthy when
    /// it exits 0), `HealthHTTP` (`{"Port": 8080, "Path": "/healthz"}`: a GET from the node, healthy on 2xx/3xx) or
    /// `HealthTCP` (a port that must accept a connection). Ports are internal ports (published ones for podman).
    public var healthCmd: [String]?
    public var healthHTTP: HealthHTTPCheck?
    public var healthTCP: Int?
    /// Durations as seconds or text (`30s`, `1m`): between checks (default 30s), how long one may take (30s), the
    /// grace after a start during which failures do not count (0).
    public var healthInterval: DurationText?
    public var healthTimeout: DurationText?
    public var healthStartPeriod: DurationText?
    /// Failed checks in a row that make the container unhealthy (default 3).
    public var healthRetries: Int?
    /// What geard does when the container becomes unhealthy: `none` (default), `restart`, `kill` (systemd's
    /// `Restart=` policy then applies) or `stop`.
    public var healthOnFailure: String?
    /// A precondition on the node's room, checked when the install is accepted, against every install accepted
    /// before it: the memory and CPUs granted to the other containers plus this one's `Memory` and `CPUs` must stay
    /// within the node's. Two schedulers racing for the last room on a node cannot both win: the loser gets
    /// `409 insufficient_capacity` with what is left, and nothing changes.
    public var ifFits: Bool?

    /// geard: the container's id, which must be the path's.
    public var id: String?
    /// geard: the run mode without geard's init wrapper, and the proxy of socket activation; both without meaning
    /// here (accepted whatever their value).
    public var simple: Bool?
    public var skipSocketProxy: Bool?
    /// geard: a user namespace per container, and systemd socket activation; refused when true.
    public var isolate: Bool?
    public var socketActivation: Bool?
    /// geard: what the container reaches at local addresses (`FromHost:FromPort` inside leads to `ToHost:ToPort`).
    public var networkLinks: [NetworkLink]?
    /// geard: volumes by container path, and host directories mounted into the container.
    public var volumeConfig: VolumeConfig?
    /// geard: the slice the container's unit runs in (`container-small`), placed under gear.slice.
    public var systemdSlice: String?
    /// geard's environment description beside its `Variables`: an environment id (with variables: the named
    /// environment they make; without: one that exists) and a URL to fetch variables from (not fetched: refused
    /// unless empty).
    public var environmentDescriptionID: String?
    public var environmentSource: String?

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
        "id", "simple", "isolate", "socketactivation", "skipsocketproxy", "networklinks", "volumeconfig", "systemdslice", "relax",
        "labels", "healthcmd", "healthhttp", "healthtcp", "healthinterval", "healthtimeout", "healthstartperiod", "healthretries",
        "healthonfailure", "iffits",
    ]

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: Self.fields)
        image = try object.decode(String.self, "image")
        runtime = try object.decode(String.self, "runtime")
        cmd = try object.decode([String].self, "cmd")
        started = try object.decode(Bool.self, "started")
        ports = try object.decode([PortRequest].self, "ports")
        if let nested = try object.superDecoder("environment") {
            if let description = try? GeardEnvironmentDescription(from: nested) {
                environment = description.variables
                environmentDescriptionID = description.id.flatMap { $0.isEmpty ? nil : $0 }
                environmentSource = description.source.flatMap { $0.isEmpty ? nil : $0 }
            } else {
                environment = try EnvironmentVariable.decodeList(from: nested)
            }
        }
        environmentID = try object.decode(String.self, "environmentid")
        volumes = try object.decode([VolumeRequest].self, "volumes")
        restart = try object.decode(String.self, "restart")
        memory = try object.decode(MemoryLimit.self, "memory")
        cpus = try object.decode(Double.self, "cpus")
        id = try object.decode(String.self, "id")
        simple = try object.decode(Bool.self, "simple")
        isolate = try object.decode(Bool.self, "isolate")
        socketActivation = try object.decode(Bool.self, "socketactivation")
        skipSocketProxy = try object.decode(Bool.self, "skipsocketproxy")
        networkLinks = try object.decode([NetworkLink].self, "networklinks")
        volumeConfig = try object.decode(VolumeConfig.self, "volumeconfig")
        systemdSlice = try object.decode(String.self, "systemdslice")
        relax = try object.decode([String].self, "relax")
        labels = try object.decode([String: String].self, "labels")
        healthCmd = try object.decode([String].self, "healthcmd")
        healthHTTP = try object.decode(HealthHTTPCheck.self, "healthhttp")
        healthTCP = try object.decode(Int.self, "healthtcp")
        healthInterval = try object.decode(DurationText.self, "healthinterval")
        healthTimeout = try object.decode(DurationText.self, "healthtimeout")
        healthStartPeriod = try object.decode(DurationText.self, "healthstartperiod")
        healthRetries = try object.decode(Int.self, "healthretries")
        healthOnFailure = try object.decode(String.self, "healthonfailure")
        ifFits = try object.decode(Bool.self, "iffits")
    }

    private enum CodingKeys: String, CodingKey {
        case image = "Image", runtime = "Runtime", cmd = "Cmd", started = "Started", ports = "Ports"
        case environment = "Environment", environmentID = "EnvironmentId", volumes = "Volumes", restart = "Restart", memory = "Memory", cpus = "CPUs"
        case id = "Id", simple = "Simple", isolate = "Isolate", socketActivation = "SocketActivation", skipSocketProxy = "SkipSocketProxy"
        case networkLinks = "NetworkLinks", volumeConfig = "VolumeConfig", systemdSlice = "SystemdSlice", relax = "Relax"
        case labels = "Labels"
        case healthCmd = "HealthCmd", healthHTTP = "HealthHTTP", healthTCP = "HealthTCP", healthInterval = "HealthInterval"
        case healthTimeout = "HealthTimeout", healthStartPeriod = "HealthStartPeriod", healthRetries = "HealthRetries"
        case healthOnFailure = "HealthOnFailure", ifFits = "IfFits"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(image, forKey: .image)
        try c.encodeIfPresent(runtime, forKey: .runtime)
        try c.encodeIfPresent(cmd, forKey: .cmd)
        try c.encodeIfPresent(started, forKey: .started)
        try c.encodeIfPresent(ports, forKey: .ports)
        if environmentDescriptionID != nil || environmentSource != nil {
            var nested = c.nestedContainer(keyedBy: AnyCodingKey.self, forKey: .environment)
            try nested.encode(environment, forKey: AnyCodingKey("Variables"))
            try nested.encode(environmentSource ?? "", forKey: AnyCodingKey("Source"))
            try nested.encode(environmentDescriptionID ?? "", forKey: AnyCodingKey("Id"))
        } else if let environment {
            try c.encode(environment, forKey: .environment)
        }
        try c.encodeIfPresent(environmentID, forKey: .environmentID)
        try c.encodeIfPresent(volumes, forKey: .volumes)
        try c.encodeIfPresent(restart, forKey: .restart)
        try c.encodeIfPresent(memory, forKey: .memory)
        try c.encodeIfPresent(cpus, forKey: .cpus)
        try c.encodeIfPresent(id, forKey: .id)
        try c.encodeIfPresent(simple, forKey: .simple)
        try c.encodeIfPresent(isolate, forKey: .isolate)
        try c.encodeIfPresent(socketActivation, forKey: .socketActivation)
        try c.encodeIfPresent(skipSocketProxy, forKey: .skipSocketProxy)
        try c.encodeIfPresent(networkLinks, forKey: .networkLinks)
        try c.encodeIfPresent(volumeConfig, forKey: .volumeConfig)
        try c.encodeIfPresent(systemdSlice, forKey: .systemdSlice)
        try c.encodeIfPresent(relax, forKey: .relax)
        try c.encodeIfPresent(labels, forKey: .labels)
        try c.encodeIfPresent(healthCmd, forKey: .healthCmd)
        try c.encodeIfPresent(healthHTTP, forKey: .healthHTTP)
        try c.encodeIfPresent(healthTCP, forKey: .healthTCP)
        try c.encodeIfPresent(healthInterval, forKey: .healthInterval)
        try c.encodeIfPresent(healthTimeout, forKey: .healthTimeout)
        try c.encodeIfPresent(healthStartPeriod, forKey: .healthStartPeriod)
        try c.encodeIfPresent(healthRetries, forKey: .healthRetries)
        try c.encodeIfPresent(healthOnFailure, forKey: .healthOnFailure)
        try c.encodeIfPresent(ifFits, forKey: .ifFits)
    }
}

/// geard's `EnvironmentDescription`: `{"Variables": [{"Name":..,"Value":..}] or null, "Source": "", "Id": ""}`.
/// Read only when the object has a `Variables` field and no field but those three (so that a gear environment
/// `{"KEY": "VALUE"}` is never mistaken for it).
public struct GeardEnvironmentDescription: Sendable, Hashable, Decodable {
    public var variables: [EnvironmentVariable]?
    public var source: String?
    public var id: String?

    public init(variables: [EnvironmentVariable]?, source: String? = nil, id: String? = nil) {
        self.variables = variables
        self.source = source
        self.id = id
    }

    public init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: AnyCodingKey.self).allKeys.map { $0.stringValue.lowercased() }
        guard keys.contains("variables") else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not geard's environment description"))
        }
        let object = try CaseInsensitiveObject(from: decoder, known: ["variables", "source", "id"])
        variables = try object.decode([EnvironmentVariable].self, "variables")
        source = try object.decode(String.self, "source")
        id = try object.decode(String.self, "id")
    }
}

/// geard's network link: inside the container, `FromHost:FromPort` leads to `ToHost:ToPort`.
public struct NetworkLink: Sendable, Hashable, Codable {
    public var fromHost: String?
    public var fromPort: Int
    public var toPort: Int?
    public var toHost: String?

    public init(fromHost: String? = nil, fromPort: Int, toHost: String?, toPort: Int?) {
        self.fromHost = fromHost
        self.fromPort = fromPort
        self.toHost = toHost
        self.toPort = toPort
    }

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: ["fromhost", "fromport", "toport", "tohost"])
        guard let fromPort = try object.decode(Int.self, "fromport") else {
            throw DecodingError.keyNotFound(
                AnyCodingKey("FromPort"), .init(codingPath: decoder.codingPath, debugDescription: "a network link needs 'FromPort'"))
        }
        self.fromPort = fromPort
        fromHost = try object.decode(String.self, "fromhost")
        toPort = try object.decode(Int.self, "toport")
        toHost = try object.decode(String.self, "tohost")
    }

    private enum CodingKeys: String, CodingKey {
        case fromHost = "FromHost", fromPort = "FromPort", toPort = "ToPort", toHost = "ToHost"
    }
}

/// geard's `VolumeConfig`: volumes by container path, and host directories mounted into the container.
public struct VolumeConfig: Sendable, Hashable, Codable {
    public var volumes: [Volume]?
    public var volumeMounts: [Mount]?

    public struct Volume: Sendable, Hashable, Codable {
        public var path: String
        public init(path: String) { self.path = path }
        public init(from decoder: any Decoder) throws {
            let object = try CaseInsensitiveObject(from: decoder, known: ["path"])
            guard let path = try object.decode(String.self, "path") else {
                throw DecodingError.keyNotFound(
                    AnyCodingKey("Path"), .init(codingPath: decoder.codingPath, debugDescription: "a volume needs 'Path'"))
            }
            self.path = path
        }
        private enum CodingKeys: String, CodingKey { case path = "Path" }
    }

    public struct Mount: Sendable, Hashable, Codable {
        public var path: String
        public var hostPath: String
        public var readOnly: Bool?
        public init(path: String, hostPath: String, readOnly: Bool? = nil) {
            self.path = path
            self.hostPath = hostPath
            self.readOnly = readOnly
        }
        public init(from decoder: any Decoder) throws {
            let object = try CaseInsensitiveObject(from: decoder, known: ["path", "hostpath", "readonly"])
            guard let path = try object.decode(String.self, "path"), let hostPath = try object.decode(String.self, "hostpath") else {
                throw DecodingError.keyNotFound(
                    AnyCodingKey("HostPath"), .init(codingPath: decoder.codingPath, debugDescription: "a volume mount needs 'Path' and 'HostPath'"))
            }
            self.path = path
            self.hostPath = hostPath
            readOnly = try object.decode(Bool.self, "readonly")
        }
        private enum CodingKeys: String, CodingKey { case path = "Path", hostPath = "HostPath", readOnly = "ReadOnly" }
    }

    public init(volumes: [Volume]? = nil, volumeMounts: [Mount]? = nil) {
        self.volumes = volumes
        self.volumeMounts = volumeMounts
    }

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: ["volumes", "volumemounts"])
        volumes = try object.decode([Volume].self, "volumes")
        volumeMounts = try object.decode([Mount].self, "volumemounts")
    }

    private enum CodingKeys: String, CodingKey { case volumes = "Volumes", volumeMounts = "VolumeMounts" }
}

/// The body of geard's `POST /containers/links`: the links each container gets (replacing the ones it had).
public struct ContainerLinks: Sendable, Hashable, Codable {
    public var links: [ContainerLink]

    public struct ContainerLink: Sendable, Hashable, Codable {
        public var id: String
        public var networkLinks: [NetworkLink]
        public init(id: String, networkLinks: [NetworkLink]) {
            self.id = id
            self.networkLinks = networkLinks
        }
        public init(from decoder: any Decoder) throws {
            let object = try CaseInsensitiveObject(from: decoder, known: ["id", "networklinks"])
            guard let id = try object.decode(String.self, "id") else {
                throw DecodingError.keyNotFound(AnyCodingKey("Id"), .init(codingPath: decoder.codingPath, debugDescription: "a link needs 'Id'"))
            }
            self.id = id
            networkLinks = try object.decode([NetworkLink].self, "networklinks") ?? []
        }
        private enum CodingKeys: String, CodingKey { case id = "Id", networkLinks = "NetworkLinks" }
    }

    public init(links: [ContainerLink]) { self.links = links }

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: ["links"])
        links = try object.decode([ContainerLink].self, "links") ?? []
    }

    private enum CodingKeys: String, CodingKey { case links = "Links" }
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

    /// The limit in bytes: digits with an optional `K`, `M`, `G` or `T` (powers of 1024, optionally followed by
    /// `B` or `iB`); nil when the text is not such a size or exceeds 1 PiB.
    public var bytes: UInt64? {
        var s = Substring(text)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        let digits = s.prefix { $0.isASCII && $0.isNumber }
        var unit = s.dropFirst(digits.count).lowercased()
        for suffix in ["ib", "b"] where unit.hasSuffix(suffix) && unit.count > suffix.count - 1 {
            unit = String(unit.dropLast(suffix.count))
            break
        }
        let shift: UInt64? =
            switch unit {
            case "": 0
            case "k": 10
            case "m": 20
            case "g": 30
            case "t": 40
            default: nil
            }
        guard !digits.isEmpty, let shift, let value = UInt64(digits), value <= (UInt64(1) << 50) >> shift else { return nil }
        return value << shift
    }
}

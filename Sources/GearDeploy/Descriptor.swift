public import Foundation
public import GearAPI

/// A deployment: one description of an application's containers, materialised on one host or many by `gear deploy`.
///
/// openshift/geard's deployment format is read as it was (`Containers`, `IdPrefix`, `RandomizeIds`, `Instances`, and
/// per container `Name`, `Image`, `Count`, `PublicPorts`, `Links`, `Affinity`), with field names in any case. Each
/// container also takes the fields of gear's install body (`Runtime`, `Cmd`, `Environment`, `EnvironmentId`,
/// `Volumes`, `Restart`, `Memory`, `CPUs`, `Relax`, `Labels`, `Started`), and the deployment a `Name` and a
/// `Placement` (`spread` or `binpack`).
public struct DeploymentDescriptor: Sendable, Hashable, Decodable {
    /// The deployment's name, the label its instances carry; nil when the file gives none (the file name is used).
    public var name: String?
    /// Put before every instance id (`IdPrefix` + `Name` + `-` + n).
    public var idPrefix: String
    /// New instances get random ids instead of `Name-n`.
    public var randomizeIds: Bool
    /// How new instances are spread over the hosts, unless a container says otherwise.
    public var placement: PlacementStrategy
    public var containers: [ContainerDescriptor]
    /// How many instances a geard saved deployment lists (`Instances`): read, then not used, since the hosts
    /// themselves say what runs there.
    public var savedInstances: Int

    public init(
        name: String? = nil, idPrefix: String = "", randomizeIds: Bool = false, placement: PlacementStrategy = .spread,
        containers: [ContainerDescriptor]
    ) {
        self.name = name
        self.idPrefix = idPrefix
        self.randomizeIds = randomizeIds
        self.placement = placement
        self.containers = containers
        self.savedInstances = 0
    }

    static let fields: Set<String> = ["name", "idprefix", "randomizeids", "placement", "containers", "instances"]

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: Self.fields)
        name = try object.decode(String.self, "name")
        idPrefix = try object.decode(String.self, "idprefix") ?? ""
        randomizeIds = try object.decode(Bool.self, "randomizeids") ?? false
        placement = try object.decode(PlacementStrategy.self, "placement") ?? .spread
        containers = try object.decode([ContainerDescriptor].self, "containers") ?? []
        savedInstances = try object.decode([IgnoredValue].self, "instances")?.count ?? 0
    }

    /// Reads a descriptor from JSON; `fileName` names the deployment when the file does not.
    public static func parse(_ data: Data, fileName: String? = nil) throws(DeploymentError) -> DeploymentDescriptor {
        var descriptor: DeploymentDescriptor
        do {
            descriptor = try JSONDecoder().decode(DeploymentDescriptor.self, from: data)
        } catch let error as DecodingError {
            throw DeploymentError(decoding: error)
        } catch {
            throw DeploymentError(field: "", "not a deployment: \(error)")
        }
        if descriptor.name == nil, let fileName {
            var base = (fileName as NSString).lastPathComponent
            for suffix in [".json", ".yaml", ".yml"] where base.lowercased().hasSuffix(suffix) {
                base = String(base.dropLast(suffix.count))
                break
            }
            descriptor.name = String(base.map { DeploymentDescriptor.isNameCharacter($0) ? $0 : "-" }.prefix(63))
        }
        return descriptor
    }

    static func isNameCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_" || c == ".")
    }
}

/// Spread instances over hosts (default), or fill one host before the next.
public enum PlacementStrategy: String, Sendable, Hashable, Decodable {
    case spread
    case binpack

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        switch text.lowercased() {
        case "spread", "distribute": self = .spread
        case "binpack", "pack": self = .binpack
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not spread or binpack"))
        }
    }
}

/// One container of a deployment: what each of its `Count` instances runs, and where they may go.
public struct ContainerDescriptor: Sendable, Hashable, Decodable {
    public var name: String
    public var image: String?
    public var count: Int
    public var publicPorts: [PortRequest]
    public var links: [LinkDescriptor]
    public var affinity: Affinity
    /// nil: the deployment's strategy.
    public var placement: PlacementStrategy?
    /// Whether instances run (default true).
    public var started: Bool
    /// Space the container's volumes need on a host, counted against the node's free disk.
    public var disk: MemoryLimit?
    /// gear's install fields, passed on as they are.
    public var runtime: String?
    public var cmd: [String]?
    public var environment: [EnvironmentVariable]?
    public var environmentID: String?
    public var volumes: [VolumeRequest]?
    public var restart: String?
    public var memory: MemoryLimit?
    public var cpus: Double?
    public var relax: [String]?
    public var labels: [String: String]?
    /// The health check fields of the install body (`HealthCmd`, `HealthHTTP`, `HealthTCP`, `HealthInterval`, ...).
    public var health = HealthFields()
    /// geard's `Notify` (a unit of `Type=notify`); only false is accepted, since gear's units always notify.
    public var notify: Bool

    public init(name: String, image: String? = nil, count: Int = 1, publicPorts: [PortRequest] = [], links: [LinkDescriptor] = []) {
        self.name = name
        self.image = image
        self.count = count
        self.publicPorts = publicPorts
        self.links = links
        self.affinity = Affinity()
        self.started = true
        self.notify = false
    }

    static let fields: Set<String> = [
        "name", "image", "count", "publicports", "ports", "links", "affinity", "placement", "started", "disk", "runtime", "cmd",
        "environment", "environmentid", "volumes", "restart", "memory", "cpus", "relax", "labels", "notify", "healthcmd", "healthhttp",
        "healthtcp", "healthinterval", "healthtimeout", "healthstartperiod", "healthretries", "healthonfailure",
    ]

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: Self.fields)
        guard let name = try object.decode(String.self, "name") else {
            throw DecodingError.keyNotFound(AnyCodingKey("Name"), .init(codingPath: decoder.codingPath, debugDescription: "a container needs a Name"))
        }
        self.name = name
        image = try object.decode(String.self, "image")
        count = try object.decode(Int.self, "count") ?? 0
        let publicPorts = try object.decode([PortRequest].self, "publicports")
        let ports = try object.decode([PortRequest].self, "ports")
        if publicPorts != nil && ports != nil {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "give PublicPorts or Ports, not both (they are the same field)"))
        }
        self.publicPorts = publicPorts ?? ports ?? []
        links = try object.decode([LinkDescriptor].self, "links") ?? []
        affinity = try object.decode(Affinity.self, "affinity") ?? Affinity()
        placement = try object.decode(PlacementStrategy.self, "placement")
        started = try object.decode(Bool.self, "started") ?? true
        disk = try object.decode(MemoryLimit.self, "disk")
        runtime = try object.decode(String.self, "runtime")
        cmd = try object.decode([String].self, "cmd")
        if let nested = try object.superDecoder("environment") { environment = try EnvironmentVariable.decodeList(from: nested) }
        environmentID = try object.decode(String.self, "environmentid")
        volumes = try object.decode([VolumeRequest].self, "volumes")
        restart = try object.decode(String.self, "restart")
        memory = try object.decode(MemoryLimit.self, "memory")
        cpus = try object.decode(Double.self, "cpus")
        relax = try object.decode([String].self, "relax")
        labels = try object.decode([String: String].self, "labels")
        notify = try object.decode(Bool.self, "notify") ?? false
        health.cmd = try object.decode([String].self, "healthcmd")
        health.http = try object.decode(HealthHTTPCheck.self, "healthhttp")
        health.tcp = try object.decode(Int.self, "healthtcp")
        health.interval = try object.decode(DurationText.self, "healthinterval")
        health.timeout = try object.decode(DurationText.self, "healthtimeout")
        health.startPeriod = try object.decode(DurationText.self, "healthstartperiod")
        health.retries = try object.decode(Int.self, "healthretries")
        health.onFailure = try object.decode(String.self, "healthonfailure")
    }

    /// A container's health check, passed on to each instance's install body as given.
    public struct HealthFields: Sendable, Hashable {
        public var cmd: [String]?
        public var http: HealthHTTPCheck?
        public var tcp: Int?
        public var interval: DurationText?
        public var timeout: DurationText?
        public var startPeriod: DurationText?
        public var retries: Int?
        public var onFailure: String?

        public init() {}

        var isEmpty: Bool { self == HealthFields() }
    }

    /// `exec` or `podman` (the default).
    public var runtimeName: String { (runtime ?? "podman").lowercased() }
}

/// A link from a container's instances to every instance of another (geard's `Links`): inside each source instance,
/// a loopback address and port per target instance and port lead to that instance on whichever host it landed.
public struct LinkDescriptor: Sendable, Hashable, Decodable {
    /// The target container's name.
    public var to: String
    /// geard: a non-loopback alias address; not supported (aliases are loopback inside the container).
    public var nonLocal: Bool
    /// The alias port is the target's internal port (instances differ by alias address: 127.0.0.1, 127.0.0.2, ...).
    public var matchPort: Bool
    /// The target's internal ports to link to (default: all its public ports).
    public var ports: [Int]
    /// Target internal port `Internal` appears at port `External` inside the source (0: chosen).
    public var aliasPorts: [PortRequest]

    public init(to: String, matchPort: Bool = false, ports: [Int] = [], aliasPorts: [PortRequest] = []) {
        self.to = to
        self.nonLocal = false
        self.matchPort = matchPort
        self.ports = ports
        self.aliasPorts = aliasPorts
    }

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(
            from: decoder, known: ["to", "nonlocal", "matchport", "ports", "aliasports", "useprimary", "combine"])
        guard let to = try object.decode(String.self, "to") else {
            throw DecodingError.keyNotFound(AnyCodingKey("To"), .init(codingPath: decoder.codingPath, debugDescription: "a link needs To"))
        }
        self.to = to
        nonLocal = try object.decode(Bool.self, "nonlocal") ?? false
        matchPort = try object.decode(Bool.self, "matchport") ?? false
        ports = try object.decode([Int].self, "ports") ?? []
        aliasPorts = try object.decode([PortRequest].self, "aliasports") ?? []
    }

    /// The target's `NAME_HOST`, `NAME_PORT`, `NAME_ADDRS` prefix: its name in upper case, other characters `_`.
    public static func variablePrefix(_ name: String) -> String {
        String(name.uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    }
}

/// Where a container's instances may go. geard's `Affinity` was a string (`distribute`, the default spread); here
/// it may also be an object of rules: `NodeLabels` (every one must match the node's), `AvoidNodeLabels` (none may),
/// `With` (only hosts that run an instance of each of these containers), `Apart` (no host that runs one of these;
/// the container's own name keeps its instances on distinct hosts).
public struct Affinity: Sendable, Hashable, Decodable {
    public var nodeLabels: [String: String]
    public var avoidNodeLabels: [String: String]
    public var with: [String]
    public var apart: [String]

    public init(nodeLabels: [String: String] = [:], avoidNodeLabels: [String: String] = [:], with: [String] = [], apart: [String] = []) {
        self.nodeLabels = nodeLabels
        self.avoidNodeLabels = avoidNodeLabels
        self.with = with
        self.apart = apart
    }

    public init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            guard text.isEmpty || text.lowercased() == "distribute" else {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "Affinity '\(text)': use \"distribute\" or an object of NodeLabels, AvoidNodeLabels, With, Apart"))
            }
            self.init()
            return
        }
        let object = try CaseInsensitiveObject(from: decoder, known: ["nodelabels", "avoidnodelabels", "with", "apart"])
        self.init(
            nodeLabels: try object.decode([String: String].self, "nodelabels") ?? [:],
            avoidNodeLabels: try object.decode([String: String].self, "avoidnodelabels") ?? [:],
            with: try object.decode([String].self, "with") ?? [], apart: try object.decode([String].self, "apart") ?? [])
    }
}

/// A value that is read and dropped.
struct IgnoredValue: Decodable {
    init(from decoder: any Decoder) throws {}
}

/// What is wrong with a deployment, naming the field: `Containers[1].Links[0].To: no container 'dbx'`.
public struct DeploymentError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    init(decoding error: DecodingError) {
        func path(_ codingPath: [any CodingKey]) -> String {
            var text = ""
            for key in codingPath {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += (text.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return text
        }
        switch error {
        case .dataCorrupted(let context):
            self.init(field: path(context.codingPath), context.debugDescription)
        case .keyNotFound(let key, let context):
            self.init(field: path(context.codingPath), context.debugDescription.isEmpty ? "\(key.stringValue) is required" : context.debugDescription)
        case .typeMismatch(let type, let context):
            self.init(field: path(context.codingPath), "expected \(Self.jsonName(type))")
        case .valueNotFound(let type, let context):
            self.init(field: path(context.codingPath), "expected \(Self.jsonName(type)), found null")
        @unknown default:
            self.init(field: "", "\(error)")
        }
        if message.hasPrefix("The given data was not valid JSON") { message = "not valid JSON" }
    }

    static func jsonName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Double.Type, is Int64.Type: "a number"
        case is Bool.Type: "true or false"
        default: String(describing: type).hasPrefix("Array") ? "a list" : "an object"
        }
    }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

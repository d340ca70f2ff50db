/// An amount of each resource placement weighs: CPUs, memory and disk, and ports of the node's range that the node
/// allocates. The order of `subscript` is the order of `Resources.names`.
public struct Resources: Sendable, Hashable {
    public var cpus: Double
    /// Bytes.
    public var memory: Double
    /// Bytes.
    public var disk: Double
    /// Ports of the node's range.
    public var ports: Double

    public init(cpus: Double = 0, memory: Double = 0, disk: Double = 0, ports: Double = 0) {
        self.cpus = cpus
        self.memory = memory
        self.disk = disk
        self.ports = ports
    }

    public static let zero = Resources()
    /// How many resources there are.
    public static let count = 4
    public static let names = ["cpus", "memory", "disk", "ports"]

    public subscript(resource: Int) -> Double {
        get {
            switch resource {
            case 0: cpus
            case 1: memory
            case 2: disk
            default: ports
            }
        }
        set {
            switch resource {
            case 0: cpus = newValue
            case 1: memory = newValue
            case 2: disk = newValue
            default: ports = newValue
            }
        }
    }

    /// Each resource the larger of the two.
    public func maximum(_ other: Resources) -> Resources {
        Resources(cpus: max(cpus, other.cpus), memory: max(memory, other.memory), disk: max(disk, other.disk), ports: max(ports, other.ports))
    }

    /// Each resource the smaller of the two.
    public func minimum(_ other: Resources) -> Resources {
        Resources(cpus: min(cpus, other.cpus), memory: min(memory, other.memory), disk: min(disk, other.disk), ports: min(ports, other.ports))
    }

    /// Whether every resource of `demand` is at most what this holds (CPUs with a little slack for rounding).
    public func holds(_ demand: Resources) -> Bool {
        demand.cpus <= cpus + 1e-9 && demand.memory <= memory && demand.disk <= disk && demand.ports <= ports
    }

    public static func + (a: Resources, b: Resources) -> Resources {
        Resources(cpus: a.cpus + b.cpus, memory: a.memory + b.memory, disk: a.disk + b.disk, ports: a.ports + b.ports)
    }

    public static func - (a: Resources, b: Resources) -> Resources {
        Resources(cpus: a.cpus - b.cpus, memory: a.memory - b.memory, disk: a.disk - b.disk, ports: a.ports - b.ports)
    }
}

public import GearAPI

/// A host as a deploy sees it: what its geard says about itself (`/node`) and what it runs (`/containers`).
public struct NodeState: Sendable, Hashable {
    /// The host as the user named it (`10.0.0.1`, `node1:43274`), or `local` for the local geard.
    public var name: String
    /// The IPv4 address other hosts reach its published ports at (a link's `ToHost`).
    public var address: String
    public var info: NodeInfo
    public var containers: [ContainerStatus]
    /// Why the host takes no new instances (cordoned, or what it reports cannot be believed), or nil. What runs
    /// there stays.
    public var unschedulable: String?

    public init(name: String, address: String, info: NodeInfo, containers: [ContainerStatus], unschedulable: String? = nil) {
        self.name = name
        self.address = address
        self.info = info
        self.containers = containers
        self.unschedulable = unschedulable
    }
}

/// What one instance asks of a host.
struct Demand {
    var memory: Int64 = 0
    var cpus: Double = 0
    /// Published ports whose external port the host allocates.
    var allocatedPorts = 0
    /// Published ports with a fixed external port.
    var fixedPorts: [Int] = []
    var disk: Int64 = 0

    init(_ container: ContainerDescriptor) {
        memory = container.memory?.bytes.map { Int64(clamping: $0) } ?? 0
        cpus = container.cpus ?? 0
        for port in container.publicPorts {
            if let external = port.externalPort, external != 0 { fixedPorts.append(external) } else { allocatedPorts += 1 }
        }
        disk = container.disk?.bytes.map { Int64(clamping: $0) } ?? 0
    }

    /// What the placement weighs; disk only for an instance placed anew (one that stays has its volumes already).
    func resources(countDisk: Bool) -> Resources {
        Resources(cpus: cpus, memory: Double(memory), disk: countDisk ? Double(disk) : 0, ports: Double(allocatedPorts))
    }
}

/// What is left on one host for this deployment, while instances are placed, but the amounts (the plan's
/// `PlacementPool` holds those).
struct Capacity {
    /// External ports held by containers that are not this deployment's, or by a process of the host.
    var heldPorts: Set<Int>
    var labels: [String: String]
    /// The deployment's instances placed here so far.
    var slots: [Slot] = []

    init(_ node: NodeState, deployment: String) {
        heldPorts = Set(
            node.containers.filter { $0.labels?[DeploymentLabel.deployment] != deployment }.flatMap { $0.ports.map(\.externalPort) }
        )
        .union(node.info.ports.heldByHost ?? [])
        labels = node.info.labels ?? [:]
    }

    /// What the host has, and what it has for this deployment: its capacity less what is granted to other containers
    /// (this deployment's own instances are placed again, so what they hold counts as free).
    static func resources(_ node: NodeState, deployment: String) -> (total: Resources, free: Resources) {
        let ours = node.containers.filter { $0.labels?[DeploymentLabel.deployment] == deployment }
        let range = node.info.ports.first...node.info.ports.last
        let total = Resources(
            cpus: Double(node.info.cpus), memory: Double(node.info.memory.totalBytes), disk: Double(node.info.disk.totalBytes),
            ports: Double(range.count))
        let free = Resources(
            cpus: Double(node.info.cpus) - node.info.granted.cpus + ours.reduce(0) { $0 + ($1.cpuLimit ?? 0) },
            memory: Double(node.info.memory.totalBytes - node.info.granted.memoryBytes + ours.reduce(0) { $0 + ($1.memoryLimit ?? 0) }),
            disk: Double(node.info.disk.freeBytes),
            ports: Double(node.info.ports.free + ours.reduce(0) { $0 + $1.ports.filter { range.contains($0.externalPort) }.count }))
        return (total, free)
    }

    /// Why `demand` does not fit in `free` (nil when it does), with what is missing.
    func shortfall(_ demand: Demand, free: Resources, countDisk: Bool) -> String? {
        let memory = Int64(free.memory)
        if demand.memory > memory {
            return "memory: needs \(Bytes(demand.memory)), \(Bytes(max(memory, 0))) free (short by \(Bytes(demand.memory - max(memory, 0))))"
        }
        if demand.cpus > free.cpus + 1e-9 {
            return
                "CPUs: needs \(CPUAmount(demand.cpus)), \(CPUAmount(max(free.cpus, 0))) free (short by \(CPUAmount(demand.cpus - max(free.cpus, 0))))"
        }
        let ports = Int(free.ports)
        if demand.allocatedPorts > ports {
            return
                "ports: needs \(demand.allocatedPorts) of the port range, \(max(ports, 0)) free (short by \(demand.allocatedPorts - max(ports, 0)))"
        }
        if let port = demand.fixedPorts.first(where: { heldPorts.contains($0) }) {
            return "ports: external port \(port) is taken"
        }
        let disk = Int64(free.disk)
        if countDisk, demand.disk > disk {
            return "disk: needs \(Bytes(demand.disk)), \(Bytes(max(disk, 0))) free (short by \(Bytes(demand.disk - max(disk, 0))))"
        }
        return nil
    }

    /// Whether a fixed external port of `demand` is taken here.
    func portTaken(_ demand: Demand) -> Bool {
        !demand.fixedPorts.isEmpty && demand.fixedPorts.contains { heldPorts.contains($0) }
    }

    mutating func take(_ demand: Demand, slot: Slot) {
        heldPorts.formUnion(demand.fixedPorts)
        slots.append(slot)
    }

    /// Why the affinity rules keep `container` off this host (nil when they do not).
    func refusal(_ container: ContainerDescriptor) -> String? {
        for (key, value) in container.affinity.nodeLabels.sorted(by: { $0.key < $1.key }) where labels[key] != value {
            return "labels: needs \(key)=\(value), has \(labels[key].map { "\(key)=\($0)" } ?? "no \(key)")"
        }
        for (key, value) in container.affinity.avoidNodeLabels.sorted(by: { $0.key < $1.key }) where labels[key] == value {
            return "labels: avoids \(key)=\(value)"
        }
        for other in container.affinity.with where !slots.contains(where: { $0.container == other }) {
            return "affinity: runs no instance of '\(other)'"
        }
        for other in container.affinity.apart where slots.contains(where: { $0.container == other }) {
            return "affinity: runs an instance of '\(other)'"
        }
        return nil
    }
}

/// A size for people: `512 MiB`.
struct Bytes: CustomStringConvertible {
    var value: Int64
    init(_ value: Int64) { self.value = value }

    var description: String {
        let units: [(Int64, String)] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for (size, name) in units where value >= size {
            let whole = Double(value) / Double(size)
            return whole == whole.rounded() ? "\(Int64(whole)) \(name)" : "\(CPUAmount(whole)) \(name)"
        }
        return "\(value) bytes"
    }
}

/// A number with at most two decimals: `0.25`, `3`.
struct CPUAmount: CustomStringConvertible {
    var value: Double
    init(_ value: Double) { self.value = value }

    var description: String {
        let hundredths = Int((value * 100).rounded())
        return hundredths % 100 == 0 ? "\(hundredths / 100)" : "\(hundredths / 100).\(String(format2: hundredths % 100))"
    }
}

extension String {
    fileprivate init(format2 value: Int) {
        self = value < 10 ? "0\(value)" : (value % 10 == 0 ? String(value / 10) : String(value))
    }
}

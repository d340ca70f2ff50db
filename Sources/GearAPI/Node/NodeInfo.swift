/// `GET /node`: what a scheduler needs to place work on this node.
public struct NodeInfo: Codable, Sendable, Hashable {
    public var hostname: String
    public var machineID: String
    public var bootID: String
    public var kernel: String
    public var systemdVersion: String
    /// nil when podman is not installed or does not answer.
    public var podmanVersion: String?
    public var cpus: Int
    public var memory: Memory
    public var disk: Disk
    public var ports: Ports
    public var containers: Containers
    /// What installed containers were granted, summed: a container without a limit adds nothing.
    public var granted: Granted
    /// The node's labels (`geard --label zone=a`), which placement rules match; absent when none.
    public var labels: [String: String]?

    public struct Memory: Codable, Sendable, Hashable {
        public var totalBytes: Int64
        public var availableBytes: Int64
        public init(totalBytes: Int64, availableBytes: Int64) {
            self.totalBytes = totalBytes
            self.availableBytes = availableBytes
        }
    }

    /// The file system of the state directory (volumes live there).
    public struct Disk: Codable, Sendable, Hashable {
        public var path: String
        public var totalBytes: Int64
        public var freeBytes: Int64
        public init(path: String, totalBytes: Int64, freeBytes: Int64) {
            self.path = path
            self.totalBytes = totalBytes
            self.freeBytes = freeBytes
        }
    }

    public struct Ports: Codable, Sendable, Hashable {
        public var first: Int
        public var last: Int
        /// External ports of the range that containers hold.
        public var allocated: Int
        /// Ports of the range that nothing holds: no container, no process of the host.
        public var free: Int
        /// Ports of the range that a process other than a gear container listens on (lowest first, at most
        /// `maxHeldByHost`): taken, so a deploy that chooses ports itself leaves them alone. Absent when none.
        public var heldByHost: [Int]?
        /// The most `heldByHost` lists.
        public static let maxHeldByHost = 256

        public init(first: Int, last: Int, allocated: Int, free: Int, heldByHost: [Int]? = nil) {
            self.first = first
            self.last = last
            self.allocated = allocated
            self.free = free
            self.heldByHost = heldByHost
        }
    }

    public struct Containers: Codable, Sendable, Hashable {
        public var total: Int
        /// Containers whose desired state is started.
        public var started: Int
        /// Counts by systemd `ActiveState` (`active`, `inactive`, `failed`, ...).
        public var byState: [String: Int]
        /// Running containers with a health check, by health (`starting`, `healthy`, `unhealthy`); absent when none.
        public var byHealth: [String: Int]?
        public init(total: Int, started: Int, byState: [String: Int]) {
            self.total = total
            self.started = started
            self.byState = byState
        }
    }

    public struct Granted: Codable, Sendable, Hashable {
        public var memoryBytes: Int64
        public var cpus: Double
        public init(memoryBytes: Int64, cpus: Double) {
            self.memoryBytes = memoryBytes
            self.cpus = cpus
        }
    }

    public init(
        hostname: String, machineID: String, bootID: String, kernel: String, systemdVersion: String, podmanVersion: String?, cpus: Int,
        memory: Memory, disk: Disk, ports: Ports, containers: Containers, granted: Granted
    ) {
        self.hostname = hostname
        self.machineID = machineID
        self.bootID = bootID
        self.kernel = kernel
        self.systemdVersion = systemdVersion
        self.podmanVersion = podmanVersion
        self.cpus = cpus
        self.memory = memory
        self.disk = disk
        self.ports = ports
        self.containers = containers
        self.granted = granted
    }
}

/// `GET /healthz` and `GET /readyz`: each check and whether it passed.
public struct HealthReport: Codable, Sendable, Hashable {
    public var status: String
    public var checks: [Check]

    public struct Check: Codable, Sendable, Hashable {
        public var name: String
        public var ok: Bool
        public var message: String?
        public init(name: String, ok: Bool, message: String? = nil) {
            self.name = name
            self.ok = ok
            self.message = message
        }
    }

    public init(checks: [Check]) {
        self.checks = checks
        self.status = checks.allSatisfy(\.ok) ? "ok" : "failing"
    }

    public var ok: Bool { checks.allSatisfy(\.ok) }
}

extension NodeInfo {
    /// Writes this answer as `GearJSON.encoder()` would (sorted keys, nil fields left out), without its cost.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("bootID")
        w.string(bootID)
        w.key("containers")
        w.beginObject()
        w.optional("byHealth", containers.byHealth) { w, counts in
            w.beginObject()
            for (status, count) in counts.sorted(by: { $0.key < $1.key }) {
                w.key(dynamic: status)
                w.int(count)
            }
            w.endObject()
        }
        w.key("byState")
        w.beginObject()
        for (state, count) in containers.byState.sorted(by: { $0.key < $1.key }) {
            w.key(dynamic: state)
            w.int(count)
        }
        w.endObject()
        w.key("started")
        w.int(containers.started)
        w.key("total")
        w.int(containers.total)
        w.endObject()
        w.key("cpus")
        w.int(cpus)
        w.key("disk")
        w.beginObject()
        w.key("freeBytes")
        w.int(disk.freeBytes)
        w.key("path")
        w.string(disk.path)
        w.key("totalBytes")
        w.int(disk.totalBytes)
        w.endObject()
        w.key("granted")
        w.beginObject()
        w.key("cpus")
        w.double(granted.cpus)
        w.key("memoryBytes")
        w.int(granted.memoryBytes)
        w.endObject()
        w.key("hostname")
        w.string(hostname)
        w.key("kernel")
        w.string(kernel)
        w.optional("labels", labels) { $0.stringMap($1) }
        w.key("machineID")
        w.string(machineID)
        w.key("memory")
        w.beginObject()
        w.key("availableBytes")
        w.int(memory.availableBytes)
        w.key("totalBytes")
        w.int(memory.totalBytes)
        w.endObject()
        w.optional("podmanVersion", podmanVersion) { $0.string($1) }
        w.key("ports")
        w.beginObject()
        w.key("allocated")
        w.int(ports.allocated)
        w.key("first")
        w.int(ports.first)
        w.key("free")
        w.int(ports.free)
        w.optional("heldByHost", ports.heldByHost) { w, list in
            w.beginArray()
            for port in list { w.int(port) }
            w.endArray()
        }
        w.key("last")
        w.int(ports.last)
        w.endObject()
        w.key("systemdVersion")
        w.string(systemdVersion)
        w.endObject()
    }
}

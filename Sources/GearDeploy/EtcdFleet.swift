public import Foundation
public import GearAPI
public import GearEtcd

/// What etcd says about a fleet (read with an orchestrator's role): every node's observed entry and containers, and
/// the desired state written for it.
public struct EtcdFleet: Sendable {
    public struct Node: Sendable {
        public var name: String
        /// The node's own report; nil when it has none (it is down, or never ran with --etcd): a silent node.
        public var observed: ObservedNode?
        public var containers: [String: ObservedContainer] = [:]
        /// Desired container entries by id.
        public var desired: [String: EtcdEntry] = [:]
        /// The desired entries' bodies, decoded once as they were put (by id, with the revision decoded).
        var decoded: [String: (revision: Int64, request: InstallRequest?)] = [:]

        /// The body of the desired container entry `id`, nil when there is none or it cannot be read; decoded when
        /// the entry was put, so that passes over the fleet do not decode every entry again.
        public func request(_ id: String) -> InstallRequest? {
            guard let entry = desired[id] else { return nil }
            if let cached = decoded[id], cached.revision == entry.modRevision { return cached.request }
            return try? GearJSON.decoder().decode(InstallRequest.self, from: entry.value)
        }
        /// Other desired keys (environments).
        public var otherDesired: Int { otherDesiredKeys.count }
        var otherDesiredKeys: Set<String> = []
        /// Observed entries about desired keys the node refused (not containers).
        public var errors: [ObservedError] { errorsByKey.keys.sorted().map { errorsByKey[$0]! } }
        var errorsByKey: [String: ObservedError] = [:]
        /// What the node wrote that cannot be believed, by key: an entry too large or unreadable, one that names
        /// another node or container, one too many. A node with problems takes no new instances (its observed entries
        /// are untrusted input: a compromised node can write anything under its own prefix, and nothing else).
        public var problems: [String: String] = [:]

        public init(
            name: String, observed: ObservedNode? = nil, containers: [String: ObservedContainer] = [:], desired: [String: EtcdEntry] = [:]
        ) {
            self.name = name
            self.observed = observed
            self.containers = containers
            self.desired = desired
        }
    }

    public var nodes: [String: Node]
    /// The revision both reads were made at.
    public var revision: Int64

    /// The largest observed entry read (a node's report of a container with a long health log is a few KiB).
    public static let maxObservedBytes = 64 * 1024
    /// The most observed entries of one node that are read.
    public static let maxObservedEntries = 10_000

    public init(nodes: [String: Node], revision: Int64) {
        self.nodes = nodes
        self.revision = revision
    }

    /// Nodes that have desired state but no observed entry of their own.
    public var silent: [String] {
        nodes.values.filter { $0.observed == nil && (!$0.desired.isEmpty || $0.otherDesired > 0) }.map(\.name).sorted()
    }

    /// Reads `/gear/v1/desired/` and `/gear/v1/observed/` at one revision.
    public static func read(_ client: EtcdClient) async throws(EtcdError) -> EtcdFleet {
        let desired = try await client.range(prefix: GearKeys.desiredRoot)
        let observed = try await client.range(prefix: GearKeys.observedRoot, revision: desired.revision)
        var fleet = EtcdFleet(nodes: [:], revision: desired.revision)
        for entry in desired.values + observed.values { fleet.put(entry) }
        return fleet
    }

    /// Takes in one key of the desired or observed prefix, as read or as a watch delivers it (other keys are
    /// ignored). An observed entry is believed only when it is at most `maxObservedBytes`, reads as what its key
    /// says, and names the node and container of its key; otherwise the node gets a problem for that key, and an
    /// unreadable node entry leaves the node without a report (silent).
    public mutating func put(_ entry: EtcdEntry) {
        if let (name, rest) = GearKeys.split(entry.key, under: GearKeys.desiredRoot) {
            var node = nodes[name] ?? Node(name: name)
            if rest.hasPrefix("containers/") {
                let id = String(rest.dropFirst("containers/".count))
                node.desired[id] = entry
                node.decoded[id] = (entry.modRevision, try? GearJSON.decoder().decode(InstallRequest.self, from: entry.value))
            } else {
                node.otherDesiredKeys.insert(entry.key)
            }
            nodes[name] = node
            return
        }
        guard let (name, rest) = GearKeys.split(entry.key, under: GearKeys.observedRoot) else { return }
        var node = nodes[name] ?? Node(name: name)
        defer { nodes[name] = node }
        node.problems[entry.key] = nil
        guard entry.value.count <= Self.maxObservedBytes else {
            if rest == "node" { node.observed = nil }
            node.problems[entry.key] = "\(rest): \(entry.value.count) bytes, more than the \(Self.maxObservedBytes) read"
            return
        }
        let decoder = GearJSON.decoder()
        if rest == "node" {
            guard let observed = try? decoder.decode(ObservedNode.self, from: entry.value), observed.name == name else {
                node.observed = nil
                node.problems[entry.key] = "its node entry is unreadable or names another node"
                return
            }
            node.observed = observed
        } else if rest.hasPrefix("containers/") {
            let id = String(rest.dropFirst("containers/".count))
            guard node.containers[id] != nil || node.containers.count < Self.maxObservedEntries else {
                node.problems[entry.key] = "more than \(Self.maxObservedEntries) observed containers"
                return
            }
            if let container = try? decoder.decode(ObservedContainer.self, from: entry.value), container.id == id,
                container.status.map({ $0.id == id }) ?? true
            {
                node.containers[id] = container
            } else if let error = try? decoder.decode(ObservedError.self, from: entry.value) {
                node.containers[id] = nil
                node.errorsByKey[entry.key] = error
            } else {
                node.containers[id] = nil
                node.problems[entry.key] = "\(rest): unreadable, or about another container"
            }
        } else if let error = try? decoder.decode(ObservedError.self, from: entry.value), node.errorsByKey.count < Self.maxObservedEntries {
            node.errorsByKey[entry.key] = error
        } else {
            node.problems[entry.key] = "\(rest): unreadable"
        }
    }

    /// Forgets one key of the desired or observed prefix (deleted, or gone with its node's lease).
    public mutating func remove(_ key: String) {
        if let (name, rest) = GearKeys.split(key, under: GearKeys.desiredRoot), var node = nodes[name] {
            if rest.hasPrefix("containers/") {
                let id = String(rest.dropFirst("containers/".count))
                node.desired[id] = nil
                node.decoded[id] = nil
            } else {
                node.otherDesiredKeys.remove(key)
            }
            nodes[name] = node.isEmpty ? nil : node
        } else if let (name, rest) = GearKeys.split(key, under: GearKeys.observedRoot), var node = nodes[name] {
            node.problems[key] = nil
            node.errorsByKey[key] = nil
            if rest == "node" {
                node.observed = nil
            } else if rest.hasPrefix("containers/") {
                node.containers[String(rest.dropFirst("containers/".count))] = nil
            }
            nodes[name] = node.isEmpty ? nil : node
        }
    }
}

extension EtcdFleet.Node {
    /// Nothing is known of it any more.
    var isEmpty: Bool {
        observed == nil && containers.isEmpty && desired.isEmpty && otherDesiredKeys.isEmpty && errorsByKey.isEmpty && problems.isEmpty
    }
}

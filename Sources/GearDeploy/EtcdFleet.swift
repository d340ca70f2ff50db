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
        /// Other desired keys (environments).
        public var otherDesired = 0
        /// Observed entries about desired keys the node refused (not containers).
        public var errors: [ObservedError] = []

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
        var nodes: [String: Node] = [:]
        func node(_ name: String) -> Node { nodes[name] ?? Node(name: name) }
        for entry in desired.values {
            guard let (name, rest) = GearKeys.split(entry.key, under: GearKeys.desiredRoot) else { continue }
            var current = node(name)
            if rest.hasPrefix("containers/") {
                current.desired[String(rest.dropFirst("containers/".count))] = entry
            } else {
                current.otherDesired += 1
            }
            nodes[name] = current
        }
        let decoder = GearJSON.decoder()
        for entry in observed.values {
            guard let (name, rest) = GearKeys.split(entry.key, under: GearKeys.observedRoot) else { continue }
            var current = node(name)
            if rest == "node" {
                current.observed = try? decoder.decode(ObservedNode.self, from: entry.value)
            } else if rest.hasPrefix("containers/"), let container = try? decoder.decode(ObservedContainer.self, from: entry.value) {
                current.containers[container.id] = container
            } else if let error = try? decoder.decode(ObservedError.self, from: entry.value) {
                current.errors.append(error)
            }
            nodes[name] = current
        }
        return EtcdFleet(nodes: nodes, revision: desired.revision)
    }
}

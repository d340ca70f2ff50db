import GearAPI

/// gear's keys in etcd. Each node has a desired prefix that only orchestrators write and only the node (and
/// orchestrators) read, and an observed prefix that only the node writes:
///
///     /gear/v1/desired/{node}/containers/{id}      an install body (JSON; Started is the desired state)
///     /gear/v1/desired/{node}/environments/{id}    a named environment's body
///     /gear/v1/observed/{node}/containers/{id}     ObservedContainer, under the node's lease
///     /gear/v1/observed/{node}/node                ObservedNode, under the node's lease
///
/// and the orchestrator's, above the nodes:
///
///     /gear/v1/deployments/{name}                  a deployment descriptor (what `gear deploy` reads), by users
///     /gear/v1/status/deployments/{name}           DeploymentStatus, by the leading orchestrator
///     /gear/v1/orchestrator/leader                 the leading replica's name, under its lease
///     /gear/v1/maintenance/{node}                  NodeMaintenance (`gear node cordon|drain`), by operators
public struct GearKeys: Sendable, Hashable {
    public static let root = "/gear/v1/"
    public static let desiredRoot = root + "desired/"
    public static let observedRoot = root + "observed/"
    public static let deploymentsRoot = root + "deployments/"
    public static let deploymentStatusRoot = root + "status/deployments/"
    public static let orchestratorRoot = root + "orchestrator/"
    public static let orchestratorLeader = orchestratorRoot + "leader"
    public static let maintenanceRoot = root + "maintenance/"

    /// The key of a node's maintenance entry.
    public static func maintenance(_ node: String) -> String { maintenanceRoot + node }
    /// The node a key under `/gear/v1/maintenance/` is about, or nil.
    public static func maintenanceNode(_ key: String) -> String? {
        guard key.hasPrefix(maintenanceRoot) else { return nil }
        let node = String(key.dropFirst(maintenanceRoot.count))
        return problem(withNode: node) == nil ? node : nil
    }

    public static func deployment(_ name: String) -> String { deploymentsRoot + name }
    public static func deploymentStatus(_ name: String) -> String { deploymentStatusRoot + name }

    /// The deployment a key under `/gear/v1/deployments/` names (one part, a deployment's name), or nil.
    public static func deploymentName(_ key: String) -> String? { name(key, under: deploymentsRoot) }
    /// The deployment a key under `/gear/v1/status/deployments/` is the status of, or nil.
    public static func deploymentStatusName(_ key: String) -> String? { name(key, under: deploymentStatusRoot) }

    static func name(_ key: String, under root: String) -> String? {
        guard key.hasPrefix(root) else { return nil }
        let name = String(key.dropFirst(root.count))
        return problem(withDeployment: name) == nil ? name : nil
    }

    /// Why `name` cannot name a deployment (a key part; `gear deploy` makes names of 1 to 63 letters, digits,
    /// `-`, `_` and `.`), or nil.
    public static func problem(withDeployment name: String) -> String? {
        guard (1...63).contains(name.utf8.count) else { return "must have 1 to 63 characters" }
        guard name != ".", name != "..", name.utf8.allSatisfy(ContainerID.isIDByte) else {
            return "may hold only letters, digits, '-', '_' and '.'"
        }
        return nil
    }

    public let node: String

    public init(node: String) throws(EtcdError) {
        if let problem = Self.problem(withNode: node) { throw EtcdError(.invalid, "node name '\(node.prefix(80))' \(problem)") }
        self.node = node
    }

    /// Why `name` cannot name a node (it is a key part and an etcd user), or nil.
    public static func problem(withNode name: String) -> String? {
        guard (1...64).contains(name.utf8.count) else { return "must have 1 to 64 characters" }
        guard name != ".", name != "..",
            name.utf8.allSatisfy(ContainerID.isIDByte)
        else { return "may hold only letters, digits, '-', '_' and '.'" }
        return nil
    }

    public var desiredPrefix: String { Self.desiredRoot + node + "/" }
    public var observedPrefix: String { Self.observedRoot + node + "/" }
    public var desiredContainers: String { desiredPrefix + "containers/" }
    public var desiredEnvironments: String { desiredPrefix + "environments/" }
    public var observedContainers: String { observedPrefix + "containers/" }
    public var observedNode: String { observedPrefix + "node" }

    public func desiredContainer(_ id: String) -> String { desiredContainers + id }
    public func desiredEnvironment(_ id: String) -> String { desiredEnvironments + id }
    public func observedContainer(_ id: String) -> String { observedContainers + id }

    /// What a key under this node's desired prefix names.
    public enum Desired: Sendable, Hashable {
        case container(String)
        case environment(String)
        /// Something else: its path below the prefix.
        case unknown(String)
    }

    /// What `key` names, or nil when it is not under this node's desired prefix.
    public func desired(_ key: String) -> Desired? {
        guard key.hasPrefix(desiredPrefix) else { return nil }
        let rest = String(key.dropFirst(desiredPrefix.count))
        if rest.hasPrefix("containers/") { return .container(String(rest.dropFirst("containers/".count))) }
        if rest.hasPrefix("environments/") { return .environment(String(rest.dropFirst("environments/".count))) }
        return .unknown(rest)
    }

    /// The observed key that answers a desired key: the same path below the node's observed prefix.
    public func observed(answering desiredKey: String) -> String {
        observedPrefix + desiredKey.dropFirst(desiredPrefix.count)
    }

    /// The node a key under `root` (desired or observed) belongs to, with the rest of the key.
    public static func split(_ key: String, under root: String) -> (node: String, rest: String)? {
        guard key.hasPrefix(root) else { return nil }
        let tail = key.dropFirst(root.count)
        guard let slash = tail.firstIndex(of: "/") else { return nil }
        return (String(tail[..<slash]), String(tail[tail.index(after: slash)...]))
    }
}

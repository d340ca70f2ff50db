public import Foundation

/// What the leading orchestrator says about one deployment under `/gear/v1/status/deployments/{name}` in etcd:
/// where its instances are placed, how many run and are healthy, what waits and why, and the last thing it did.
/// Written by the leader only, in the same fenced transaction as the desired entries it describes.
public struct DeploymentStatus: Sendable, Hashable, Codable {
    /// What the orchestrator makes of the deployment as a whole.
    public enum State: String, Sendable, Hashable, Codable {
        /// Every instance placed, running as desired, and healthy where it is checked.
        case running
        /// Placed; some instances are not ready yet (being installed, started, replaced).
        case converging
        /// At least one instance fits on no node: `pending` says why, per node. It is placed when room appears.
        case pending
        /// A node its instances are on went silent and is within its grace period: nothing is moved yet.
        case waiting
        /// The descriptor cannot be read or planned: `message` names the field. Nothing was changed.
        case invalid
    }

    /// One instance, where the orchestrator placed it.
    public struct Instance: Sendable, Hashable, Codable {
        public var id: String
        /// The descriptor's container and the instance's number among its instances, from 1.
        public var container: String
        public var index: Int
        public var node: String
        /// `running`, `healthy`, `starting`, `stopped`, `failed` or `unreported`, from the node's observed entry.
        public var state: String
        /// Why it is not running, from the node (its error or the unit's result).
        public var reason: String?

        public init(id: String, container: String, index: Int, node: String, state: String, reason: String? = nil) {
            self.id = id
            self.container = container
            self.index = index
            self.node = node
            self.state = state
            self.reason = reason
        }
    }

    public var name: String
    /// The `mod_revision` of the descriptor this status is about.
    public var deploymentRevision: Int64
    public var state: State
    public var message: String?
    public var instances: [Instance]
    /// Instances with a desired entry on a node, running as desired, and healthy (or running without a check).
    public var placed: Int
    public var running: Int
    public var healthy: Int
    /// Why instances wait, one line per node that cannot take them (the planner's shortfall).
    public var pending: [String]?
    /// The last change the orchestrator wrote for the deployment (`replaced web-2 of node h4 (silent past grace) on h5`).
    public var lastEvent: String?
    public var lastEventAt: Date?
    /// The orchestrator replica that wrote it.
    public var leader: String

    public init(
        name: String, deploymentRevision: Int64, state: State, message: String? = nil, instances: [Instance] = [], placed: Int = 0,
        running: Int = 0, healthy: Int = 0, pending: [String]? = nil, lastEvent: String? = nil, lastEventAt: Date? = nil, leader: String
    ) {
        self.name = name
        self.deploymentRevision = deploymentRevision
        self.state = state
        self.message = message
        self.instances = instances
        self.placed = placed
        self.running = running
        self.healthy = healthy
        self.pending = pending
        self.lastEvent = lastEvent
        self.lastEventAt = lastEventAt
        self.leader = leader
    }
}

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
        /// Since when it has been `failed` there, as the orchestrator saw it first: it is rescheduled to another node
        /// once this is older than the slot's back-off.
        public var failedSince: Date?

        public init(
            id: String, container: String, index: Int, node: String, state: String, reason: String? = nil, failedSince: Date? = nil
        ) {
            self.id = id
            self.container = container
            self.index = index
            self.node = node
            self.state = state
            self.reason = reason
            self.failedSince = failedSince
        }
    }

    /// A slot whose instances kept failing and were placed on other nodes: how often, and when it may be again.
    public struct Reschedule: Sendable, Hashable, Codable {
        /// The container and index: `db-2`.
        public var slot: String
        public var count: Int
        public var lastAt: Date
        /// The node it failed on last, and why.
        public var from: String
        public var reason: String
        /// The earliest the slot is rescheduled again, should its new instance fail too.
        public var nextNotBefore: Date

        public init(slot: String, count: Int, lastAt: Date, from: String, reason: String, nextNotBefore: Date) {
            self.slot = slot
            self.count = count
            self.lastAt = lastAt
            self.from = from
            self.reason = reason
            self.nextNotBefore = nextNotBefore
        }
    }

    /// One line of the deployment's history: what the orchestrator wrote, and when.
    public struct Event: Sendable, Hashable, Codable {
        public var at: Date
        public var text: String

        public init(at: Date, text: String) {
            self.at = at
            self.text = text
        }
    }

    /// How many events `history` keeps, newest last.
    public static let historyLength = 20

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
    /// Slots rescheduled off nodes they failed on, with their back-off.
    public var reschedules: [Reschedule]?
    /// The last `historyLength` events, oldest first.
    public var history: [Event]?

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

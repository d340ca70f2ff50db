public import Foundation

/// What a node reports about one container under `/gear/v1/observed/{node}/containers/{id}` in etcd: its status as
/// `GET /container/{id}/status` gives it, what it was asked for, the job that last touched it, and why a desired
/// entry could not be applied. Written by the node only, attached to its lease (gone when the node is).
public struct ObservedContainer: Sendable, Hashable, Codable {
    /// The container's id (the key's last part).
    public var id: String
    /// Its status; absent when it is not installed (a refused desired entry, or one not applied yet).
    public var status: ContainerStatus?
    /// Who owns it: `etcd` (installed from this node's desired state) or `api` (installed through the API).
    public var owner: String
    /// The `mod_revision` of the desired entry the node last acted on; absent for containers etcd does not own.
    public var desiredRevision: Int64?
    /// True when the container is installed and started or stopped as its desired entry says.
    public var converged: Bool
    /// The last job the node ran for the desired entry.
    public var job: ObservedJob?
    /// Why the desired entry is not applied (refused, or its job failed); absent when nothing is wrong.
    public var error: String?
    /// The code of `error` (`GearError.Code`: `invalid_request`, `port_in_use`, `unit_failed`, ...), for a deploy or
    /// an orchestrator that decides on it.
    public var errorCode: String?
    /// A change made to the container some other way (the API, by hand) that the node put back.
    public var reverted: String?

    public init(
        id: String, status: ContainerStatus?, owner: String, desiredRevision: Int64?, converged: Bool, job: ObservedJob? = nil,
        error: String? = nil, errorCode: String? = nil, reverted: String? = nil
    ) {
        self.id = id
        self.status = status
        self.owner = owner
        self.desiredRevision = desiredRevision
        self.converged = converged
        self.job = job
        self.error = error
        self.errorCode = errorCode
        self.reverted = reverted
    }
}

/// A job as an observed entry names it.
public struct ObservedJob: Sendable, Hashable, Codable {
    public var id: String
    public var kind: String
    public var state: String
    public var finishedAt: Date?
    public var error: String?

    public init(id: String, kind: String, state: String, finishedAt: Date?, error: String?) {
        self.id = id
        self.kind = kind
        self.state = state
        self.finishedAt = finishedAt
        self.error = error
    }
}

/// What a node reports about itself under `/gear/v1/observed/{node}/node`: its `/node` facts and capacity, when it
/// wrote them, and how far it has applied its desired state.
public struct ObservedNode: Sendable, Hashable, Codable {
    public var name: String
    public var info: NodeInfo
    /// The addresses other nodes reach this node's published ports on (its `--etcd-advertise` addresses).
    public var addresses: [String]
    public var reportedAt: Date
    /// The etcd revision of the last desired change the node applied.
    public var appliedRevision: Int64

    public init(name: String, info: NodeInfo, addresses: [String], reportedAt: Date, appliedRevision: Int64) {
        self.name = name
        self.info = info
        self.addresses = addresses
        self.reportedAt = reportedAt
        self.appliedRevision = appliedRevision
    }
}

/// What a node reports about a desired entry it cannot read as a container or an environment (an unknown kind, a
/// malformed key, a refused environment) under the same key in its observed prefix.
public struct ObservedError: Sendable, Hashable, Codable {
    public var key: String
    public var desiredRevision: Int64
    public var error: String

    public init(key: String, desiredRevision: Int64, error: String) {
        self.key = key
        self.desiredRevision = desiredRevision
        self.error = error
    }
}

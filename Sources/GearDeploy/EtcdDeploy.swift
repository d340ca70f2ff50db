public import Foundation
public import GearAPI
public import GearEtcd

/// `gear deploy --etcd`: a deployment placed over the nodes' observed capacity and written as their desired state in
/// one transaction. Each node then converges on its own. Published ports that links lead to are chosen here (the
/// lowest free port of the node's range), since no node allocates them before the write; links are part of each
/// instance's desired body (geard's `NetworkLinks`).
public struct EtcdDeployPlan: Sendable {
    public var plan: DeploymentPlan
    /// The transactions, in order. The first writes every create, move and delete and the first batch of
    /// replacements; each further one the next batch, written once the nodes report the batch before it converged.
    public var waves: [EtcdWave]

    /// Every write: a put per instance whose desired body changed, a delete per instance that goes or moves.
    public var operations: [EtcdOperation] { waves.flatMap(\.operations) }
    /// What each write is, for the report: node, instance id, action.
    public var steps: [(node: String, id: String, action: String)] { waves.flatMap(\.steps) }
}

/// One transaction of an etcd deploy, and the replaced instances it must see converged before the next.
public struct EtcdWave: Sendable {
    public var operations: [EtcdOperation] = []
    /// The keys it writes as they were read.
    public var conditions: [EtcdCondition] = []
    public var steps: [(node: String, id: String, action: String)] = []
    /// Replacements of running or installed instances: the rollout waits for each to be converged on its node,
    /// active when started, healthy when it has a health check, before it writes the next wave.
    public var replaced: [RolledInstance] = []

    /// One write, on the condition that its key's revision is still `modRevision` (0: absent).
    mutating func write(_ operation: EtcdOperation, key: String, ifRevision modRevision: Int64, step: (node: String, id: String, action: String)) {
        operations.append(operation)
        conditions.append(.modRevision(key, equals: modRevision))
        steps.append(step)
    }

    /// Adds another wave's writes and waits to this one.
    mutating func append(_ other: EtcdWave) {
        operations += other.operations
        conditions += other.conditions
        steps += other.steps
        replaced += other.replaced
    }
}

/// An instance a rolling etcd deploy waits for.
public struct RolledInstance: Sendable, Hashable {
    public var node: String
    public var id: String
    public var started: Bool
    public var healthChecked: Bool
}

public enum EtcdDeploy {
    /// Plans a deployment over the fleet's nodes that report themselves (only those named in `nodes` when given).
    /// Replacements roll `maxUnavailable` at a time, in the order of the plan's instances. Nodes in `unschedulable`
    /// (cordoned, draining) keep what runs there and take nothing new, for the reason given; a slot placed anew goes
    /// to none of the nodes `avoid` gives it.
    public static func plan(
        _ descriptor: DeploymentDescriptor, fleet: EtcdFleet, nodes names: [String]? = nil, maxUnavailable: Int = 1,
        unschedulable: [String: String] = [:], avoid: [Slot: Set<String>] = [:]
    ) throws -> EtcdDeployPlan {
        let name = descriptor.deploymentName
        var candidates = fleet.nodes.values.filter { $0.observed != nil }
        if let names {
            for wanted in names where fleet.nodes[wanted]?.observed == nil {
                throw DeploymentError(
                    field: "", "node \(wanted) has no observed entry in etcd (down, or not running geard --etcd): nothing was written")
            }
            candidates = candidates.filter { names.contains($0.name) }
        }
        candidates.sort { $0.name < $1.name }
        guard !candidates.isEmpty else { throw DeploymentError(field: "", "no node reports itself in etcd: nothing to deploy to") }

        // What each node runs, as the planner sees it: this deployment's instances as they are desired (what the
        // orchestrator wrote is the truth, applied or not), everything else as observed.
        var desiredRequests: [String: [String: InstallRequest]] = [:]
        var states: [NodeState] = []
        for node in candidates {
            var statuses: [ContainerStatus] = []
            var requests: [String: InstallRequest] = [:]
            for id in node.desired.keys {
                guard let request = node.request(id) else { continue }
                requests[id] = request
                let observed = node.containers[id]?.status
                var status = observed ?? Self.status(id, request)
                status.labels = request.labels
                status.started = request.started ?? false
                if let explicit = Self.explicitPorts(request) { status.ports = explicit }
                statuses.append(status)
            }
            // What the node runs of its own (installed through its API) holds room and ids; what it installed from a
            // desired entry that is gone is on its way out (a node back from the dead stops its stale copies), and is
            // not taken for an instance of the slot it had.
            for (id, container) in node.containers where node.desired[id] == nil && container.owner != "etcd" {
                if let status = container.status { statuses.append(status) }
            }
            desiredRequests[node.name] = requests
            let problem =
                node.problems.keys.sorted().first.map { "its report cannot be believed (\(node.problems[$0]!))" } ?? unschedulable[node.name]
            states.append(
                NodeState(
                    name: node.name, address: node.observed!.addresses.first ?? "", info: node.observed!.info, containers: statuses,
                    unschedulable: problem))
        }
        var plan = try Planner.plan(descriptor, nodes: states, avoid: avoid)

        // Ports, by the one rule of the nodes themselves (`PortChoice`), over what each node reports: the ports of its
        // other containers (desired or observed), and those a host process listens on (which a container the node
        // refused with `port_in_use` had asked for). What an instance had is kept while it is still free.
        var owners: [String: [Int: String]] = [:]
        for state in states {
            for status in state.containers { for port in status.ports { owners[state.name, default: [:]][port.externalPort] = status.id } }
        }
        var ports: [Slot: [PortMapping]] = [:]
        let infos = Dictionary(states.map { ($0.name, $0.info) }, uniquingKeysWith: { a, _ in a })
        for (i, instance) in plan.instances.enumerated() {
            let info = infos[instance.node]!
            let hostHeld = Set(info.ports.heldByHost ?? [])
            let choice = PortChoice(
                range: info.ports.first...info.ports.last, owners: owners[instance.node] ?? [:], hostPortIsFree: { !hostHeld.contains($0) },
                hostHolder: { _ in "a process of the node" })
            let previous = desiredRequests[instance.node]?[instance.id].flatMap(Self.explicitPorts) ?? []
            let assigned: [PortMapping]
            do {
                assigned = try choice.resolve(instance.request.ports ?? [], for: instance.id, previous: previous)
            } catch {
                throw DeploymentError(field: "", "node \(instance.node), \(instance.id): \(error.message)")
            }
            for port in assigned { owners[instance.node, default: [:]][port.externalPort] = instance.id }
            if !assigned.isEmpty {
                plan.instances[i].request.ports = assigned.map { PortRequest(internal: $0.internalPort, external: $0.externalPort) }
            }
            ports[instance.slot] = assigned
        }

        var first = EtcdWave()
        var replacements: [EtcdWave] = []  // one per replaced instance
        let encoder = GearJSON.encoder()
        // Where each slot is placed does not change below (only the instances' bodies do).
        let bySlot = plan.instancesBySlot()
        for i in plan.instances.indices {
            var instance = plan.instances[i]
            let links = plan.networkLinks(for: instance, ports: ports, bySlot: bySlot)
            if let missing = (plan.links.links[instance.slot.container] ?? []).first(where: { link in
                bySlot[link.target].map { plan.addresses[$0.node]?.isEmpty ?? true } ?? false
            }) {
                let target = bySlot[missing.target]!
                throw DeploymentError(
                    field: "", "node \(target.node) advertises no address for links to reach \(target.id): start its geard with --advertise ADDRESS")
            }
            instance.request.networkLinks = links.isEmpty ? nil : links
            instance.request.started = instance.started
            // The node takes it only if it still has the room this plan counted on: a scheduler racing for the same
            // room (another deploy, an install through the API) makes it refuse rather than overcommit, and the
            // orchestrator places it again elsewhere.
            instance.request.ifFits = true
            plan.instances[i] = instance
            let key = try GearKeys(node: instance.node).desiredContainer(instance.id)
            let value = try encoder.encode(instance.request)
            let existing = fleet.nodes[instance.node]?.desired[instance.id]
            if let existing, existing.value != value, instance.action == .replace {
                var wave = EtcdWave()
                wave.write(.put(key, value), key: key, ifRevision: existing.modRevision, step: (instance.node, instance.id, "replace"))
                wave.replaced = [
                    RolledInstance(node: instance.node, id: instance.id, started: instance.started, healthChecked: instance.request.hasHealthCheck)
                ]
                replacements.append(wave)
            } else if existing?.value != value {
                let step = (instance.node, instance.id, existing == nil ? "create" : "replace")
                first.write(.put(key, value), key: key, ifRevision: existing?.modRevision ?? 0, step: step)
            }
            if case .move(let from) = instance.action, let old = fleet.nodes[from]?.desired[instance.id] {
                let key = try GearKeys(node: from).desiredContainer(instance.id)
                first.write(.delete(key), key: key, ifRevision: old.modRevision, step: (from, instance.id, "delete (moved to \(instance.node))"))
            }
        }
        for removal in plan.removals {
            guard let old = fleet.nodes[removal.node]?.desired[removal.id] else { continue }
            let key = try GearKeys(node: removal.node).desiredContainer(removal.id)
            first.write(.delete(key), key: key, ifRevision: old.modRevision, step: (removal.node, removal.id, "delete (\(removal.reason))"))
        }
        // Batches of replacements: the first rides with the creates and deletes, each further one is a wave.
        var waves = [first]
        for (n, replacement) in replacements.enumerated() {
            if n > 0 && n % max(maxUnavailable, 1) == 0 { waves.append(EtcdWave()) }
            waves[waves.count - 1].append(replacement)
        }
        // Instances of the deployment desired on nodes that were not candidates (silent, or not named) stay: a node
        // that is down keeps its desired state until it is back or an operator deletes it.
        _ = name
        return EtcdDeployPlan(plan: plan, waves: waves.filter { !$0.operations.isEmpty })
    }

    static func explicitPorts(_ request: InstallRequest) -> [PortMapping]? {
        guard let ports = request.ports, !ports.isEmpty, ports.allSatisfy({ $0.externalPort != nil }) else { return nil }
        return ports.map { PortMapping(internal: $0.internalPort, external: $0.externalPort!) }
    }

    /// A container desired but not reported yet, as a status the planner can read.
    static func status(_ id: String, _ request: InstallRequest) -> ContainerStatus {
        ContainerStatus(
            id: id, unit: ContainerID.unitName(of: id), runtime: request.runtime ?? "podman", image: request.image, cmd: request.cmd ?? [],
            started: request.started ?? false, loadState: "not-found", activeState: "inactive", subState: "dead", mainPID: nil, result: nil,
            exitStatus: nil, restarts: 0, activeSince: nil, inactiveSince: nil, ports: explicitPorts(request) ?? [], volumes: [],
            restartPolicy: request.restart ?? "on-failure", memoryLimit: nil, cpuLimit: nil)
    }
}

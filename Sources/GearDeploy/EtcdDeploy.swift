public import Foundation
public import GearAPI
public import GearEtcd

/// `gear deploy --etcd`: a deployment placed over the nodes' observed capacity and written as their desired state in
/// one transaction. Each node then converges on its own. Published ports that links lead to are chosen here (the
/// lowest free port of the node's range), since no node allocates them before the write; links are part of each
/// instance's desired body (geard's `NetworkLinks`).
public struct EtcdDeployPlan: Sendable {
    public var plan: DeploymentPlan
    /// The writes: a put per instance whose desired body changed, a delete per instance that goes or moves.
    public var operations: [EtcdOperation]
    /// Every key written must still be as it was read (another deploy in between makes the transaction fail).
    public var conditions: [EtcdCondition]
    /// What each write is, for the report: node, instance id, action.
    public var steps: [(node: String, id: String, action: String)]
}

public enum EtcdDeploy {
    /// Plans a deployment over the fleet's nodes that report themselves (only those named in `nodes` when given).
    public static func plan(_ descriptor: DeploymentDescriptor, fleet: EtcdFleet, nodes names: [String]? = nil) throws -> EtcdDeployPlan {
        let name = descriptor.deploymentName
        let decoder = GearJSON.decoder()
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
            for (id, entry) in node.desired {
                guard let request = try? decoder.decode(InstallRequest.self, from: entry.value) else { continue }
                requests[id] = request
                let observed = node.containers[id]?.status
                var status = observed ?? Self.status(id, request)
                status.labels = request.labels
                status.started = request.started ?? false
                if let explicit = Self.explicitPorts(request) { status.ports = explicit }
                statuses.append(status)
            }
            for (id, container) in node.containers where node.desired[id] == nil {
                if let status = container.status { statuses.append(status) }
            }
            desiredRequests[node.name] = requests
            states.append(
                NodeState(name: node.name, address: node.observed!.addresses.first ?? "", info: node.observed!.info, containers: statuses))
        }
        var plan = try Planner.plan(descriptor, nodes: states)

        // Ports: what an instance had on its node is kept; a new one takes the lowest free port of the node's range.
        var held: [String: Set<Int>] = [:]
        for state in states { held[state.name] = Set(state.containers.flatMap { $0.ports.map(\.externalPort) }) }
        var ports: [Slot: [PortMapping]] = [:]
        for (i, instance) in plan.instances.enumerated() {
            let info = states.first { $0.name == instance.node }!.info
            let previous = desiredRequests[instance.node]?[instance.id].flatMap(Self.explicitPorts) ?? []
            var assigned: [PortMapping] = []
            var requests: [PortRequest] = []
            for port in instance.request.ports ?? [] {
                var external = port.externalPort ?? previous.first { $0.internalPort == port.internalPort }?.externalPort
                if external == nil {
                    external = (info.ports.first...info.ports.last).first { !held[instance.node, default: []].contains($0) }
                    guard external != nil else {
                        throw DeploymentError(field: "", "node \(instance.node) has no free port left for \(instance.id)")
                    }
                }
                held[instance.node, default: []].insert(external!)
                assigned.append(PortMapping(internal: port.internalPort, external: external!))
                requests.append(PortRequest(internal: port.internalPort, external: external))
            }
            if !requests.isEmpty { plan.instances[i].request.ports = requests }
            ports[instance.slot] = assigned
        }

        var operations: [EtcdOperation] = []
        var conditions: [EtcdCondition] = []
        var steps: [(node: String, id: String, action: String)] = []
        let encoder = GearJSON.encoder()
        for i in plan.instances.indices {
            var instance = plan.instances[i]
            let links = plan.networkLinks(for: instance, ports: ports)
            if let missing = (plan.links.links[instance.slot.container] ?? []).first(where: { link in
                plan.instances.first { $0.slot == link.target }.map { plan.addresses[$0.node]?.isEmpty ?? true } ?? false
            }) {
                let target = plan.instances.first { $0.slot == missing.target }!
                throw DeploymentError(
                    field: "", "node \(target.node) advertises no address for links to reach \(target.id): start its geard with --advertise ADDRESS")
            }
            instance.request.networkLinks = links.isEmpty ? nil : links
            instance.request.started = instance.started
            plan.instances[i] = instance
            let key = try GearKeys(node: instance.node).desiredContainer(instance.id)
            let value = try encoder.encode(instance.request)
            let existing = fleet.nodes[instance.node]?.desired[instance.id]
            if existing?.value != value {
                operations.append(.put(key, value))
                conditions.append(.modRevision(key, equals: existing?.modRevision ?? 0))
                steps.append((instance.node, instance.id, existing == nil ? "create" : "replace"))
            }
            if case .move(let from) = instance.action, let old = fleet.nodes[from]?.desired[instance.id] {
                let key = try GearKeys(node: from).desiredContainer(instance.id)
                operations.append(.delete(key))
                conditions.append(.modRevision(key, equals: old.modRevision))
                steps.append((from, instance.id, "delete (moved to \(instance.node))"))
            }
        }
        for removal in plan.removals {
            guard let old = fleet.nodes[removal.node]?.desired[removal.id] else { continue }
            let key = try GearKeys(node: removal.node).desiredContainer(removal.id)
            operations.append(.delete(key))
            conditions.append(.modRevision(key, equals: old.modRevision))
            steps.append((removal.node, removal.id, "delete (\(removal.reason))"))
        }
        // Instances of the deployment desired on nodes that were not candidates (silent, or not named) stay: a node
        // that is down keeps its desired state until it is back or an operator deletes it.
        _ = name
        return EtcdDeployPlan(plan: plan, operations: operations, conditions: conditions, steps: steps)
    }

    /// Writes the plan in one transaction; false when a key changed since it was read (nothing was written).
    public static func apply(_ plan: EtcdDeployPlan, client: EtcdClient) async throws(EtcdError) -> (written: Bool, revision: Int64) {
        guard !plan.operations.isEmpty else { return (true, 0) }
        let result = try await client.transaction(if: plan.conditions, then: plan.operations)
        return (result.succeeded, result.revision)
    }

    static func explicitPorts(_ request: InstallRequest) -> [PortMapping]? {
        guard let ports = request.ports, !ports.isEmpty, ports.allSatisfy({ $0.externalPort != nil }) else { return nil }
        return ports.map { PortMapping(internal: $0.internalPort, external: $0.externalPort!) }
    }

    /// A container desired but not reported yet, as a status the planner can read.
    static func status(_ id: String, _ request: InstallRequest) -> ContainerStatus {
        ContainerStatus(
            id: id, unit: "ctr-\(id).service", runtime: request.runtime ?? "podman", image: request.image, cmd: request.cmd ?? [],
            started: request.started ?? false, loadState: "not-found", activeState: "inactive", subState: "dead", mainPID: nil, result: nil,
            exitStatus: nil, restarts: 0, activeSince: nil, inactiveSince: nil, ports: explicitPorts(request) ?? [], volumes: [],
            restartPolicy: request.restart ?? "on-failure", memoryLimit: nil, cpuLimit: nil)
    }
}

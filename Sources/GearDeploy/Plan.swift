import Foundation
public import GearAPI

/// What a deploy does to one instance.
public enum InstanceAction: Sendable, Hashable {
    /// Install it (it runs nowhere yet).
    case create
    /// It runs as described: nothing to do (but links that changed and a desired state that drifted).
    case keep
    /// Install it again where it is: what it runs changed.
    case replace
    /// Install it on another host, then delete it where it was (`from`): its host is no longer allowed or has no room.
    case move(from: String)

    public var name: String {
        switch self {
        case .create: "create"
        case .keep: "keep"
        case .replace: "replace"
        case .move: "move"
        }
    }
}

/// One instance as the deploy leaves it.
public struct PlannedInstance: Sendable, Hashable {
    public var slot: Slot
    public var id: String
    /// The host it runs on after the deploy.
    public var node: String
    public var action: InstanceAction
    /// The install body: everything but `NetworkLinks` (set once the targets' ports are known) and `Started`.
    public var request: InstallRequest
    /// Whether it should run.
    public var started: Bool
    /// What runs now: on `node`, or for a move on the host it leaves.
    public var current: ContainerStatus?
}

/// An instance the deploy deletes.
public struct Removal: Sendable, Hashable {
    public var id: String
    public var node: String
    public var reason: String
}

/// Everything a deploy will do, decided before anything is touched.
public struct DeploymentPlan: Sendable {
    public var name: String
    /// The generation instances installed by this deploy are labelled with.
    public var generation: Int
    public var instances: [PlannedInstance]
    public var removals: [Removal]
    public var links: LinkResolution
    /// Each node's address for links, by node name.
    public var addresses: [String: String]

    /// Whether the deploy installs or deletes anything (links and drifted states aside).
    public var changesInstances: Bool { !removals.isEmpty || instances.contains { $0.action != .keep } }

    /// The `NetworkLinks` of `instance`, given every instance's published ports (`ports`, by slot); a target whose
    /// port is not known yet is left out.
    public func networkLinks(for instance: PlannedInstance, ports: [Slot: [PortMapping]]) -> [NetworkLink] {
        networkLinks(for: instance, ports: ports, bySlot: instancesBySlot())
    }

    /// The instances by slot, for `networkLinks(for:ports:bySlot:)` over many instances.
    public func instancesBySlot() -> [Slot: PlannedInstance] {
        Dictionary(instances.map { ($0.slot, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func networkLinks(for instance: PlannedInstance, ports: [Slot: [PortMapping]], bySlot: [Slot: PlannedInstance]) -> [NetworkLink] {
        (links.links[instance.slot.container] ?? []).compactMap { link in
            guard let target = bySlot[link.target],
                let external = ports[link.target]?.first(where: { $0.internalPort == link.targetPort })?.externalPort,
                let address = addresses[target.node]
            else { return nil }
            return NetworkLink(fromHost: link.alias.host, fromPort: link.alias.port, toHost: address, toPort: external)
        }
    }
}

/// Decides where each instance of a deployment runs and what must happen to it, from the descriptor and what the
/// hosts say they run. Deterministic: the same descriptor and host states give the same plan.
public enum Planner {
    /// - Parameter randomID: makes the id of a new instance when the descriptor asks for random ids.
    /// - Parameter avoid: nodes a slot that is placed anew must not go to (the orchestrator's rescheduling of an
    ///   instance that failed there); the node's reason in a shortfall says so.
    public static func plan(
        _ descriptor: DeploymentDescriptor, nodes: [NodeState], avoid: [Slot: Set<String>] = [:],
        randomID: () -> String = { Planner.randomSuffix() }
    ) throws(DeploymentError) -> DeploymentPlan {
        try descriptor.validate()
        guard !nodes.isEmpty else { throw DeploymentError(field: "", "no hosts to deploy to") }
        let name = descriptor.deploymentName
        let links = try LinkResolution(descriptor)

        // What runs now, by slot: the first host (in the order given) keeps a slot found on several.
        var current: [Slot: (node: String, status: ContainerStatus)] = [:]
        var removals: [Removal] = []
        var generation = 0
        for node in nodes {
            for status in node.containers {
                guard let labels = status.labels, labels[DeploymentLabel.deployment] == name else { continue }
                generation = max(generation, Int(labels[DeploymentLabel.generation] ?? "") ?? 0)
                guard let containerName = labels[DeploymentLabel.container], let index = Int(labels[DeploymentLabel.index] ?? ""),
                    let container = descriptor.container(named: containerName)
                else {
                    removals.append(Removal(id: status.id, node: node.name, reason: "its container is no longer in the deployment"))
                    continue
                }
                guard index >= 1, index <= container.count else {
                    removals.append(Removal(id: status.id, node: node.name, reason: "\(containerName) has \(container.count) instances now"))
                    continue
                }
                let slot = Slot(containerName, index)
                if let first = current[slot] {
                    removals.append(Removal(id: status.id, node: node.name, reason: "\(slot) also runs on \(first.node)"))
                    continue
                }
                current[slot] = (node.name, status)
            }
        }

        // Ids: a new instance's id must not be taken on any host by a container that is not this deployment's.
        var foreign: [String: String] = [:]
        for node in nodes {
            for status in node.containers where status.labels?[DeploymentLabel.deployment] != name { foreign[status.id] = node.name }
        }

        // What is left on each node, in the order of `nodes`.
        var capacity = nodes.map { Capacity($0, deployment: name) }
        let amounts = nodes.map { Capacity.resources($0, deployment: name) }
        var pool = PlacementPool(total: amounts.map(\.total), free: amounts.map(\.free))
        let nodeOrder = Dictionary(uniqueKeysWithValues: nodes.enumerated().map { ($0.element.name, $0.offset) })
        var planned: [Slot: PlannedInstance] = [:]
        var pending: [(slot: Slot, id: String, request: InstallRequest, action: InstanceAction, current: ContainerStatus?)] = []
        /// The nodes that hold instances of this deployment (placed by this plan): the only ones with a tie-break
        /// rank or an anti-affinity penalty.
        var occupied: Set<Int> = []

        // Instances that stay where they are go first, so new ones are placed around them.
        for (c, container) in descriptor.containers.enumerated() {
            let demand = Demand(container)
            for index in stride(from: 1, through: container.count, by: 1) {
                let slot = Slot(container.name, index)
                let request = installRequest(descriptor, container, index: index, links: links)
                if let (node, status) = current[slot] {
                    let unchanged = SpecDigest.matches(status.labels?[DeploymentLabel.spec], request.labels?[DeploymentLabel.spec] ?? "")
                    let n = nodeOrder[node]!
                    if capacity[n].refusal(withoutPlacementRules: container) == nil,
                        unchanged || capacity[n].shortfall(demand, free: pool.free[n], countDisk: false) == nil
                    {
                        capacity[n].take(demand, slot: slot)
                        pool.take(demand.resources(countDisk: false), from: n)
                        occupied.insert(n)
                        var request = request
                        if unchanged { request.labels = status.labels }
                        planned[slot] = PlannedInstance(
                            slot: slot, id: status.id, node: node, action: unchanged ? .keep : .replace, request: request,
                            started: container.started, current: status)
                    } else {
                        pending.append((slot, status.id, request, .move(from: node), status))
                    }
                } else {
                    let id = descriptor.randomizeIds ? descriptor.idPrefix + randomID() : descriptor.instanceID(container.name, index)
                    if let host = foreign[id] {
                        throw DeploymentError(
                            field: "Containers[\(c)].Name",
                            "instance id '\(id)' is taken on \(host) by a container that is not of deployment '\(name)'")
                    }
                    pending.append((slot, id, request, .create, nil))
                }
            }
        }

        // The rest, containers placed With others after those, in the descriptor's order.
        let order = placementOrder(descriptor)
        pending.sort { a, b in
            let x = order[a.slot.container]!
            let y = order[b.slot.container]!
            return x != y ? x < y : a.slot.index < b.slot.index
        }
        for item in pending {
            let container = descriptor.container(named: item.slot.container)!
            let demand = Demand(container)
            let strategy = container.placement ?? descriptor.placement
            let avoided = avoid[item.slot] ?? []
            let scorer = pool.scorer(strategy, demand: demand.resources(countDisk: true))
            let chosen = pool.choose(
                scorer, marked: occupied,
                rank: { n in strategy == .spread ? capacity[n].slots.count : -capacity[n].slots.count },
                adjust: { n, score in
                    var mine = 0
                    for slot in capacity[n].slots where slot.container == container.name { mine += 1 }
                    return PlacementScorer.antiAffinity(score, collisions: mine, count: container.count)
                },
                allows: { n in
                    nodes[n].unschedulable == nil && (avoided.isEmpty || !avoided.contains(nodes[n].name)) && !capacity[n].portTaken(demand)
                        && capacity[n].refusal(container) == nil
                })
            guard let chosen else {
                let reasons = nodes.indices.map { n in
                    let refusal =
                        nodes[n].unschedulable ?? (avoided.contains(nodes[n].name) ? "\(item.slot) failed here" : nil)
                        ?? capacity[n].refusal(container) ?? capacity[n].shortfall(demand, free: pool.free[n], countDisk: true)
                        ?? "no room"
                    return "\(nodes[n].name): \(refusal)"
                }
                let c = descriptor.containers.firstIndex(of: container)!
                throw DeploymentError(
                    field: "Containers[\(c)]",
                    "instance \(item.slot.index) of '\(container.name)' (\(item.id)) fits on no host: \(reasons.joined(separator: "; "))")
            }
            capacity[chosen].take(demand, slot: item.slot)
            pool.take(demand.resources(countDisk: true), from: chosen)
            occupied.insert(chosen)
            planned[item.slot] = PlannedInstance(
                slot: item.slot, id: item.id, node: nodes[chosen].name, action: item.action, request: item.request,
                started: container.started, current: item.current)
        }

        let changes = !removals.isEmpty || planned.values.contains { $0.action != .keep }
        let next = changes ? generation + 1 : generation
        var instances: [PlannedInstance] = []
        for container in descriptor.containers {
            for index in stride(from: 1, through: container.count, by: 1) {
                var instance = planned[Slot(container.name, index)]!
                if instance.action != .keep { instance.request.labels?[DeploymentLabel.generation] = String(next) }
                instances.append(instance)
            }
        }
        return DeploymentPlan(
            name: name, generation: next, instances: instances, removals: removals, links: links,
            addresses: Dictionary(uniqueKeysWithValues: nodes.map { ($0.name, $0.address) }))
    }

    /// The install body of instance `index` of `container`, labelled with the deployment, the instance and the digest
    /// of the body itself.
    static func installRequest(
        _ descriptor: DeploymentDescriptor, _ container: ContainerDescriptor, index: Int, links: LinkResolution
    ) -> InstallRequest {
        var environment = container.environment ?? []
        let own = Set(environment.map(\.name))
        environment = links.variables(for: container, in: descriptor).filter { !own.contains($0.name) } + environment
        var request = InstallRequest(
            image: container.image, runtime: container.runtime, cmd: container.cmd, started: nil,
            ports: container.publicPorts.map { PortRequest(internal: $0.internalPort, external: $0.externalPort == 0 ? nil : $0.externalPort) },
            environment: environment.isEmpty ? nil : environment, environmentID: container.environmentID, volumes: container.volumes,
            restart: container.restart, memory: container.memory, cpus: container.cpus)
        request.relax = container.relax
        request.healthCmd = container.health.cmd
        request.healthHTTP = container.health.http
        request.healthTCP = container.health.tcp
        request.healthInterval = container.health.interval
        request.healthTimeout = container.health.timeout
        request.healthStartPeriod = container.health.startPeriod
        request.healthRetries = container.health.retries
        request.healthOnFailure = container.health.onFailure
        var labels = container.labels ?? [:]
        labels[DeploymentLabel.deployment] = descriptor.deploymentName
        labels[DeploymentLabel.container] = container.name
        labels[DeploymentLabel.index] = String(index)
        request.labels = labels
        labels[DeploymentLabel.spec] = SpecDigest.of(request)
        request.labels = labels
        return request
    }

    /// Containers that are placed With others come after those.
    static func placementOrder(_ descriptor: DeploymentDescriptor) -> [String: Int] {
        var order: [String: Int] = [:]
        var remaining = descriptor.containers
        while !remaining.isEmpty {
            let ready = remaining.filter { c in c.affinity.with.allSatisfy { order[$0] != nil } }
            let next = ready.isEmpty ? remaining : ready
            for c in next { order[c.name] = order.count }
            remaining.removeAll { c in order[c.name] != nil }
        }
        return order
    }

    /// Ten lowercase letters and digits for a random instance id.
    public static func randomSuffix() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<10).map { _ in alphabet.randomElement()! })
    }
}

extension Capacity {
    /// The node-label rules alone (instances already placed keep their hosts whatever `With` and `Apart` say now).
    func refusal(withoutPlacementRules container: ContainerDescriptor) -> String? {
        var rules = container
        rules.affinity.with = []
        rules.affinity.apart = []
        return refusal(rules)
    }
}

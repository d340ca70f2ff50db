public import Foundation
public import GearAPI
public import GearDeploy
public import GearEtcd

/// How the orchestrator judges a node that has desired entries or could take instances.
public enum NodeCondition: Sendable, Hashable {
    /// It reports itself (its observed node entry is there and well formed).
    case ready
    /// Its observed node entry is gone (its lease expired) or unreadable since `seconds` ago, less than the grace
    /// period: its instances stay where they are, nothing new goes there.
    case silent(seconds: Int)
    /// Silent past the grace period: its instances are placed again elsewhere and its desired entries for them
    /// removed, so that it stops them when it comes back.
    case dead(seconds: Int)
}

/// What one pass over one deployment decided: the writes (each conditioned on the key being as it was read) and
/// the status that goes with them. The caller adds the leadership condition and writes it all in one transaction.
public struct Reconciliation: Sendable {
    public var operations: [EtcdOperation] = []
    public var conditions: [EtcdCondition] = []
    /// One line per write, for the log and the status's last event.
    public var events: [String] = []
    /// The deployment's status after the writes; nil when the deployment is gone (its status is deleted).
    public var status: DeploymentStatus?

    /// The instances written to (`node/id`), whose state the status gives as `starting`.
    var touched: Set<String> = []

    mutating func write(_ operation: EtcdOperation, key: String, ifRevision revision: Int64, _ event: String, touching: String? = nil) {
        operations.append(operation)
        conditions.append(.modRevision(key, equals: revision))
        events.append(event)
        if let touching { touched.insert(touching) }
    }
}

/// Decides, for one deployment at a time, what the desired state of the nodes must become, from the descriptor in
/// etcd and the fleet as the orchestrator's caches hold it. Pure: the same inputs give the same decision, so a new
/// leader decides as the old one would have, and the decision is tested without etcd.
///
/// - The placement is `EtcdDeploy.plan`'s, the one planner of `gear deploy`, over the nodes that report themselves.
/// - Instances on a node silent for less than the grace period are left alone, and the deployment waits.
/// - Instances on a node silent past it are placed again (the planner sees no node holding them), and the dead
///   node's desired entries for them deleted in the same transaction: when it comes back it stops its copies.
/// - Replacements of instances that changed go `maxUnavailable` at a time: one is written only while fewer than
///   `maxUnavailable` of the deployment's instances are not ready (converged, active when started, healthy when
///   checked). Read from etcd, not remembered, so a new leader holds to the same budget.
public enum Reconciler {
    /// At most this many writes in one transaction (etcd's `--max-txn-ops` is 128 by default, and the conditions
    /// count too): a larger change is written over several passes.
    public static let maxWrites = 120

    public static func reconcile(
        name: String, deployment: EtcdEntry?, fleet: EtcdFleet, nodes: [String: NodeCondition], current: DeploymentStatus?,
        maxUnavailable: Int, leader: String, now: Date, maintenance: [String: NodeMaintenance.Mode] = [:]
    ) -> Reconciliation {
        var result = Reconciliation()
        let mine = instances(of: name, in: fleet)

        guard let deployment else {
            // The deployment was deleted: so are its instances, everywhere, and its status.
            for instance in mine.prefix(maxWrites) {
                result.write(
                    .delete(instance.key), key: instance.key, ifRevision: instance.entry.modRevision,
                    "delete \(instance.id) on \(instance.node) (deployment \(name) removed)")
            }
            result.status = mine.count > maxWrites ? current : nil
            return result
        }

        var status = DeploymentStatus(
            name: name, deploymentRevision: deployment.modRevision, state: .converging, lastEvent: current?.lastEvent,
            lastEventAt: current?.lastEventAt, leader: leader)
        let descriptor: DeploymentDescriptor
        do throws(DeploymentError) {
            descriptor = try DeploymentDescriptor.parse(deployment.value, fileName: name)
            try descriptor.validate()
            guard descriptor.deploymentName == name else {
                throw DeploymentError(field: "Name", "the descriptor is named '\(descriptor.deploymentName)' but its key names '\(name)'")
            }
        } catch {
            status.state = .invalid
            status.message = error.field.isEmpty ? error.message : "\(error.field): \(error.message)"
            status.instances = describe(mine, fleet: fleet, written: [])
            count(&status)
            result.status = status
            return result
        }

        // Instances on a node that went silent lately: wait for it to come back or to pass its grace period.
        var silent: [String] = []
        for node in Set(mine.map(\.node)).sorted() {
            if case .silent(let seconds) = nodes[node] ?? .silent(seconds: 0) { silent.append("\(node) (silent for \(seconds) s)") }
        }
        if !silent.isEmpty {
            status.state = .waiting
            status.message = "waiting for nodes within their grace period: " + silent.joined(separator: ", ")
            status.instances = describe(mine, fleet: fleet, written: [])
            count(&status)
            result.status = status
            return result
        }

        let ready = fleet.nodes.keys.filter { nodes[$0] == .ready && fleet.nodes[$0]?.observed != nil }.sorted()
        let unready = mine.filter { nodes[$0.node] == .ready && !isReady($0, fleet: fleet) }.count
        var budget = max(0, maxUnavailable - unready)
        // Draining nodes: as many of their instances as the budget allows are taken off (the planner, not seeing
        // them, places them elsewhere) and deleted where they were, in the same transaction; the next go once those
        // are ready.
        let evicted = Array(mine.filter { maintenance[$0.node] == .drain && nodes[$0.node] == .ready }.prefix(budget))
        budget -= evicted.count
        var view = fleet
        for instance in evicted {
            view.nodes[instance.node]?.desired[instance.id] = nil
            view.nodes[instance.node]?.containers[instance.id] = nil
        }
        let unschedulable = maintenance.mapValues { $0 == .drain ? "draining" : "cordoned" }
        let planned: EtcdDeployPlan
        do {
            planned = try EtcdDeploy.plan(
                descriptor, fleet: view, nodes: ready.isEmpty ? nil : ready, maxUnavailable: maxUnavailable, unschedulable: unschedulable)
        } catch {
            let message = (error as? DeploymentError)?.message ?? "\(error)"
            status.state = .pending
            status.message = message
            status.pending = reasons(message)
            status.instances = describe(mine, fleet: fleet, written: [])
            count(&status)
            result.status = status
            return result
        }

        // Replacements: only as many as the budget leaves.
        let rolled = planned.waves.flatMap(\.replaced)
        let rolledKeys = Set(rolled.map { "\($0.node)/\($0.id)" })
        let allowed = Set(rolled.prefix(budget).map { "\($0.node)/\($0.id)" })
        for wave in planned.waves {
            for (i, operation) in wave.operations.enumerated() where result.operations.count < maxWrites {
                let step = wave.steps[i]
                let key = "\(step.node)/\(step.id)"
                if rolledKeys.contains(key) && !allowed.contains(key) { continue }
                let (conditionKey, revision): (String, Int64)
                switch wave.conditions[i] {
                case .modRevision(let key, let modRevision): (conditionKey, revision) = (key, modRevision)
                }
                let put: Bool
                if case .put = operation { put = true } else { put = false }
                result.write(
                    operation, key: conditionKey, ifRevision: revision, "\(step.action) \(step.id) on \(step.node)", touching: put ? key : nil)
            }
        }
        for instance in evicted where result.operations.count < maxWrites {
            result.write(
                .delete(instance.key), key: instance.key, ifRevision: instance.entry.modRevision,
                "delete \(instance.id) on \(instance.node) (the node is draining)")
        }
        // The dead nodes' copies: their slots are placed again above.
        for instance in mine where result.operations.count < maxWrites {
            guard case .dead(let seconds) = nodes[instance.node] ?? .dead(seconds: 0) else { continue }
            result.write(
                .delete(instance.key), key: instance.key, ifRevision: instance.entry.modRevision,
                "delete \(instance.id) on \(instance.node) (silent for \(seconds) s, past its grace period)")
        }

        let written = result.touched
        status.instances = planned.plan.instances.map { instance in
            describe(
                id: instance.id, container: instance.slot.container, index: instance.slot.index, node: instance.node,
                started: instance.started, healthChecked: instance.request.hasHealthCheck, fleet: fleet,
                pendingWrite: written.contains("\(instance.node)/\(instance.id)"))
        }
        count(&status)
        let allReady = status.instances.allSatisfy { $0.state == "running" || $0.state == "healthy" || $0.state == "stopped" }
        status.state = allReady && result.operations.isEmpty ? .running : .converging
        if !result.events.isEmpty {
            status.lastEvent = summary(result.events)
            status.lastEventAt = now
        }
        result.status = status
        return result
    }

    /// One desired entry of a deployment.
    struct Desired {
        var node: String
        var id: String
        var key: String
        var entry: EtcdEntry
        var request: InstallRequest
    }

    /// The desired entries labelled with deployment `name`, on every node, in node and id order.
    static func instances(of name: String, in fleet: EtcdFleet) -> [Desired] {
        let decoder = GearJSON.decoder()
        var found: [Desired] = []
        for node in fleet.nodes.keys.sorted() {
            guard let keys = try? GearKeys(node: node) else { continue }
            for (id, entry) in fleet.nodes[node]!.desired.sorted(by: { $0.key < $1.key }) {
                guard let request = try? decoder.decode(InstallRequest.self, from: entry.value),
                    request.labels?[DeploymentLabel.deployment] == name
                else { continue }
                found.append(Desired(node: node, id: id, key: keys.desiredContainer(id), entry: entry, request: request))
            }
        }
        return found
    }

    static func isReady(_ instance: Desired, fleet: EtcdFleet) -> Bool {
        guard let observed = fleet.nodes[instance.node]?.containers[instance.id] else { return false }
        let verdict = Readiness.verdict(
            observed, started: instance.request.started ?? false, healthChecked: instance.request.hasHealthCheck,
            revision: instance.entry.modRevision)
        return verdict == .ready
    }

    static func describe(_ mine: [Desired], fleet: EtcdFleet, written: Set<String>) -> [DeploymentStatus.Instance] {
        mine.map { instance in
            describe(
                id: instance.id, container: instance.request.labels?[DeploymentLabel.container] ?? "",
                index: Int(instance.request.labels?[DeploymentLabel.index] ?? "") ?? 0, node: instance.node,
                started: instance.request.started ?? false, healthChecked: instance.request.hasHealthCheck, fleet: fleet,
                pendingWrite: written.contains("\(instance.node)/\(instance.id)"))
        }
    }

    static func describe(
        id: String, container: String, index: Int, node: String, started: Bool, healthChecked: Bool, fleet: EtcdFleet, pendingWrite: Bool
    ) -> DeploymentStatus.Instance {
        var instance = DeploymentStatus.Instance(id: id, container: container, index: index, node: node, state: "unreported")
        guard !pendingWrite else {
            instance.state = "starting"
            return instance
        }
        guard let entry = fleet.nodes[node]?.desired[id] else { return instance }
        guard let observed = fleet.nodes[node]?.containers[id] else { return instance }
        switch Readiness.verdict(observed, started: started, healthChecked: healthChecked, revision: entry.modRevision) {
        case .ready: instance.state = !started ? "stopped" : healthChecked ? "healthy" : "running"
        case .failed(let reason):
            instance.state = "failed"
            instance.reason = String(reason.prefix(512))
        case .pending(let state):
            instance.state = "starting"
            instance.reason = String(state.prefix(512))
        }
        return instance
    }

    static func count(_ status: inout DeploymentStatus) {
        status.placed = status.instances.count
        status.running = status.instances.filter { $0.state == "running" || $0.state == "healthy" }.count
        status.healthy = status.instances.filter { $0.state == "healthy" }.count
    }

    /// The per-node reasons of a planner's shortfall ("... fits on no host: h1: memory ...; h2: ...").
    static func reasons(_ message: String) -> [String] {
        guard let colon = message.range(of: "fits on no host: ") else { return [message] }
        return message[colon.upperBound...].components(separatedBy: "; ")
    }

    static func summary(_ events: [String]) -> String {
        events.count <= 3 ? events.joined(separator: "; ") : events.prefix(3).joined(separator: "; ") + " and \(events.count - 3) more"
    }
}

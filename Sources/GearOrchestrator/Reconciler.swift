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
    /// What the writes were, for the metrics: instance entries created, replaced, deleted.
    public var writes: [Write: Int] = [:]
    /// Slots placed again elsewhere: off nodes silent past their grace period, off nodes they failed on, and off
    /// nodes that refused them for want of room.
    public var rescheduled: [RescheduleCause: Int] = [:]

    public enum Write: String, Sendable, Hashable, CaseIterable { case create, replace, delete }
    public enum RescheduleCause: String, Sendable, Hashable, CaseIterable {
        case nodeDead = "node_dead"
        case failed
        case noRoom = "no_room"
    }
    /// The deployment's status after the writes; nil when the deployment is gone (its status is deleted).
    public var status: DeploymentStatus?

    /// The instances written to (`node/id`), whose state the status gives as `starting`.
    var touched: Set<String> = []

    mutating func write(
        _ operation: EtcdOperation, key: String, ifRevision revision: Int64, _ event: String, kind: Write, touching: String? = nil
    ) {
        writes[kind, default: 0] += 1
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
///   checked). Read from etcd, not remembered, so a new leader holds to the same budget. An instance that is not
///   ready is replaced whatever the budget: it is unavailable already, and the fix of a bad version must reach it.
/// - Nodes in `quarantined` (back from the dead lately, `NodeHealth`) take nothing new; what they run stays.
/// - An instance that failed where it is (its node refused it, its unit failed, its check says unhealthy) is placed
///   on another node once it has failed for its slot's back-off (`ReschedulePolicy`: 30 s, doubling with each
///   reschedule of the slot, to 1 h), and deleted where it failed in the same transaction. When no other node can
///   take it, it stays. The back-off and the history are kept in the status, so a new leader holds to them.
public enum Reconciler {
    /// At most this many writes in one transaction (etcd's `--max-txn-ops` is 128 by default, and the conditions
    /// count too): a larger change is written over several passes.
    public static let maxWrites = 120

    public static func reconcile(
        name: String, deployment: EtcdEntry?, fleet: EtcdFleet, nodes: [String: NodeCondition], current: DeploymentStatus?,
        maxUnavailable: Int, leader: String, now: Date, maintenance: [String: NodeMaintenance.Mode] = [:],
        quarantined: [String: String] = [:], reschedule policy: ReschedulePolicy = ReschedulePolicy()
    ) -> Reconciliation {
        var result = Reconciliation()
        let mine = instances(of: name, in: fleet)

        guard let deployment else {
            // The deployment was deleted: so are its instances, everywhere, and its status.
            for instance in mine.prefix(maxWrites) {
                result.write(
                    .delete(instance.key), key: instance.key, ifRevision: instance.entry.modRevision,
                    "delete \(instance.id) on \(instance.node) (deployment \(name) removed)", kind: .delete)
            }
            result.status = mine.count > maxWrites ? current : nil
            return result
        }

        var status = DeploymentStatus(
            name: name, deploymentRevision: deployment.modRevision, state: .converging, lastEvent: current?.lastEvent,
            lastEventAt: current?.lastEventAt, leader: leader)
        status.reschedules = current?.reschedules
        status.history = current?.history
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

        // Failed instances: since when, and which are due to be placed elsewhere.
        var reschedules = Dictionary((current?.reschedules ?? []).map { ($0.slot, $0) }, uniquingKeysWith: { a, _ in a })
        var failedSince: [String: Date] = [:]
        var due: [(instance: Desired, slot: Slot, reason: String, refused: Bool)] = []
        for instance in mine where nodes[instance.node] == .ready {
            guard case .failed(let reason) = verdict(instance, fleet: fleet) else { continue }
            let since = current?.instances.first { $0.node == instance.node && $0.id == instance.id }?.failedSince ?? now
            failedSince["\(instance.node)/\(instance.id)"] = since
            guard maintenance[instance.node] != .drain, let slot = slot(of: instance) else { continue }
            // A node that refused the install for want of room (another scheduler took it first) is no fault of
            // the instance: it is placed again at once, and the slot's back-off does not grow.
            let refused = fleet.nodes[instance.node]?.containers[instance.id]?.errorCode == GearError.Code.insufficientCapacity.rawValue
            let count = reschedules[slotName(slot)]?.count ?? 0
            if refused || now.timeIntervalSince(since) >= policy.delay(after: count) { due.append((instance, slot, reason, refused)) }
        }
        func markFailed(_ status: inout DeploymentStatus) {
            for i in status.instances.indices where status.instances[i].state == "failed" {
                status.instances[i].failedSince = failedSince["\(status.instances[i].node)/\(status.instances[i].id)"] ?? now
            }
        }

        // Nodes that take nothing new: cordoned or draining by an operator, back from the dead too often lately.
        let unschedulable = maintenance.mapValues(\.reason).merging(quarantined) { mode, _ in mode }
        func plan(taking away: [Desired], avoid: [Slot: Set<String>]) throws -> EtcdDeployPlan {
            var view = fleet
            for instance in away {
                view.nodes[instance.node]?.desired[instance.id] = nil
                view.nodes[instance.node]?.containers[instance.id] = nil
            }
            return try EtcdDeploy.plan(
                descriptor, fleet: view, nodes: ready.isEmpty ? nil : ready, maxUnavailable: maxUnavailable, unschedulable: unschedulable,
                avoid: avoid)
        }
        var planned: EtcdDeployPlan
        do {
            planned = try plan(taking: evicted, avoid: [:])
        } catch {
            let message = (error as? DeploymentError)?.message ?? "\(error)"
            status.state = .pending
            status.message = message
            status.pending = reasons(message)
            status.instances = describe(mine, fleet: fleet, written: [])
            markFailed(&status)
            count(&status)
            result.status = status
            return result
        }
        // The failed instances due: placed again on another node, if one can take them (else they stay).
        var stuck: String?
        if !due.isEmpty {
            var avoid: [Slot: Set<String>] = [:]
            for item in due { avoid[item.slot, default: []].insert(item.instance.node) }
            do {
                planned = try plan(taking: evicted + due.map(\.instance), avoid: avoid)
            } catch {
                stuck = "failed instances stay where they are, no other node can take them: \((error as? DeploymentError)?.message ?? "\(error)")"
                due = []
            }
        }

        // Replacements: of instances that are not ready, always (they are unavailable already, and a fix must reach
        // a failing one); of ready ones, only as many as the budget leaves.
        let rolled = planned.waves.flatMap(\.replaced)
        let rolledKeys = Set(rolled.map { "\($0.node)/\($0.id)" })
        let unreadyKeys = Set(mine.filter { !isReady($0, fleet: fleet) }.map { "\($0.node)/\($0.id)" })
        let allowed = rolledKeys.intersection(unreadyKeys).union(
            rolled.filter { !unreadyKeys.contains("\($0.node)/\($0.id)") }.prefix(budget).map { "\($0.node)/\($0.id)" })
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
                let kind: Reconciliation.Write = !put ? .delete : step.action == "create" ? .create : .replace
                result.write(
                    operation, key: conditionKey, ifRevision: revision, "\(step.action) \(step.id) on \(step.node)", kind: kind,
                    touching: put ? key : nil)
            }
        }
        for instance in evicted where result.operations.count < maxWrites {
            result.write(
                .delete(instance.key), key: instance.key, ifRevision: instance.entry.modRevision,
                "delete \(instance.id) on \(instance.node) (the node is draining)", kind: .delete)
        }
        for item in due where result.operations.count < maxWrites {
            let name = slotName(item.slot)
            let to = planned.plan.instances.first { $0.slot == item.slot }.map { " to \($0.node) as \($0.id)" } ?? ""
            if item.refused {
                result.write(
                    .delete(item.instance.key), key: item.instance.key, ifRevision: item.instance.entry.modRevision,
                    "place \(name) again off \(item.instance.node)\(to): the node refused \(item.instance.id), it has no room left "
                        + "(\(item.reason.prefix(200)))", kind: .delete)
                result.rescheduled[.noRoom, default: 0] += 1
                continue
            }
            let count = (reschedules[name]?.count ?? 0) + 1
            let next = policy.delay(after: count)
            result.write(
                .delete(item.instance.key), key: item.instance.key, ifRevision: item.instance.entry.modRevision,
                "reschedule \(name) off \(item.instance.node)\(to): \(item.instance.id) failed there (\(item.reason.prefix(200))); "
                    + "reschedule \(count) of the slot, the next no sooner than \(Int(next)) s after a failure", kind: .delete)
            result.rescheduled[.failed, default: 0] += 1
            reschedules[name] = DeploymentStatus.Reschedule(
                slot: name, count: count, lastAt: now, from: item.instance.node, reason: String(item.reason.prefix(512)),
                nextNotBefore: now.addingTimeInterval(next))
        }
        // The dead nodes' copies: their slots are placed again above.
        for instance in mine where result.operations.count < maxWrites {
            guard case .dead(let seconds) = nodes[instance.node] ?? .dead(seconds: 0) else { continue }
            result.write(
                .delete(instance.key), key: instance.key, ifRevision: instance.entry.modRevision,
                "delete \(instance.id) on \(instance.node) (silent for \(seconds) s, past its grace period)", kind: .delete)
            result.rescheduled[.nodeDead, default: 0] += 1
        }

        let written = result.touched
        status.instances = planned.plan.instances.map { instance in
            describe(
                id: instance.id, container: instance.slot.container, index: instance.slot.index, node: instance.node,
                started: instance.started, healthChecked: instance.request.hasHealthCheck, fleet: fleet,
                pendingWrite: written.contains("\(instance.node)/\(instance.id)"))
        }
        markFailed(&status)
        count(&status)
        let allReady = status.instances.allSatisfy { $0.state == "running" || $0.state == "healthy" || $0.state == "stopped" }
        status.state = allReady && result.operations.isEmpty ? .running : .converging
        if let stuck { status.message = stuck }
        // A slot that has run well for the longest back-off starts again from the first.
        for (name, entry) in reschedules where now.timeIntervalSince(entry.lastAt) >= policy.maxDelay {
            if status.instances.contains(where: { "\($0.container)-\($0.index)" == name && ($0.state == "running" || $0.state == "healthy") }) {
                reschedules[name] = nil
            }
        }
        status.reschedules = reschedules.isEmpty ? nil : reschedules.values.sorted { $0.slot < $1.slot }
        if !result.events.isEmpty {
            status.lastEvent = summary(result.events)
            status.lastEventAt = now
            let events = result.events.map { DeploymentStatus.Event(at: now, text: $0) }
            status.history = Array(((status.history ?? []) + events).suffix(DeploymentStatus.historyLength))
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
        var found: [Desired] = []
        for node in fleet.nodes.keys.sorted() {
            guard let keys = try? GearKeys(node: node), let state = fleet.nodes[node] else { continue }
            for (id, entry) in state.desired.sorted(by: { $0.key < $1.key }) {
                guard let request = state.request(id), request.labels?[DeploymentLabel.deployment] == name else { continue }
                found.append(Desired(node: node, id: id, key: keys.desiredContainer(id), entry: entry, request: request))
            }
        }
        return found
    }

    /// The slot an instance fills, from its labels.
    static func slot(of instance: Desired) -> Slot? {
        guard let container = instance.request.labels?[DeploymentLabel.container],
            let index = Int(instance.request.labels?[DeploymentLabel.index] ?? "")
        else { return nil }
        return Slot(container, index)
    }

    static func slotName(_ slot: Slot) -> String { "\(slot.container)-\(slot.index)" }

    /// What the node's observed entry says of the instance's current desired entry.
    static func verdict(_ instance: Desired, fleet: EtcdFleet) -> InstanceVerdict? {
        guard let observed = fleet.nodes[instance.node]?.containers[instance.id] else { return nil }
        return Readiness.verdict(
            observed, started: instance.request.started ?? false, healthChecked: instance.request.hasHealthCheck,
            revision: instance.entry.modRevision)
    }

    static func isReady(_ instance: Desired, fleet: EtcdFleet) -> Bool { verdict(instance, fleet: fleet) == .ready }

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
        // Judged by what the node is asked to run now: an instance the plan will replace later (its turn has not
        // come) is still the previous version, with that version's health check or none.
        var (started, healthChecked) = (started, healthChecked)
        if let request = fleet.nodes[node]?.request(id) {
            (started, healthChecked) = (request.started ?? false, request.hasHealthCheck)
        }
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

/// When an instance that failed where it is goes to another node: after `delay` seconds of failure, doubling with
/// each reschedule of its slot, to `maxDelay` (Nomad's service defaults: 30 s, exponential, 1 h).
public struct ReschedulePolicy: Sendable, Hashable {
    public var delay: TimeInterval
    public var maxDelay: TimeInterval

    public init(delay: TimeInterval = 30, maxDelay: TimeInterval = 3600) {
        self.delay = delay
        self.maxDelay = max(maxDelay, delay)
    }

    /// The wait before the slot's reschedule after `count` earlier ones.
    public func delay(after count: Int) -> TimeInterval {
        min(maxDelay, delay * pow(2, Double(min(max(count, 0), 40))))
    }
}

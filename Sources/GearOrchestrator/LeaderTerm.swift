import CoreMetrics
import Foundation
import GearAPI
import GearDeploy
import GearEtcd
import Logging

/// The leader deposed: the leader key is gone or was created again by another replica.
struct Deposed: Error, CustomStringConvertible {
    var description: String
}

/// One term of leadership: caches of everything under `/gear/v1/` fed by one watch, and a pass over every
/// deployment after each change (and every `resync`), whose writes are transactions fenced by the leader key's
/// revision: once another replica leads, none of this term's writes can land.
///
/// The caches: one read of `/gear/v1/` at one revision, then a watch from the revision after it. A lost connection
/// resumes the watch after the last revision applied (nothing missed, nothing applied twice); a watch whose revision
/// was compacted away reads everything again.
actor LeaderTerm {
    let client: EtcdClient
    let fence: Int64
    let configuration: OrchestratorConfiguration
    let logger: Logger
    let metrics: OrchestratorMetrics
    let report: @Sendable (Int) -> Void

    var fleet = EtcdFleet(nodes: [:], revision: 0)
    var deployments: [String: EtcdEntry] = [:]
    var statuses: [String: EtcdEntry] = [:]
    /// Operators' maintenance entries by node (`gear node cordon|drain`); one that cannot be read cordons.
    var maintenance: [String: NodeMaintenance.Mode] = [:]
    /// Since when each node has been silent (for a node that had no entry when this term began, since the term
    /// began: a new leader gives every silent node its full grace), which are dead, which flap.
    var health: NodeHealth
    var appliedRevision: Int64 = 0
    /// A change arrived since the last pass.
    var dirty = true
    /// Why this term ended, once a watched change said so (the watch hands on its handler's errors as its own).
    var deposed: Deposed?
    /// The revision of this term's last write: a pass waits until the caches hold it (or a few seconds pass).
    var awaiting: (revision: Int64, since: ContinuousClock.Instant)?
    /// When a write last failed (etcd away): passes pause for a second after one.
    var failedAt: ContinuousClock.Instant?

    init(
        client: EtcdClient, fence: Int64, configuration: OrchestratorConfiguration, logger: Logger, metrics: OrchestratorMetrics,
        report: @escaping @Sendable (Int) -> Void
    ) {
        self.client = client
        self.fence = fence
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        self.report = report
        health = NodeHealth(grace: configuration.nodeGrace)
    }

    func run() async throws {
        try await load()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.follow() }
            group.addTask { try await self.passes() }
            try await group.next()
            group.cancelAll()
        }
    }

    // MARK: caches

    /// Reads everything under `/gear/v1/` at one revision into the caches.
    func load() async throws {
        let (entries, revision) = try await client.range(prefix: GearKeys.root)
        fleet = EtcdFleet(nodes: [:], revision: revision)
        deployments = [:]
        statuses = [:]
        maintenance = [:]
        var leader: EtcdEntry?
        for entry in entries {
            if entry.key == GearKeys.orchestratorLeader { leader = entry }
            put(entry)
        }
        guard leader?.modRevision == fence else { throw Deposed(description: "another replica leads (the leader key changed)") }
        let now = ContinuousClock.now
        for (name, node) in fleet.nodes where node.observed == nil { health.silent(name, at: now) }
        appliedRevision = revision
        dirty = true
        logger.info(
            "orchestrator: state read",
            metadata: ["etcd.revision": "\(revision)", "nodes": "\(fleet.nodes.count)", "deployments": "\(deployments.count)"])
    }

    /// Watches `/gear/v1/` from the revision after the caches'; returns only by throwing (deposed, cancelled).
    func follow() async throws {
        var failures = 0
        while true {
            try Task.checkCancellation()
            let began = ContinuousClock.now
            do {
                try await client.watch(prefix: GearKeys.root, from: appliedRevision + 1) { batch in
                    try await self.apply(batch)
                }
            } catch  where error.code == .compacted {
                if let deposed { throw deposed }
                logger.warning("orchestrator: the watch's revision was compacted: reading everything again", metadata: ["error": "\(error)"])
                try await load()
            } catch {
                if let deposed { throw deposed }
                try Task.checkCancellation()
                if ContinuousClock.now - began > .seconds(10) { failures = 0 }
                failures += 1
                if failures == 1 || failures % 20 == 0 {
                    logger.warning("orchestrator: cannot watch etcd; retrying", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .milliseconds(min(3000, 100 * (1 << min(failures, 5)))))
            }
        }
    }

    func apply(_ batch: EtcdWatchBatch) throws {
        for event in batch.events {
            switch event.kind {
            case .put: put(event.entry)
            case .delete: remove(event.entry.key)
            }
            if event.entry.key == GearKeys.orchestratorLeader, event.kind == .delete || event.entry.modRevision != fence {
                deposed = Deposed(description: "the leader key was \(event.kind == .delete ? "deleted" : "written by another replica")")
                throw deposed!
            }
            appliedRevision = max(appliedRevision, event.entry.modRevision)
        }
        appliedRevision = max(appliedRevision, batch.revision)
        metrics.revision.record(appliedRevision)
        if !batch.events.isEmpty { dirty = true }
    }

    func put(_ entry: EtcdEntry) {
        if let name = GearKeys.deploymentName(entry.key) {
            deployments[name] = entry
        } else if let name = GearKeys.deploymentStatusName(entry.key) {
            statuses[name] = entry
        } else if let node = GearKeys.maintenanceNode(entry.key) {
            maintenance[node] = NodeMaintenance.Mode.of(entry.value)
        } else if entry.key.hasPrefix(GearKeys.desiredRoot) || entry.key.hasPrefix(GearKeys.observedRoot) {
            fleet.put(entry)
            if let (node, rest) = GearKeys.split(entry.key, under: GearKeys.observedRoot), rest == "node" {
                if fleet.nodes[node]?.observed != nil {
                    health.reported(node, at: .now)
                } else {
                    health.silent(node, at: .now)
                }
            }
        }
    }

    func remove(_ key: String) {
        if let name = GearKeys.deploymentName(key) {
            deployments[name] = nil
        } else if let name = GearKeys.deploymentStatusName(key) {
            statuses[name] = nil
        } else if let node = GearKeys.maintenanceNode(key) {
            maintenance[node] = nil
        } else if key.hasPrefix(GearKeys.desiredRoot) || key.hasPrefix(GearKeys.observedRoot) {
            fleet.remove(key)
            if let (node, rest) = GearKeys.split(key, under: GearKeys.observedRoot), rest == "node" { health.silent(node, at: .now) }
        }
    }

    // MARK: passes

    /// A pass after each change (a tenth of a second apart at most, so that a burst is one pass) and every `resync`.
    func passes() async throws {
        var last = ContinuousClock.now
        while true {
            try await Task.sleep(for: .milliseconds(100))
            if let awaiting, appliedRevision < awaiting.revision, ContinuousClock.now - awaiting.since < .seconds(5) { continue }
            awaiting = nil
            if let failedAt, ContinuousClock.now - failedAt < .seconds(1) { continue }
            failedAt = nil
            guard dirty || ContinuousClock.now - last >= configuration.resync else { continue }
            dirty = false
            last = .now
            try await pass()
        }
    }

    func pass() async throws {
        let now = ContinuousClock.now
        let nodes = health.update(fleet.nodes.mapValues { $0.observed != nil }, at: now)
        let quarantined = health.quarantined(at: now)
        let names = Set(deployments.keys).union(statuses.keys).sorted()
        report(deployments.count)
        metrics.deployments.record(deployments.count)
        let decoder = GearJSON.decoder()
        let encoder = GearJSON.encoder()
        var states: [String: Int] = [:]
        defer { metrics.record(instances: states) }
        for name in names {
            let currentStatus = statuses[name].flatMap { try? decoder.decode(DeploymentStatus.self, from: $0.value) }
            let decision = Reconciler.reconcile(
                name: name, deployment: deployments[name], fleet: fleet, nodes: nodes, current: currentStatus,
                maxUnavailable: configuration.maxUnavailable, leader: configuration.identity, now: Date(), maintenance: maintenance,
                quarantined: quarantined, reschedule: configuration.reschedule)
            for instance in decision.status?.instances ?? [] { states[instance.state, default: 0] += 1 }
            var operations = decision.operations
            var conditions = decision.conditions + [.modRevision(GearKeys.orchestratorLeader, equals: fence)]
            let statusKey = GearKeys.deploymentStatus(name)
            if let status = decision.status {
                let value = try encoder.encode(status)
                let before = try currentStatus.map { try encoder.encode($0) }
                if value != before {
                    operations.append(.put(statusKey, value))
                    conditions.append(.modRevision(statusKey, equals: statuses[name]?.modRevision ?? 0))
                }
            } else if let old = statuses[name] {
                operations.append(.delete(statusKey))
                conditions.append(.modRevision(statusKey, equals: old.modRevision))
            }
            guard !operations.isEmpty else { continue }
            let result: (succeeded: Bool, revision: Int64)
            do {
                result = try await client.transaction(if: conditions, then: operations)
            } catch {
                logger.warning("orchestrator: cannot write", metadata: ["deployment": "\(name)", "error": "\(error)"])
                dirty = true
                failedAt = .now
                return
            }
            guard result.succeeded else {
                // A key changed since the caches read it, or another replica leads: which, etcd says.
                let leader = try await client.get(GearKeys.orchestratorLeader)
                guard leader?.modRevision == fence else { throw Deposed(description: "a write was refused: another replica leads") }
                metrics.conflicts.increment()
                dirty = true
                continue
            }
            metrics.wrote(decision)
            awaiting = (result.revision, .now)
            for event in decision.events {
                logger.notice("orchestrator: \(event)", metadata: ["deployment": "\(name)", "etcd.revision": "\(result.revision)"])
            }
        }
    }
}

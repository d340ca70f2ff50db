import CoreMetrics

/// The orchestrator's figures for `/metrics` (swift-metrics; gear-orchestrator exports them in Prometheus' format).
/// Made when a replica starts, after the metrics system is bootstrapped, so that every series is there from the start.
struct OrchestratorMetrics: Sendable {
    /// 1 while this replica leads.
    let leader = Gauge(label: "gear_orchestrator_leader")
    /// Deployments under `/gear/v1/deployments/`, as the leader last counted them.
    let deployments = Gauge(label: "gear_orchestrator_deployments")
    /// The etcd revision the leader's caches hold (the watch's progress).
    let revision = Gauge(label: "gear_orchestrator_cache_revision")
    /// Transactions the leader wrote, and those refused because a key changed since it was read.
    let writes = Counter(label: "gear_orchestrator_writes_total", dimensions: [("result", "written")])
    let conflicts = Counter(label: "gear_orchestrator_writes_total", dimensions: [("result", "conflict")])
    /// Instances placed where none ran, moved off a dead node, replaced with a new definition, deleted.
    let placements = Counter(label: "gear_orchestrator_instances_written_total", dimensions: [("action", "create")])
    let replacements = Counter(label: "gear_orchestrator_instances_written_total", dimensions: [("action", "replace")])
    let deletions = Counter(label: "gear_orchestrator_instances_written_total", dimensions: [("action", "delete")])
    /// Slots placed again elsewhere: off nodes that stayed silent past their grace period, off nodes they failed on.
    let rescheduled: [Reconciliation.RescheduleCause: Counter] = Dictionary(
        uniqueKeysWithValues: Reconciliation.RescheduleCause.allCases.map {
            ($0, Counter(label: "gear_orchestrator_rescheduled_total", dimensions: [("cause", $0.rawValue)]))
        })
    /// Terms this replica began.
    let terms = Counter(label: "gear_orchestrator_terms_total")

    /// Instances of every deployment by the state its status gives them.
    static let states = ["running", "healthy", "stopped", "starting", "failed", "unreported"]
    let instances: [String: Gauge] = Dictionary(
        uniqueKeysWithValues: OrchestratorMetrics.states.map { ($0, Gauge(label: "gear_orchestrator_instances", dimensions: [("state", $0)])) })

    /// Counts what one transaction wrote.
    func wrote(_ decision: Reconciliation) {
        writes.increment()
        placements.increment(by: decision.writes[.create] ?? 0)
        replacements.increment(by: decision.writes[.replace] ?? 0)
        deletions.increment(by: decision.writes[.delete] ?? 0)
        for (cause, count) in decision.rescheduled { rescheduled[cause]?.increment(by: count) }
    }

    func record(instances counts: [String: Int]) {
        for (state, gauge) in instances { gauge.record(counts[state] ?? 0) }
    }
}

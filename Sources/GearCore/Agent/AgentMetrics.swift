import CoreMetrics
import Foundation
import GearAPI

/// The agent's figures for `/metrics` (swift-metrics; geard exports them in Prometheus' format): jobs waiting
/// and running, how long jobs take by kind and outcome, and systemd reloads.
struct AgentMetrics: Sendable {
    let queued = Gauge(label: "gear_jobs_queued")
    let running = Gauge(label: "gear_jobs_running")
    /// The reload counter is looked up by name at each use (reloads are rare), not kept in a static: a static made
    /// before the metrics system is bootstrapped would count into nothing, and one made at the first reload left
    /// `/metrics` without the counter until then. Each agent registers it at 0 when it is made.
    static func reloaded() { Counter(label: reloadsLabel).increment() }
    private static let reloadsLabel = "gear_systemd_reloads_total"

    init() {
        _ = Counter(label: Self.reloadsLabel)
    }

    func update(queued: Int, running: Int) {
        self.queued.record(queued)
        self.running.record(running)
    }

    func finished(_ job: Job) {
        guard let started = job.startedAt, let finished = job.finishedAt else { return }
        Timer(label: "gear_job_duration_seconds", dimensions: [("kind", job.kind.rawValue), ("state", job.state.rawValue)])
            .recordNanoseconds(Int64(max(0, finished.timeIntervalSince(started)) * 1e9))
    }
}

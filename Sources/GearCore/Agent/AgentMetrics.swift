import CoreMetrics
import Foundation
import GearAPI

/// The agent's figures for `/metrics` (swift-metrics; geard exports them in Prometheus' format): jobs waiting
/// and running, how long jobs take by kind and outcome, and systemd reloads.
struct AgentMetrics: Sendable {
    let queued = Gauge(label: "gear_jobs_queued")
    let running = Gauge(label: "gear_jobs_running")
    static let reloads = Counter(label: "gear_systemd_reloads_total")

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

import Foundation
public import GearAPI
import Synchronization

/// The health of one container run, from its check results (Docker's and podman's rules): `starting` until a check
/// passes, `healthy` after one does, `unhealthy` once `retries` checks in a row failed; failures within the start
/// period do not count while it is still `starting`.
struct HealthTracker: Sendable {
    private(set) var health = HealthStatus(status: HealthStatus.starting)

    static let keptResults = 5

    enum Transition: Equatable {
        case becameHealthy
        case becameUnhealthy
    }

    /// Records one result; answers the change of state it made, if any.
    mutating func record(_ result: HealthCheckResult, inStartPeriod: Bool, retries: Int) -> Transition? {
        health.log.append(result)
        if health.log.count > Self.keptResults { health.log.removeFirst(health.log.count - Self.keptResults) }
        let before = health.status
        if result.healthy {
            health.failingStreak = 0
            health.status = HealthStatus.healthy
            return before == HealthStatus.healthy ? nil : .becameHealthy
        }
        if inStartPeriod && before == HealthStatus.starting { return nil }
        health.failingStreak += 1
        guard health.failingStreak >= retries else { return nil }
        health.status = HealthStatus.unhealthy
        return before == HealthStatus.unhealthy ? nil : .becameUnhealthy
    }
}

/// The health of every container whose check runs, for status and list to read without waiting, with a generation
/// that changes with any of them (the list's cache key).
final class HealthBoard: Sendable {
    private struct State {
        var health: [ContainerID: HealthStatus] = [:]
        /// The run (unit's ActiveEnterTimestamp) each health belongs to.
        var runs: [ContainerID: UInt64] = [:]
        var generation: UInt64 = 0
        var counts = [HealthStatus.starting: 0, HealthStatus.healthy: 0, HealthStatus.unhealthy: 0]
    }
    private let state = Mutex(State())

    subscript(_ id: ContainerID) -> HealthStatus? {
        state.withLock { $0.health[id] }
    }

    /// A container's health if it is of the run that entered `active` at `run` (ActiveEnterTimestamp).
    func health(_ id: ContainerID, run: UInt64) -> HealthStatus? {
        state.withLock { $0.runs[id] == run ? $0.health[id] : nil }
    }

    var generation: UInt64 { state.withLock { $0.generation } }

    /// Sets (or with nil, clears) a container's health; answers the counts by status when they changed, else nil.
    @discardableResult
    func set(_ id: ContainerID, _ health: HealthStatus?, run: UInt64 = 0) -> [String: Int]? {
        state.withLock { state in
            state.runs[id] = health == nil ? nil : run
            let old = state.health[id]
            guard old != health else { return nil }
            state.health[id] = health
            state.generation &+= 1
            guard old?.status != health?.status else { return nil }
            if let old { state.counts[old.status, default: 0] -= 1 }
            if let health { state.counts[health.status, default: 0] += 1 }
            return state.counts
        }
    }

    /// Counts by status (`starting`, `healthy`, `unhealthy`).
    var counts: [String: Int] { state.withLock { $0.counts } }
}

import Foundation
public import GearAPI

/// Whether a placed instance is ready: the one verdict of every deploy path (the push deploy reads the status its
/// host answers, the etcd deploy the node's observed entry, and the orchestrator alike).
public enum InstanceVerdict: Sendable, Equatable {
    /// As wanted: installed, and when started active, and healthy when it has a health check.
    case ready
    /// It will not get there by waiting: refused, failed, unhealthy.
    case failed(String)
    /// Not yet: what it is now.
    case pending(String)
}

/// The verdict on one instance.
public enum Readiness {
    /// From the container's status: ready when it is as wanted (a stopped one once installed; a started one when
    /// active, and healthy when checked); failed when its unit failed or its check says unhealthy.
    public static func verdict(_ status: ContainerStatus?, started: Bool, healthChecked: Bool) -> InstanceVerdict {
        guard let status else { return .pending("not installed") }
        guard started else { return .ready }
        let health = status.health
        if status.activeState == "failed" { return .failed("failed (\(status.result ?? "?"))") }
        if health?.status == "unhealthy" {
            let output = health?.log.last.map { ": \($0.output.trimmingCharacters(in: .whitespacesAndNewlines).prefix(200))" } ?? ""
            return .failed("unhealthy\(output)")
        }
        if status.activeState == "active" && (!healthChecked || health?.status == "healthy") { return .ready }
        return .pending("\(status.activeState) (\(status.subState))" + (health.map { ", \($0.status)" } ?? ""))
    }

    /// From a node's observed entry, for a desired entry written at `revision`: pending until the node applied that
    /// revision (an older entry's state or error says nothing of the new one), failed with the node's error (a
    /// refusal, a failed job), otherwise the status's verdict once converged.
    public static func verdict(_ observed: ObservedContainer, started: Bool, healthChecked: Bool, revision: Int64) -> InstanceVerdict {
        guard let applied = observed.desiredRevision, applied >= revision else { return .pending("its node has not applied the new entry yet") }
        if let error = observed.error { return .failed(error) }
        guard observed.converged else {
            return .pending(
                "converging, \(observed.status?.activeState ?? "not installed")" + (observed.status?.health.map { ", \($0.status)" } ?? ""))
        }
        switch verdict(observed.status, started: started, healthChecked: healthChecked) {
        case .pending(let state): return .pending("converged, \(state)")
        case let other: return other
        }
    }
}

extension InstallRequest {
    /// Whether the container has a health check (its readiness waits for `healthy`).
    public var hasHealthCheck: Bool { healthCmd != nil || healthHTTP != nil || healthTCP != nil }
}

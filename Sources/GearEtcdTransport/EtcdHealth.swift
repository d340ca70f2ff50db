import Foundation
import GearAPI
import GearCore
import Synchronization

/// Whether the transport is in touch with etcd, for `/healthz`: the desired-state watch and the lease are both up.
final class EtcdHealth: Sendable {
    private struct Parts {
        var watching = false
        var leased = false
        var since = Date()
        var problem: String? = "connecting"
    }
    private let parts = Mutex(Parts())

    func watch(_ up: Bool, problem: String? = nil) { set({ $0.watching = up }, problem: problem) }
    func lease(_ up: Bool, problem: String? = nil) { set({ $0.leased = up }, problem: problem) }

    private func set(_ change: (inout Parts) -> Void, problem: String?) {
        parts.withLock { parts in
            let wasUp = parts.watching && parts.leased
            change(&parts)
            let isUp = parts.watching && parts.leased
            if wasUp != isUp { parts.since = Date() }
            if isUp { parts.problem = nil } else if let problem { parts.problem = problem }
        }
    }

    var isUp: Bool { parts.withLock { $0.watching && $0.leased } }

    func check(endpoints: String) -> HealthReport.Check {
        parts.withLock { parts in
            if parts.watching && parts.leased { return HealthReport.Check(name: "etcd", ok: true) }
            let since = GearJSON.format(parts.since)
            return HealthReport.Check(
                name: "etcd", ok: false,
                message: "\(endpoints) not reached since \(since): \(parts.problem ?? "unknown"); containers keep running, the API keeps serving")
        }
    }
}

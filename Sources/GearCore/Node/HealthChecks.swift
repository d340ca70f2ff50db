public import GearAPI
import Synchronization

/// Checks that parts outside the core add to the node's liveness report (`/healthz`): a config-store transport
/// tells whether its store is reachable. Each check answers from memory, at once.
public final class HealthChecks: Sendable {
    private let checks = Mutex<[(name: String, check: @Sendable () -> HealthReport.Check)]>([])

    public init() {}

    /// Adds a check, reported under `name` (a second check of one name replaces the first).
    public func register(_ name: String, _ check: @escaping @Sendable () -> HealthReport.Check) {
        checks.withLock { checks in
            checks.removeAll { $0.name == name }
            checks.append((name, check))
        }
    }

    /// Every registered check's answer now.
    func run() -> [HealthReport.Check] {
        checks.withLock { $0 }.map { $0.check() }
    }
}

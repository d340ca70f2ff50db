import CoreMetrics
import Foundation
public import GearEtcd
public import Logging
public import ServiceLifecycle
import Synchronization

/// How an orchestrator replica is set up.
public struct OrchestratorConfiguration: Sendable {
    public var etcd: EtcdConfiguration
    /// This replica's name, written as the leader key's value while it leads (`gear-orchestrator --name`).
    public var identity: String
    /// How long a node may stay silent (its lease expired) before its instances are placed elsewhere.
    public var nodeGrace: Duration = .seconds(20)
    /// Seconds etcd keeps the leader key after the leader's last keep-alive: how long a standby waits for a leader
    /// that died or was cut off.
    public var leaseTTL: Int64 = 10
    /// How many of a deployment's instances a rolling replacement may take down at once.
    public var maxUnavailable = 1
    /// When an instance that keeps failing on its node is placed on another.
    public var reschedule = ReschedulePolicy()
    /// Every deployment is looked at again at least this often (grace periods, readiness), besides on each change.
    public var resync: Duration = .seconds(1)

    public init(etcd: EtcdConfiguration, identity: String) {
        self.etcd = etcd
        self.identity = identity
    }
}

/// What the replica is doing, for its log and its health answer.
public struct OrchestratorState: Sendable, Hashable {
    public var leading = false
    /// The revision of the leader key this replica created while it leads (its fence).
    public var term: Int64 = 0
    public var leader: String?
    public var deployments = 0
    public var lastError: String?
}

/// The orchestrator: a replica that campaigns for leadership through etcd (a lease and the key
/// `/gear/v1/orchestrator/leader`, created only where absent), and while it leads keeps every deployment under
/// `/gear/v1/deployments/` true (`LeaderTerm`). Several run; one acts. It links no systemd and runs anywhere that
/// reaches etcd.
public final class Orchestrator: Service {
    let configuration: OrchestratorConfiguration
    let client: EtcdClient
    let logger: Logger
    let current = Mutex(OrchestratorState())
    let metrics = OrchestratorMetrics()

    public init(configuration: OrchestratorConfiguration, logger: Logger) throws(EtcdError) {
        self.configuration = configuration
        self.logger = logger
        client = try EtcdClient(configuration.etcd)
        metrics.leader.record(0)
    }

    public var state: OrchestratorState { current.withLock { $0 } }

    public func run() async throws {
        let client = self.client
        logger.info(
            "orchestrator starting",
            metadata: [
                "name": "\(configuration.identity)", "etcd.endpoints": "\(configuration.etcd.endpoints.map(\.description).joined(separator: ","))",
                "node_grace": "\(configuration.nodeGrace)", "lease_ttl": "\(configuration.leaseTTL)",
            ])
        // The connections stay up until the campaign has ended, so that a leader stopping cleanly revokes its lease
        // and a standby takes over at once.
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await client.runConnections() }
            await cancelWhenGracefulShutdown { await self.campaignForever() }
            client.close()
            await group.waitForAll()
        }
    }

    /// Campaigns, leads while elected, and campaigns again after losing the lease or the connection.
    func campaignForever() async {
        var failures = 0
        while !Task.isCancelled {
            var granted: Int64 = 0
            let began = ContinuousClock.now
            do {
                let lease = try await client.grantLease(ttl: configuration.leaseTTL).id
                granted = lease
                let (client, interval) = (self.client, Duration.seconds(max(1, configuration.leaseTTL / 3)))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await client.keepAlive(lease: lease, every: interval) { _ in }
                        throw EtcdError(.unavailable, "the keep-alives of the orchestrator's lease ended")
                    }
                    group.addTask { try await self.campaign(lease: lease) }
                    try await group.next()
                    group.cancelAll()
                }
            } catch  where !Task.isCancelled {
                if ContinuousClock.now - began > .seconds(30) { failures = 0 }
                failures += 1
                current.withLock {
                    $0.lastError = "\(error)"
                    $0.leader = nil
                }
                logger.warning("orchestrator: campaign ended; campaigning again", metadata: ["error": "\(error)"])
            } catch {}
            let wasLeading = current.withLock { state in
                defer {
                    state.leading = false
                    state.term = 0
                }
                return state.leading
            }
            if wasLeading {
                metrics.leader.record(0)
                logger.warning("orchestrator: no longer leading")
            }
            // Revoking hands the leadership over at once instead of after the lease's TTL (in a task of its own: this
            // one may be cancelled, on SIGTERM).
            if granted != 0 {
                let client = self.client
                await Task { try? await client.revokeLease(granted) }.value
            }
            if Task.isCancelled { break }
            try? await Task.sleep(for: .milliseconds(min(3000, 100 * (1 << min(failures, 5)))))
        }
    }

    /// Becomes the leader once the leader key is free, then leads until deposed; returns only by throwing.
    func campaign(lease: Int64) async throws {
        let key = GearKeys.orchestratorLeader
        var announced: String?
        while true {
            try Task.checkCancellation()
            let (won, revision) = try await client.transaction(
                if: [.modRevision(key, equals: 0)], then: [.put(key, Data(configuration.identity.utf8), lease: lease)])
            if won {
                current.withLock {
                    $0.leading = true
                    $0.term = revision
                    $0.leader = configuration.identity
                    $0.lastError = nil
                }
                metrics.leader.record(1)
                metrics.terms.increment()
                logger.notice("orchestrator: leading", metadata: ["term": "\(revision)"])
                let term = LeaderTerm(
                    client: client, fence: revision, configuration: configuration, logger: logger, metrics: metrics,
                    report: { count in self.current.withLock { $0.deployments = count } })
                try await term.run()
                throw EtcdError(.other, "the leader's term ended")
            }
            let holder = try await client.get(key).map { String(decoding: $0.value, as: UTF8.self) }
            if let holder, holder != announced {
                announced = holder
                current.withLock {
                    $0.leader = holder
                    $0.lastError = nil
                }
                logger.info("orchestrator: standing by", metadata: ["leader": "\(holder)"])
            }
            // A standby asks twice a second: a new leader acts within the lease's TTL and a second of its expiry.
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}

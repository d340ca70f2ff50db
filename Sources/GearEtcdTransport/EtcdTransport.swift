import Foundation
import GearAPI
public import GearAuthorization
public import GearCore
public import GearEtcd
public import Logging
public import ServiceLifecycle

/// GearEtcdTransport: geard's second transport. It watches the node's desired state in etcd and converges to it
/// through the same core and authorizer as the HTTP API, and writes what the node observes back under the node's
/// own prefix and lease. It sees no systemd and no HTTP types.
///
/// How it is set up.
public struct EtcdTransportConfiguration: Sendable {
    public var etcd: EtcdConfiguration
    /// This node's name in etcd: its keys' part and its etcd user (the common name of its certificate).
    public var node: String
    /// Seconds etcd keeps the node's observed entries after its last keep-alive.
    public var leaseTTL: Int64 = 10
    /// Where other nodes reach this node's published ports, for placement and links (`ObservedNode.addresses`).
    public var addresses: [String] = []

    public init(etcd: EtcdConfiguration, node: String) {
        self.etcd = etcd
        self.node = node
    }
}

/// The etcd transport as a service of geard's service group (after the agent, so that it stops first).
///
/// - A full read of the desired prefix at start, then a watch from the revision after it. A lost connection
///   resumes the watch right after the last revision applied (nothing missed); a watch whose revision etcd
///   compacted away, and a restart of geard, read everything again and compare it with what is installed (nothing
///   applied twice: the comparison submits no job for what already matches).
/// - etcd being away stops nothing: containers keep running, the API keeps serving, `/healthz` reports the `etcd`
///   check as failing, and the transport reconnects with backoff.
public final class EtcdTransport: Service {
    let configuration: EtcdTransportConfiguration
    let agent: NodeAgent
    let client: EtcdClient
    let keys: GearKeys
    let health = EtcdHealth()
    let state: StateKeeper
    let reporter: ObservedReporter
    let convergence: Convergence
    let logger: Logger

    public init(configuration: EtcdTransportConfiguration, agent: NodeAgent, authorizer: Authorizer, logger: Logger) throws(EtcdError) {
        self.configuration = configuration
        self.agent = agent
        self.logger = logger
        keys = try GearKeys(node: configuration.node)
        client = try EtcdClient(configuration.etcd)
        state = StateKeeper(layout: agent.configuration.layout, node: configuration.node, logger: logger)
        reporter = ObservedReporter(
            client: client, agent: agent, keys: keys, state: state, health: health, ttl: configuration.leaseTTL,
            addresses: configuration.addresses, logger: logger)
        convergence = Convergence(agent: agent, keys: keys, authorizer: authorizer, reporter: reporter, state: state, logger: logger)
    }

    public func run() async throws {
        let endpoints = configuration.etcd.endpoints.map(\.description).joined(separator: ",")
        agent.healthChecks.register("etcd") { [health] in health.check(endpoints: endpoints) }
        let convergence = self.convergence
        await reporter.follow { await convergence.appliedRevision }
        logger.info("following desired state in etcd", metadata: ["etcd.endpoints": "\(endpoints)", "etcd.prefix": "\(keys.desiredPrefix)"])
        let (client, reporter) = (self.client, self.reporter)
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await withTaskCancellationHandler {
                        try? await client.runConnections()
                    } onCancel: {
                        client.close()
                    }
                }
                group.addTask { await self.followDesiredState() }
                group.addTask { await reporter.run() }
                group.addTask { await self.followEvents() }
                group.addTask { await self.housekeeping() }
                await group.waitForAll()
            }
        }
        state.flush()
    }

    /// Reads, then watches, the node's desired prefix, handing what it finds to the convergence.
    private func followDesiredState() async {
        var from: Int64? = nil
        var failures = 0
        var began = ContinuousClock.now
        while !Task.isCancelled {
            do {
                if from == nil {
                    let (entries, revision) = try await client.range(prefix: keys.desiredPrefix)
                    await convergence.replaceAll(entries, revision: revision)
                    from = revision + 1
                    logger.info(
                        "desired state read", metadata: ["etcd.revision": "\(revision)", "etcd.entries": "\(entries.count)"])
                }
                let (convergence, health) = (self.convergence, self.health)
                began = .now
                try await client.watch(prefix: keys.desiredPrefix, from: from!, created: { health.watch(true) }) { batch in
                    if let last = batch.events.map(\.entry.modRevision).max() {
                        await convergence.apply(batch.events, revision: last)
                    } else {
                        await convergence.progress(batch.revision)
                    }
                }
            } catch  where error.code == .compacted {
                logger.warning("the watch's revision was compacted: reading the whole desired state again", metadata: ["error": "\(error)"])
                from = nil
            } catch {
                if Task.isCancelled { break }
                // A watch that ran for a while starts the backoff afresh.
                if ContinuousClock.now - began > .seconds(10) { failures = 0 }
                failures += 1
                health.watch(false, problem: error.message)
                if failures == 1 || failures % 20 == 0 {
                    logger.warning("cannot watch desired state in etcd; retrying", metadata: ["error": "\(error)"])
                }
                if from != nil { from = await convergence.appliedRevision + 1 }
                try? await Task.sleep(for: Self.backoff(failures))
            }
        }
    }

    /// The pause before the next try after `failures` failures in a row: 0.2 s, doubling, at most 3 s.
    static func backoff(_ failures: Int) -> Duration {
        .milliseconds(min(3000, 100 * (1 << min(failures, 5))))
    }

    /// Follows the agent's events: each container that changes gets its observed entry written again, and a job the
    /// transport did not submit makes the convergence compare that container again.
    private func followEvents() async {
        var subscription = EventSubscription(log: agent.events, since: nil, follow: true) { _ in true }
        let decoder = GearJSON.decoder()
        while let entries = await subscription.next() {
            for entry in entries {
                if entry.type == .gap {
                    for id in agent.installedIDs() { await reporter.touch(id.rawValue) }
                    continue
                }
                guard let container = entry.container else { continue }
                await reporter.touch(container)
                if entry.type == .jobSucceeded || entry.type == .jobFailed,
                    let event = try? decoder.decode(GearEvent.self, from: Data(entry.json)), let job = event.job
                {
                    await convergence.changedElsewhere(container, job: job, kind: event.kind)
                }
            }
        }
    }

    /// Once a second: failed entries whose retry is due, and the applied revision to disk.
    private func housekeeping() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            await convergence.retryDue()
            state.flush()
        }
    }
}

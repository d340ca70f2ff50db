import Foundation
public import GearAPI
public import Logging
public import ServiceLifecycle
import Synchronization
import SystemdJournal

/// The node agent: accepts container operations as jobs, runs them against systemd, and answers status.
///
/// Every mutating operation becomes a `Job`: accepted (validated, ports reserved, persisted) at once, then run in
/// the background. Jobs on one container run in the order they were accepted; jobs on different containers run
/// concurrently, up to `maxRunningJobs`. A request id names its job: submitting it again returns the same job,
/// never a second run.
///
/// State is an explicit set of fields isolated by the actor; everything durable is on disk (`StateLayout`) and
/// rebuilt by `prepare()` after a restart.
public actor NodeAgent {
    /// What an accepted (or replayed) submission answers.
    public struct Submission: Sendable {
        public var job: Job
        /// The ports the install publishes (for `X-PortMapping`); empty for other jobs.
        public var ports: [PortMapping]
        /// True when the request id named a job that already existed.
        public var replayed: Bool
    }

    /// An install accepted but not finished: its definition already holds its ports.
    struct PendingInstall {
        var container: ContainerID
        var sequence: UInt64
        var definition: ContainerDefinition
    }

    public nonisolated let configuration: AgentConfiguration
    let systemd: any SystemdControl
    let renderer: UnitRenderer
    let reloader: ReloadCoalescer
    let metrics = AgentMetrics()
    let logger: Logger
    let portAllocator: PortAllocator

    var definitions: [ContainerID: ContainerDefinition] = [:] {
        didSet { publishDefinitions() }
    }
    /// The jobs: every mutating operation is one.
    let queue: JobQueue
    /// Installs accepted and not finished, by job id: what the next install's checks (ports) and readers see.
    var pendingInstalls: [String: PendingInstall] = [:] {
        didSet { publishDefinitions() }
    }
    /// What readers see without entering the actor (see `DefinitionIndex`).
    nonisolated let index = DefinitionIndex()
    /// Statuses with their JSON, kept while their container does not change.
    nonisolated let snapshots = StatusSnapshotCache()
    /// The last list made, reused while its generations hold.
    nonisolated let lastList = Mutex<ContainerListSnapshot?>(nil)
    /// Run jobs being canceled, and when runs ended (for their log follows).
    nonisolated let runs = RunRegistry()
    /// Wakes log followers when the journal changes; stopped at shutdown, which ends every follow.
    nonisolated let journalWatcher = JournalWatcher()
    /// The listeners of containers' network links (geard's links).
    nonisolated let linkProxy: LinkProxy
    /// The event history (`GET /events`); closed at shutdown, which ends every follow.
    public nonisolated let events: EventLog
    /// Named leases (`PUT /lease/{name}`): gear deploy's guard against two deploys of one deployment at once.
    public nonisolated let leases = LeaseTable()
    /// Checks that transports add to `health()`.
    public nonisolated let healthChecks = HealthChecks()
    /// Containers' health as their checks last found it.
    nonisolated let healthBoard = HealthBoard()
    /// The last state event of each container in the history loaded at start, until the unit follower took it.
    var knownUnitStates: [String: GearEvent] = [:]
    /// Named environments, and the version of this view that their files are written from.
    var sharedEnvironments: [EnvironmentID: StoredEnvironment] = [:]
    var environmentVersion: UInt64 = 0
    let environmentFiles: SharedEnvironmentFiles
    /// Acceptance order of pending installs (the latest of one container is the one readers see).
    var installSequence: UInt64 = 0

    public init(configuration: AgentConfiguration, systemd: any SystemdControl, logger: Logger) {
        self.configuration = configuration
        self.systemd = systemd
        self.logger = logger
        self.renderer = UnitRenderer(
            layout: configuration.layout, podmanPath: configuration.podmanPath, networkNamespace: configuration.networkNamespace)
        self.reloader = ReloadCoalescer(coalesce: configuration.coalesceReloads) { try await systemd.reload() }
        self.portAllocator = PortAllocator(range: configuration.portRange, hostPortIsFree: configuration.hostPortIsFree)
        self.events = EventLog(capacity: configuration.eventHistory)
        self.environmentFiles = SharedEnvironmentFiles(layout: configuration.layout)
        self.linkProxy = LinkProxy(logger: logger)
        self.queue = JobQueue(
            limits: JobQueue.Limits(configuration), store: JobStore(layout: configuration.layout), events: events, metrics: metrics,
            logger: logger)
        queue.launch = { [weak self] id in
            Task { await self?.execute(id) }
        }
    }

    var layout: StateLayout { configuration.layout }

    private func publishDefinitions() {
        var effective = definitions
        for pending in pendingInstalls.values.sorted(by: { $0.sequence < $1.sequence }) {
            effective[pending.container] = pending.definition
        }
        index.replace(effective)
    }

    // MARK: submitting

    /// Registers a job (or finds the one its request id names), persists it, and queues it. `accept` checks the
    /// operation against the current state and says what the job will do; it runs only for a new job, and nothing
    /// else runs on the agent between it and the job's registration.
    func submit(
        _ kind: JobKind, _ container: ContainerID, fingerprint: String, requestID: RequestID?,
        accept: () throws -> JobWork
    ) async throws(GearError) -> Submission {
        let id: String
        switch try queue.admit(requestID: requestID, fingerprint: fingerprint) {
        case .replay(let existing):
            let ports = pendingInstalls[existing.job.id]?.definition.ports ?? existing.job.result?.container?.ports ?? []
            return Submission(job: existing.job, ports: kind == .install ? ports : [], replayed: true)
        case .new(let new):
            id = new
        }
        let work: JobWork
        do {
            work = try accept()
        } catch {
            throw Self.gearError(error)
        }
        var ports: [PortMapping] = []
        if case .install(let definition, _) = work {
            installSequence += 1
            pendingInstalls[id] = PendingInstall(container: container, sequence: installSequence, definition: definition)
            ports = definition.ports
        }
        do {
            let job = try await queue.enqueue(id: id, kind: kind, container: container, fingerprint: fingerprint, work: work)
            return Submission(job: job, ports: ports, replayed: false)
        } catch {
            pendingInstalls[id] = nil
            throw error
        }
    }

    /// Runs a job the queue started, and reports how it ended.
    private func execute(_ id: String) async {
        guard let (container, work) = queue.work(of: id) else { return }
        let outcome: Result<JobResult, GearError>
        do {
            outcome = .success(try await apply(work, to: container))
        } catch is RunDetached {
            queue.detach(id)
            return
        } catch {
            outcome = .failure(Self.gearError(error))
        }
        await queue.finish(id, outcome)
        pendingInstalls[id] = nil
        await queue.prune()
    }

    // MARK: jobs

    /// A job by id.
    public func job(_ id: String) -> Job? {
        queue.job(id)
    }

    /// Jobs, newest first; only those of `container` when given.
    public func jobs(container: ContainerID? = nil, limit: Int = 100) -> [Job] {
        queue.jobs(container: container, limit: limit)
    }

    /// Waits until the job ends or `timeout` passes, and returns the job as it then is; nil for an unknown id.
    public func wait(_ id: String, timeout: Duration) async -> Job? {
        await queue.wait(id, timeout: timeout)
    }

    /// Counts for health and metrics.
    public var queueCounts: (queued: Int, running: Int, retained: Int) { (queue.queuedCount, queue.runningCount, queue.retainedCount) }

    /// Whether the agent takes jobs (it is not shutting down).
    var isAccepting: Bool { queue.state == .accepting }

    /// How many systemd reloads geard did since it started.
    public func reloadCount() async -> Int { await reloader.reloads }

    /// Drops finished jobs past the retention time or count.
    func pruneJobs() async {
        await queue.prune()
    }

    // MARK: shutdown

    /// Stops accepting jobs, fails the queued ones (they never ran), and waits up to `shutdownGrace` for the
    /// running ones.
    public func shutdown() async {
        journalWatcher.stop()
        for id in await queue.drain() { pendingInstalls[id] = nil }
        await queue.waitUntilIdle(grace: configuration.shutdownGrace)
        await linkProxy.closeAll()
        events.close()
    }

    // MARK: errors

    /// Any error from a job's work as a `GearError`.
    static func gearError(_ error: any Error) -> GearError {
        if let error = error as? GearError { return error }
        return SystemdErrorMapping.gearError(error)
    }
}

extension NodeAgent: Service {
    /// Follows systemd's announcements about containers (events) and prunes old jobs every minute until a
    /// graceful shutdown, then shuts the agent down.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.followUnits() }
                group.addTask { await self.superviseHealth() }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(60))
                        await self.pruneJobs()
                    }
                }
                await group.waitForAll()
            }
        }
        await shutdown()
    }
}

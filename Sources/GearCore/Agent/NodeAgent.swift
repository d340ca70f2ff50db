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

    enum Work: Sendable {
        case install(ContainerDefinition)
        case delete, start, stop, restart
        /// Load (or, with a name, import as a root file system) the image archive at a path.
        case importImage(archive: String, name: String?)
    }

    struct Record {
        var job: Job
        var container: ContainerID
        var fingerprint: String
        var sequence: UInt64
        var work: Work?
    }

    /// An install accepted but not finished: its definition already holds its ports.
    struct PendingInstall {
        var container: ContainerID
        var sequence: UInt64
        var definition: ContainerDefinition
    }

    struct Waiter {
        var continuation: CheckedContinuation<Job, Never>
        var timer: Task<Void, Never>?
    }

    public let configuration: AgentConfiguration
    let systemd: any SystemdControl
    let renderer: UnitRenderer
    let reloader: ReloadCoalescer
    let metrics = AgentMetrics()
    let jobStore: JobStore
    let logger: Logger
    let portAllocator: PortAllocator

    var definitions: [ContainerID: ContainerDefinition] = [:] {
        didSet { publishDefinitions() }
    }
    var records: [String: Record] = [:]
    /// Ids of finished jobs in the order they finished (what pruning drops first).
    var finishedOrder: [String] = []
    var pendingInstalls: [String: PendingInstall] = [:] {
        didSet { publishDefinitions() }
    }
    /// What readers see without entering the actor (see `DefinitionIndex`).
    nonisolated let index = DefinitionIndex()
    /// Statuses with their JSON, kept while their container does not change.
    nonisolated let snapshots = StatusSnapshotCache()
    /// The last list made, reused while its generations hold.
    nonisolated let lastList = Mutex<ContainerListSnapshot?>(nil)
    /// Wakes log followers when the journal changes; stopped at shutdown, which ends every follow.
    nonisolated let journalWatcher = JournalWatcher()
    /// The event history (`GET /events`); closed at shutdown, which ends every follow.
    public nonisolated let events: EventLog
    /// The last state event of each container in the history loaded at start, until the unit follower took it.
    var knownUnitStates: [String: GearEvent] = [:]
    /// Named environments, and the version of this view that their files are written from.
    var sharedEnvironments: [EnvironmentID: StoredEnvironment] = [:]
    var environmentVersion: UInt64 = 0
    let environmentFiles: SharedEnvironmentFiles
    var lanes: [ContainerID: [String]] = [:]
    var activeContainers: Set<ContainerID> = []
    var readyContainers: [ContainerID] = []
    var readySet: Set<ContainerID> = []
    var runningCount = 0
    var queuedCount = 0
    var sequence: UInt64 = 0
    var waiters: [String: [UInt64: Waiter]] = [:]
    var nextWaiterToken: UInt64 = 0
    var idleWaiters: [CheckedContinuation<Void, Never>] = []
    var accepting = true

    public init(configuration: AgentConfiguration, systemd: any SystemdControl, logger: Logger) {
        self.configuration = configuration
        self.systemd = systemd
        self.logger = logger
        self.renderer = UnitRenderer(layout: configuration.layout, podmanPath: configuration.podmanPath)
        self.reloader = ReloadCoalescer(coalesce: configuration.coalesceReloads) { try await systemd.reload() }
        self.jobStore = JobStore(layout: configuration.layout)
        self.portAllocator = PortAllocator(range: configuration.portRange, hostPortIsFree: configuration.hostPortIsFree)
        self.events = EventLog(capacity: configuration.eventHistory)
        self.environmentFiles = SharedEnvironmentFiles(layout: configuration.layout)
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

    /// Registers a job (or finds the one its request id names), persists it, and queues it.
    func submit(
        _ kind: JobKind, _ container: ContainerID, fingerprint: String, requestID: RequestID?,
        accept: () throws -> Work
    ) async throws(GearError) -> Submission {
        let id = requestID?.rawValue ?? RequestID.random().rawValue
        if let existing = records[id] {
            guard existing.fingerprint == fingerprint else {
                throw GearError(
                    .requestIDConflict, "request id \(id) already names a different request (\(existing.job.kind) of \(existing.job.container))")
            }
            let ports = pendingInstalls[id]?.definition.ports ?? existing.job.result?.container?.ports ?? []
            return Submission(job: existing.job, ports: kind == .install ? ports : [], replayed: true)
        }
        guard accepting else { throw GearError(.shuttingDown, "geard is shutting down and accepts no new jobs") }
        guard queuedCount < configuration.maxQueuedJobs else {
            throw GearError(.queueFull, "the job queue is full (\(configuration.maxQueuedJobs) jobs waiting); retry later")
        }
        let work: Work
        do {
            work = try accept()
        } catch {
            throw Self.gearError(error)
        }
        sequence += 1
        let job = Job(id: id, kind: kind, container: container == .imageLane ? "" : container.rawValue, state: .queued, createdAt: Date())
        records[id] = Record(job: job, container: container, fingerprint: fingerprint, sequence: sequence, work: work)
        var ports: [PortMapping] = []
        if case .install(let definition) = work {
            pendingInstalls[id] = PendingInstall(container: container, sequence: sequence, definition: definition)
            ports = definition.ports
        }
        queuedCount += 1
        lanes[container, default: []].append(id)
        do {
            try await jobStore.save(StoredJob(job: job, fingerprint: fingerprint))
        } catch {
            if let index = lanes[container]?.firstIndex(of: id) {
                lanes[container]?.remove(at: index)
                if lanes[container]?.isEmpty == true { lanes[container] = nil }
                records[id] = nil
                pendingInstalls[id] = nil
                queuedCount -= 1
                throw Self.gearError(error)
            }
        }
        recordJob(.jobQueued, job)
        markReady(container)
        schedule()
        metrics.update(queued: queuedCount, running: runningCount)
        return Submission(job: records[id]?.job ?? job, ports: ports, replayed: false)
    }

    private func markReady(_ container: ContainerID) {
        guard !activeContainers.contains(container), lanes[container]?.isEmpty == false, !readySet.contains(container) else { return }
        readySet.insert(container)
        readyContainers.append(container)
    }

    private func schedule() {
        while runningCount < configuration.maxRunningJobs, !readyContainers.isEmpty {
            let container = readyContainers.removeFirst()
            readySet.remove(container)
            guard !activeContainers.contains(container), var lane = lanes[container], !lane.isEmpty else { continue }
            let id = lane.removeFirst()
            lanes[container] = lane.isEmpty ? nil : lane
            activeContainers.insert(container)
            runningCount += 1
            queuedCount -= 1
            records[id]?.job.state = .running
            records[id]?.job.startedAt = Date()
            if let job = records[id]?.job { recordJob(.jobRunning, job) }
            Task { await self.execute(id) }
        }
    }

    private func execute(_ id: String) async {
        guard let record = records[id], let work = record.work else { return }
        let outcome: Result<JobResult, GearError>
        do {
            outcome = .success(try await apply(work, to: record.container))
        } catch {
            outcome = .failure(Self.gearError(error))
        }
        await finish(id, outcome)
    }

    private func finish(_ id: String, _ outcome: Result<JobResult, GearError>) async {
        guard var record = records[id] else { return }
        record.job.finishedAt = Date()
        switch outcome {
        case .success(let result):
            record.job.state = .succeeded
            record.job.result = result
        case .failure(let error):
            record.job.state = .failed
            record.job.error = JobError(error: error.code.rawValue, message: error.message)
            logger.warning(
                "job failed",
                metadata: ["job.id": "\(id)", "job.kind": "\(record.job.kind)", "container.id": "\(record.container)", "error": "\(error)"])
        }
        record.work = nil
        do {
            try await jobStore.save(StoredJob(job: record.job, fingerprint: record.fingerprint))
        } catch {
            logger.error("cannot persist a finished job", metadata: ["job.id": "\(id)", "error": "\(error)"])
        }
        pendingInstalls[id] = nil
        records[id] = record
        finishedOrder.append(id)
        recordJob(record.job.state == .succeeded ? .jobSucceeded : .jobFailed, record.job)
        runningCount -= 1
        activeContainers.remove(record.container)
        markReady(record.container)
        schedule()
        metrics.update(queued: queuedCount, running: runningCount)
        metrics.finished(record.job)
        for (_, waiter) in waiters.removeValue(forKey: id) ?? [:] {
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: record.job)
        }
        if runningCount == 0 {
            for waiter in idleWaiters { waiter.resume() }
            idleWaiters.removeAll()
        }
        await pruneJobs()
    }

    // MARK: jobs

    /// A job by id.
    public func job(_ id: String) -> Job? {
        records[id.lowercased()]?.job
    }

    /// Jobs, newest first; only those of `container` when given.
    public func jobs(container: ContainerID? = nil, limit: Int = 100) -> [Job] {
        records.values
            .filter { container == nil || $0.container == container }
            .sorted { $0.sequence > $1.sequence }
            .prefix(limit)
            .map(\.job)
    }

    /// Waits until the job ends or `timeout` passes, and returns the job as it then is; nil for an unknown id.
    public func wait(_ id: String, timeout: Duration) async -> Job? {
        let id = id.lowercased()
        guard let record = records[id] else { return nil }
        if record.job.state.isFinished || timeout <= .zero { return record.job }
        nextWaiterToken += 1
        let token = nextWaiterToken
        return await withCheckedContinuation { continuation in
            let timer = Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { self.expireWaiter(id, token) }
            }
            waiters[id, default: [:]][token] = Waiter(continuation: continuation, timer: timer)
        }
    }

    private func expireWaiter(_ id: String, _ token: UInt64) {
        guard let waiter = waiters[id]?.removeValue(forKey: token), let job = records[id]?.job else { return }
        if waiters[id]?.isEmpty == true { waiters[id] = nil }
        waiter.continuation.resume(returning: job)
    }

    /// Counts for health and metrics.
    public var queueCounts: (queued: Int, running: Int, retained: Int) { (queuedCount, runningCount, records.count) }

    /// How many systemd reloads geard did since it started.
    public func reloadCount() async -> Int { await reloader.reloads }

    /// Drops finished jobs past the retention time or count, oldest first: a walk from the front of
    /// `finishedOrder` that stops at the first job to keep (it runs after every job).
    func pruneJobs() async {
        let cutoff = Date().addingTimeInterval(-Double(configuration.jobRetention.components.seconds))
        var drop: [String] = []
        var kept = finishedOrder.count
        for id in finishedOrder {
            guard let record = records[id] else {
                drop.append(id)
                kept -= 1
                continue
            }
            guard kept > configuration.maxRetainedJobs || (record.job.finishedAt ?? record.job.createdAt) < cutoff else { break }
            drop.append(id)
            kept -= 1
        }
        guard !drop.isEmpty else { return }
        finishedOrder.removeFirst(drop.count)
        for id in drop { records[id] = nil }
        await jobStore.remove(drop)
    }

    // MARK: shutdown

    /// Stops accepting jobs, fails the queued ones (they never ran), and waits up to `shutdownGrace` for the
    /// running ones.
    public func shutdown() async {
        accepting = false
        journalWatcher.stop()
        for (container, ids) in lanes {
            for id in ids {
                guard var record = records[id] else { continue }
                record.job.state = .failed
                record.job.finishedAt = Date()
                record.job.error = JobError(error: GearError.Code.interrupted.rawValue, message: "geard stopped before the job ran; submit it again")
                record.work = nil
                pendingInstalls[id] = nil
                records[id] = record
                finishedOrder.append(id)
                try? await jobStore.save(StoredJob(job: record.job, fingerprint: record.fingerprint))
                recordJob(.jobFailed, record.job)
                for (_, waiter) in waiters.removeValue(forKey: id) ?? [:] {
                    waiter.timer?.cancel()
                    waiter.continuation.resume(returning: record.job)
                }
            }
            lanes[container] = nil
        }
        queuedCount = 0
        readyContainers.removeAll()
        readySet.removeAll()
        defer { events.close() }
        guard runningCount > 0 else { return }
        logger.info("waiting for running jobs", metadata: ["jobs.running": "\(runningCount)"])
        let grace = configuration.shutdownGrace
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitUntilIdle() }
            group.addTask { try? await Task.sleep(for: grace) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitUntilIdle() async {
        if runningCount == 0 { return }
        await withCheckedContinuation { idleWaiters.append($0) }
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

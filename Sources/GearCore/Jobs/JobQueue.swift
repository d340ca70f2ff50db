import Foundation
import GearAPI
import Logging
import Synchronization

/// What a job does. A new kind of job adds a case here (and its name to `JobKind`) and its work to the one switch
/// that runs jobs, `NodeAgent.apply`.
enum JobWork: Sendable {
    /// Install or replace. With `replaceRunning` (gear's install) a running container whose unit changed restarts
    /// and one that should not run stops; without it (geard's) a running container keeps running and takes the new
    /// definition at its next start.
    case install(ContainerDefinition, replaceRunning: Bool)
    case delete, start, stop, restart
    /// Set a container's network links (geard's links), in its definition and, while it runs, in its namespace.
    case link([LinkSpec])
    /// Load (or, with a name, import as a root file system) the image archive at a path.
    case importImage(archive: String, name: String?)
    /// Run a program or image once, as the transient unit of the job (`POST /jobs`); each in a lane of its own.
    case run(RunSpec)
}

/// The agent's jobs: submission, per-container order, concurrency bounds, request-id replay, persistence,
/// waiting, retention and shutdown.
///
/// Jobs on one container (a lane) run in the order they were accepted; lanes run concurrently, up to
/// `Limits.maxRunning`; at most `Limits.maxQueued` wait. A request id names its job: submitting it again finds the
/// same job, never a second run. Every job is written to disk (`JobStore`) before it is answered and again when it
/// ends. The queue runs nothing itself: it hands each job that may start to `launch`, and is told the outcome with
/// `finish`.
///
/// The queue belongs to the actor that created it (the `NodeAgent`): its methods run on that actor's executor
/// (the `isolation` parameters), so its state needs no lock of its own and a check-then-submit in the actor is
/// atomic.
final class JobQueue {
    /// Whether the queue takes jobs.
    enum State: Sendable, Equatable {
        /// Takes new jobs.
        case accepting
        /// Shutting down: the queued jobs were failed, the running ones may finish, nothing new is taken.
        case draining
    }

    struct Limits: Sendable {
        /// Lifecycle jobs (all but runs) running at once.
        var maxRunning: Int
        /// Run jobs running at once: apart, so that long runs never hold up lifecycle jobs.
        var maxRunningRuns: Int
        var maxQueued: Int
        /// Finished jobs are kept this long, and at most `maxRetained` of them.
        var retention: Duration
        var maxRetained: Int

        init(_ configuration: AgentConfiguration) {
            maxRunning = configuration.maxRunningJobs
            maxRunningRuns = configuration.maxRunningRuns
            maxQueued = configuration.maxQueuedJobs
            retention = configuration.jobRetention
            maxRetained = configuration.maxRetainedJobs
        }
    }

    struct Record {
        var job: Job
        /// The lane: a container, or `ContainerID.imageLane` for image imports.
        var container: ContainerID
        /// Of the request that made the job: a retry with its id must be the same request.
        var fingerprint: String
        /// Acceptance order.
        var sequence: UInt64
        /// What is left to do; nil once the job finished (or was loaded from disk).
        var work: JobWork?
    }

    /// What a request id names before a job is made.
    enum Admission {
        /// No job yet: the id the new job takes.
        case new(id: String)
        /// The id names this job already (the same request): answer it again.
        case replay(Record)
    }

    private struct Waiter {
        var continuation: CheckedContinuation<Job, Never>
        var timer: Task<Void, Never>?
    }

    private struct IdleWaiter {
        var continuation: CheckedContinuation<Void, Never>
        var timer: Task<Void, Never>
    }

    let limits: Limits
    private let store: JobStore
    private let events: EventLog
    private let metrics: AgentMetrics
    private let logger: Logger
    /// Starts a job that may run now (the agent runs its work, then calls `finish`); set once by the owner.
    var launch: @Sendable (String) -> Void = { _ in }

    private(set) var state = State.accepting
    private var records: [String: Record] = [:]
    /// Ids of finished jobs in the order they finished (what pruning drops first).
    private var finishedOrder: [String] = []
    /// Each container's queued job ids, in order.
    private var lanes: [ContainerID: [String]] = [:]
    /// Lanes with a job running.
    private var activeContainers: Set<ContainerID> = []
    /// Lanes with a job queued and none running, in the order they became ready.
    private var readyContainers: [ContainerID] = []
    private var readySet: Set<ContainerID> = []
    private(set) var runningCount = 0
    /// Of `runningCount`, the run jobs.
    private(set) var runningRuns = 0
    private(set) var queuedCount = 0
    private var sequence: UInt64 = 0
    private var waiters: [String: [UInt64: Waiter]] = [:]
    private var nextWaiterToken: UInt64 = 0
    private var idleWaiters: [UInt64: IdleWaiter] = [:]

    init(limits: Limits, store: JobStore, events: EventLog, metrics: AgentMetrics, logger: Logger) {
        self.limits = limits
        self.store = store
        self.events = events
        self.metrics = metrics
        self.logger = logger
    }

    // MARK: submitting

    /// Looks the request id up: a replay of the same request, or the id of a new job. Throws when the id names a
    /// different request, when shutting down, or when the queue is full; nothing changes either way.
    func admit(requestID: RequestID?, fingerprint: String) throws(GearError) -> Admission {
        let id = requestID?.rawValue ?? RequestID.random().rawValue
        if let existing = records[id] {
            guard existing.fingerprint == fingerprint else {
                throw GearError(
                    .requestIDConflict, "request id \(id) already names a different request (\(existing.job.kind) of \(existing.job.container))")
            }
            return .replay(existing)
        }
        guard state == .accepting else { throw GearError(.shuttingDown, "geard is shutting down and accepts no new jobs") }
        guard queuedCount < limits.maxQueued else {
            throw GearError(.queueFull, "the job queue is full (\(limits.maxQueued) jobs waiting); retry later")
        }
        return .new(id: id)
    }

    /// Queues a new job under the id `admit` gave and persists it; the job is known (a retry finds it) from the
    /// moment this is called. When it cannot be written, it is forgotten again and the error thrown.
    func enqueue(
        id: String, kind: JobKind, container: ContainerID, fingerprint: String, work: JobWork,
        isolation: isolated (any Actor) = #isolation
    ) async throws(GearError) -> Job {
        sequence += 1
        let job = Job(
            id: id, kind: kind, container: container.isInternalLane ? "" : container.rawValue, state: .queued, createdAt: Date(),
            unit: kind == .run ? RunSpec.unitName(id) : nil)
        records[id] = Record(job: job, container: container, fingerprint: fingerprint, sequence: sequence, work: work)
        queuedCount += 1
        lanes[container, default: []].append(id)
        do {
            try await store.save(StoredJob(job: job, fingerprint: fingerprint, run: Self.runSpec(work)))
        } catch {
            if let index = lanes[container]?.firstIndex(of: id) {
                lanes[container]?.remove(at: index)
                if lanes[container]?.isEmpty == true { lanes[container] = nil }
            }
            records[id] = nil
            queuedCount -= 1
            throw (error as? GearError) ?? GearError(.internal, "cannot persist the job: \(error)")
        }
        record(.jobQueued, job)
        markReady(container)
        schedule()
        metrics.update(queued: queuedCount, running: runningCount)
        return records[id]?.job ?? job
    }

    // MARK: running

    /// The work of a job that `launch` was given.
    func work(of id: String) -> (container: ContainerID, work: JobWork)? {
        guard let record = records[id], let work = record.work else { return nil }
        return (record.container, work)
    }

    /// Records how a running job ended, persists it, wakes its waiters and starts what may run next.
    func finish(_ id: String, _ outcome: Result<JobResult, GearError>, isolation: isolated (any Actor) = #isolation) async {
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
            try await store.save(StoredJob(job: record.job, fingerprint: record.fingerprint))
        } catch {
            logger.error("cannot persist a finished job", metadata: ["job.id": "\(id)", "error": "\(error)"])
        }
        records[id] = record
        finishedOrder.append(id)
        self.record(record.job.state == .succeeded ? .jobSucceeded : .jobFailed, record.job)
        runningCount -= 1
        if record.container.isRunLane { runningRuns -= 1 }
        activeContainers.remove(record.container)
        markReady(record.container)
        schedule()
        metrics.update(queued: queuedCount, running: runningCount)
        metrics.finished(record.job)
        wake(id, record.job)
        if runningCount == 0 {
            for waiter in idleWaiters.values {
                waiter.timer.cancel()
                waiter.continuation.resume()
            }
            idleWaiters.removeAll()
        }
    }

    private func markReady(_ container: ContainerID) {
        guard !activeContainers.contains(container), lanes[container]?.isEmpty == false, !readySet.contains(container) else { return }
        readySet.insert(container)
        readyContainers.append(container)
    }

    private func schedule() {
        var index = 0
        while index < readyContainers.count {
            let container = readyContainers[index]
            let isRun = container.isRunLane
            guard isRun ? runningRuns < limits.maxRunningRuns : runningCount - runningRuns < limits.maxRunning else {
                index += 1
                continue
            }
            readyContainers.remove(at: index)
            readySet.remove(container)
            guard !activeContainers.contains(container), var lane = lanes[container], !lane.isEmpty else { continue }
            let id = lane.removeFirst()
            lanes[container] = lane.isEmpty ? nil : lane
            activeContainers.insert(container)
            runningCount += 1
            if isRun { runningRuns += 1 }
            queuedCount -= 1
            records[id]?.job.state = .running
            records[id]?.job.startedAt = Date()
            if let job = records[id]?.job { record(.jobRunning, job) }
            launch(id)
        }
    }

    // MARK: reading and waiting

    /// Whether a job for `container` waits behind the one running for it.
    func hasQueued(_ container: ContainerID) -> Bool {
        lanes[container]?.isEmpty == false
    }

    /// The run spec a job's work carries (kept on disk while the run goes on, to resume it after a restart).
    static func runSpec(_ work: JobWork?) -> RunSpec? {
        if case .run(let spec) = work { return spec }
        return nil
    }

    /// Cancels a job that has not started: it fails with `canceled` and never runs. Answers the job, or nil when
    /// it is not queued (unknown, running or finished).
    func cancelQueued(_ id: String, isolation: isolated (any Actor) = #isolation) async -> Job? {
        guard var record = records[id], record.job.state == .queued, let index = lanes[record.container]?.firstIndex(of: id) else { return nil }
        lanes[record.container]?.remove(at: index)
        if lanes[record.container]?.isEmpty == true { lanes[record.container] = nil }
        queuedCount -= 1
        record.job.state = .failed
        record.job.finishedAt = Date()
        record.job.error = JobError(error: GearError.Code.canceled.rawValue, message: "canceled before it ran")
        if record.job.kind == .run { record.job.exit = JobExit(result: "canceled") }
        record.work = nil
        records[id] = record
        finishedOrder.append(id)
        try? await store.save(StoredJob(job: record.job, fingerprint: record.fingerprint))
        self.record(.jobFailed, record.job)
        metrics.update(queued: queuedCount, running: runningCount)
        wake(id, record.job)
        return record.job
    }

    /// Notes how a run job's program ended (before `finish`).
    func recordExit(_ id: String, _ exit: JobExit) {
        records[id]?.job.exit = exit
    }

    /// Lets go of a running run job at shutdown without finishing it: its unit runs on, its record stays `running`
    /// on disk, and the next start of geard resumes waiting for it (`restore`).
    func detach(_ id: String) {
        guard let record = records[id], record.job.state == .running else { return }
        runningCount -= 1
        if record.container.isRunLane { runningRuns -= 1 }
        activeContainers.remove(record.container)
        records[id]?.work = nil
        metrics.update(queued: queuedCount, running: runningCount)
        if runningCount == 0 {
            for waiter in idleWaiters.values {
                waiter.timer.cancel()
                waiter.continuation.resume()
            }
            idleWaiters.removeAll()
        }
    }

    /// Starts what `restore` queued again (run jobs that were running when geard stopped).
    func startRestored() {
        schedule()
        metrics.update(queued: queuedCount, running: runningCount)
    }

    /// A job by id (ids compare case-insensitively).
    func job(_ id: String) -> Job? {
        records[id.lowercased()]?.job
    }

    /// Jobs, newest first; only those of `container` when given.
    func jobs(container: ContainerID? = nil, limit: Int = 100) -> [Job] {
        records.values
            .filter { container == nil || $0.container == container }
            .sorted { $0.sequence > $1.sequence }
            .prefix(limit)
            .map(\.job)
    }

    /// How many jobs are kept (queued, running and finished).
    var retainedCount: Int { records.count }

    /// Waits until the job ends or `timeout` passes, and returns the job as it then is; nil for an unknown id.
    func wait(_ id: String, timeout: Duration, isolation: isolated (any Actor) = #isolation) async -> Job? {
        let id = id.lowercased()
        guard let record = records[id] else { return nil }
        if record.job.state.isFinished || timeout <= .zero { return record.job }
        if Task.isCancelled { return record.job }
        nextWaiterToken += 1
        let token = nextWaiterToken
        // The waiting task's cancellation (a client gone, geard shutting down) ends the wait early: the timer fires.
        let early = EarlyWake()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let timer = Task {
                    _ = isolation
                    try? await Task.sleep(for: timeout)
                    if !Task.isCancelled || early.requested { self.expireWaiter(id, token) }
                }
                early.arm(timer)
                waiters[id, default: [:]][token] = Waiter(continuation: continuation, timer: timer)
            }
        } onCancel: {
            early.fire()
        }
    }

    private func expireWaiter(_ id: String, _ token: UInt64) {
        guard let waiter = waiters[id]?.removeValue(forKey: token), let job = records[id]?.job else { return }
        if waiters[id]?.isEmpty == true { waiters[id] = nil }
        waiter.continuation.resume(returning: job)
    }

    private func wake(_ id: String, _ job: Job) {
        for (_, waiter) in waiters.removeValue(forKey: id) ?? [:] {
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: job)
        }
    }

    // MARK: retention

    /// Takes the jobs found on disk at start: those that had not finished are marked failed (they were cut off by
    /// the stop) and written back. Answers how many were.
    func restore(_ stored: [StoredJob], isolation: isolated (any Actor) = #isolation) async throws -> Int {
        var interrupted = 0
        for var entry in stored.sorted(by: { $0.job.createdAt < $1.job.createdAt }) {
            if entry.job.kind == .run, !entry.job.state.isFinished, let spec = entry.run {
                // Its unit may still run (or hold how it ended): wait for it again, as the job it is. (On disk a
                // run that was running says `queued`: a job's state is written when it is accepted and when it
                // ends. One that never started starts now: it was accepted.)
                let lane = ContainerID.runLane(entry.job.id)
                sequence += 1
                entry.job.state = .queued
                records[entry.job.id] = Record(job: entry.job, container: lane, fingerprint: entry.fingerprint, sequence: sequence, work: .run(spec))
                lanes[lane] = [entry.job.id]
                queuedCount += 1
                markReady(lane)
                continue
            }
            if !entry.job.state.isFinished {
                let was = entry.job.state == .running ? "running" : "queued"
                entry.job.state = .failed
                entry.job.finishedAt = Date()
                entry.job.error = JobError(
                    error: GearError.Code.interrupted.rawValue,
                    message: "geard stopped while the job was \(was); it may have been partly applied, submit it again")
                try await store.save(entry)
                record(.jobFailed, entry.job)
                interrupted += 1
            }
            let lane: ContainerID? =
                switch entry.job.kind {
                case .imageImport: ContainerID.imageLane
                case .run: ContainerID.runLane(entry.job.id)
                default: try? ContainerID(entry.job.container)
                }
            guard let container = lane else { continue }
            sequence += 1
            records[entry.job.id] = Record(job: entry.job, container: container, fingerprint: entry.fingerprint, sequence: sequence, work: nil)
        }
        finishedOrder = records.values.filter { $0.job.state.isFinished }.sorted {
            ($0.job.finishedAt ?? $0.job.createdAt, $0.sequence) < ($1.job.finishedAt ?? $1.job.createdAt, $1.sequence)
        }
        .map(\.job.id)
        return interrupted
    }

    /// Drops finished jobs past the retention time or count, oldest first: a walk from the front of
    /// `finishedOrder` that stops at the first job to keep.
    func prune(isolation: isolated (any Actor) = #isolation) async {
        let cutoff = Date().addingTimeInterval(-Double(limits.retention.components.seconds))
        var drop: [String] = []
        var kept = finishedOrder.count
        for id in finishedOrder {
            guard let record = records[id] else {
                drop.append(id)
                kept -= 1
                continue
            }
            guard kept > limits.maxRetained || (record.job.finishedAt ?? record.job.createdAt) < cutoff else { break }
            drop.append(id)
            kept -= 1
        }
        guard !drop.isEmpty else { return }
        finishedOrder.removeFirst(drop.count)
        for id in drop { records[id] = nil }
        await store.remove(drop)
    }

    // MARK: shutdown

    /// Stops taking jobs and fails the queued ones (they never ran; their waiters get the failed job). Answers
    /// their ids.
    func drain(isolation: isolated (any Actor) = #isolation) async -> [String] {
        state = .draining
        var failed: [String] = []
        for (container, ids) in lanes {
            for id in ids {
                guard var record = records[id] else { continue }
                record.job.state = .failed
                record.job.finishedAt = Date()
                record.job.error = JobError(error: GearError.Code.interrupted.rawValue, message: "geard stopped before the job ran; submit it again")
                record.work = nil
                records[id] = record
                finishedOrder.append(id)
                failed.append(id)
                try? await store.save(StoredJob(job: record.job, fingerprint: record.fingerprint))
                self.record(.jobFailed, record.job)
                wake(id, record.job)
            }
            lanes[container] = nil
        }
        queuedCount = 0
        readyContainers.removeAll()
        readySet.removeAll()
        metrics.update(queued: queuedCount, running: runningCount)
        return failed
    }

    /// Waits until no job runs, or `grace` passed.
    func waitUntilIdle(grace: Duration, isolation: isolated (any Actor) = #isolation) async {
        guard runningCount > 0 else { return }
        logger.info("waiting for running jobs", metadata: ["jobs.running": "\(runningCount)"])
        nextWaiterToken += 1
        let token = nextWaiterToken
        await withCheckedContinuation { continuation in
            let timer = Task {
                _ = isolation
                try? await Task.sleep(for: grace)
                if !Task.isCancelled, let waiter = self.idleWaiters.removeValue(forKey: token) { waiter.continuation.resume() }
            }
            idleWaiters[token] = IdleWaiter(continuation: continuation, timer: timer)
        }
    }

    // MARK: events

    /// Records a job event in the history.
    private func record(_ type: EventType, _ job: Job) {
        events.append(type, container: job.container) { event in
            event.job = job.id
            event.kind = job.kind.rawValue
            if let error = job.error {
                event.error = error.error
                event.message = error.message
            }
        }
    }
}

/// Lets a waiter's cancellation end its wait: the timer of the wait is cancelled, and told that it was on purpose.
final class EarlyWake: Sendable {
    private let state = Mutex<(requested: Bool, timer: Task<Void, Never>?)>((false, nil))

    var requested: Bool { state.withLock { $0.requested } }

    /// The wait's timer; fired at once if the cancellation came first.
    func arm(_ timer: Task<Void, Never>) {
        let fireNow = state.withLock { state -> Bool in
            state.timer = timer
            return state.requested
        }
        if fireNow { timer.cancel() }
    }

    func fire() {
        let timer = state.withLock { state -> Task<Void, Never>? in
            state.requested = true
            return state.timer
        }
        timer?.cancel()
    }
}

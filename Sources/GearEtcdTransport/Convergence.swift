import Foundation
import GearAPI
import GearAuthorization
import GearCore
import GearEtcd
import Logging

/// Brings the node to its desired state in etcd, through the same core and authorizer as every transport, and
/// keeps it there. Level-triggered: each step compares one container's (or environment's) desired entry with what
/// is installed and submits the one job that closes the difference, if any. Applying an entry twice (after a
/// reconnect or a restart) therefore submits nothing the second time.
///
/// - An installed container carries the node's labels (`EtcdLabel`): its owner and the digest of its entry. A
///   container whose digest differs is replaced; one whose desired entry went is deleted, if etcd owns it.
/// - The rule for changes made some other way (the HTTP API, `gear`): etcd's desired state wins. When a job that
///   the transport did not submit changes a container that has a desired entry (or that etcd owns), the container
///   is compared again and put back; its observed entry says what was reverted. Containers without a desired
///   entry that etcd does not own are left alone.
/// - A failure is handled by its code (`GearError.Code.handling`, one exhaustive switch): what may pass (a failed
///   unit, a full queue, systemd away) is retried with a growing delay (5 s to 5 min) while the entry stays the
///   same; what the same entry would meet again (a bad value, a port a host process listens on) is reported with
///   its code and not retried until the entry changes.
actor Convergence {
    let agent: NodeAgent
    let keys: GearKeys
    let authorizer: Authorizer
    let reporter: ObservedReporter
    let state: StateKeeper
    let logger: Logger

    /// The desired entries, by container id (valid ones) and by key (refused ones).
    private var containers: [String: DesiredContainer] = [:]
    private var environments: [String: DesiredEnvironment] = [:]
    private var refused: [String: ObservedError] = [:]
    /// Refused entries of containers with valid ids, by id: reported in the container's own observed entry, while
    /// what was installed before keeps running.
    private var refusedContainers: [String: ObservedError] = [:]
    /// Containers with a job of ours queued or running, and what it was.
    private var inFlight: [String: Action] = [:]
    /// Containers to compare again when their job in flight ends.
    private var recheck: Set<String> = []
    /// The jobs the transport submitted, so that the others are known as changes made some other way.
    private var ours: Set<String> = []
    private var oursOrder: [String] = []
    private var attempts: [String: Attempt] = [:]
    private(set) var appliedRevision: Int64 = 0

    enum Action: String, Sendable { case install, start, stop, delete }

    /// The last action taken for a container, and how it went.
    struct Attempt {
        var revision: Int64
        var action: Action
        var job: ObservedJob?
        var failures = 0
        var retryAt: ContinuousClock.Instant?
        var error: String?
        /// The error's code, for whoever reads the observed entry.
        var errorCode: GearError.Code?
        var reverted: String?
        /// An error the core refused the entry with: not retried until the entry changes.
        var permanent = false
    }

    init(agent: NodeAgent, keys: GearKeys, authorizer: Authorizer, reporter: ObservedReporter, state: StateKeeper, logger: Logger) {
        self.agent = agent
        self.keys = keys
        self.authorizer = authorizer
        self.reporter = reporter
        self.state = state
        self.logger = logger
    }

    // MARK: desired state in

    /// A full read of the desired prefix at `revision`: replaces what was known and compares everything.
    func replaceAll(_ entries: [EtcdEntry], revision: Int64) async {
        let before = Set(containers.keys).union(refusedContainers.keys)
        let refusedBefore = Set(refused.keys)
        containers = [:]
        environments = [:]
        refused = [:]
        refusedContainers = [:]
        for entry in entries { read(entry) }
        for key in refusedBefore.subtracting(refused.keys) { await reporter.clearError(keys.observed(answering: key)) }
        for (key, error) in refused { await reporter.setError(keys.observed(answering: key), error) }
        appliedRevision = revision
        state.update { $0.appliedRevision = revision }
        // Environments first (containers are installed with them), deletions of environments last.
        for id in environments.keys.sorted() { await reconcileEnvironment(id) }
        let owned = ownedContainers()
        for id in Set(containers.keys).union(refusedContainers.keys).union(before).union(owned).sorted() { await reconcile(id) }
        for id in state.current.environments where environments[id] == nil { await reconcileEnvironment(id) }
    }

    /// Changes from the watch: each key's new value (or its deletion) is compared at once.
    func apply(_ events: [EtcdWatchEvent], revision: Int64) async {
        var touchedContainers: [String] = []
        var touchedEnvironments: [String] = []
        for event in events {
            let key = event.entry.key
            switch keys.desired(key) {
            case .container(let id):
                containers[id] = nil
                refusedContainers[id] = nil
                touchedContainers.append(id)
            case .environment(let id):
                environments[id] = nil
                touchedEnvironments.append(id)
            case .unknown, nil: break
            }
            if refused.removeValue(forKey: key) != nil { await reporter.clearError(keys.observed(answering: key)) }
            if event.kind == .put {
                read(event.entry)
                if let error = refused[key] { await reporter.setError(keys.observed(answering: key), error) }
            }
        }
        for id in touchedEnvironments where environments[id] != nil { await reconcileEnvironment(id) }
        for id in touchedContainers { await reconcile(id) }
        for id in touchedEnvironments where environments[id] == nil { await reconcileEnvironment(id) }
        if revision > appliedRevision {
            appliedRevision = revision
            state.update { $0.appliedRevision = revision }
        }
    }

    /// A watch progress report: nothing changed up to `revision`.
    func progress(_ revision: Int64) {
        guard revision > appliedRevision else { return }
        appliedRevision = revision
        state.update { $0.appliedRevision = revision }
    }

    private func read(_ entry: EtcdEntry) {
        let key = entry.key
        switch keys.desired(key) {
        case .container(let id):
            switch DesiredEntry.container(id, entry, node: keys.node) {
            case .success(let container): containers[id] = container
            case .failure(let error): refuse(entry, error.message)
            }
        case .environment(let id):
            switch DesiredEntry.environment(id, entry) {
            case .success(let environment): environments[id] = environment
            case .failure(let error): refuse(entry, error.message)
            }
        case .unknown(let rest):
            refuse(entry, "'\(rest.prefix(120))' is neither containers/{id} nor environments/{id}")
        case nil:
            break
        }
    }

    private func refuse(_ entry: EtcdEntry, _ message: String) {
        let error = ObservedError(key: entry.key, desiredRevision: entry.modRevision, error: message)
        logger.warning(
            "desired entry refused", metadata: ["etcd.key": "\(entry.key)", "etcd.revision": "\(entry.modRevision)", "error": "\(message)"])
        if case .container(let id) = keys.desired(entry.key), (try? ContainerID(id)) != nil {
            refusedContainers[id] = error
            return
        }
        refused[entry.key] = error
    }

    // MARK: containers

    /// The ids of installed containers etcd owns.
    private func ownedContainers() -> [String] {
        agent.installedIDs().map(\.rawValue).filter { owner(of: $0) }
    }

    private func owner(of id: String) -> Bool {
        guard let container = try? ContainerID(id), let definition = agent.definition(container) else { return false }
        return definition.spec.labels?[EtcdLabel.node] == keys.node
    }

    /// What must happen to bring one container to its desired entry, or nil.
    private func needed(_ id: String) -> Action? {
        let definition = (try? ContainerID(id)).flatMap { agent.definition($0) }
        let labels = definition?.spec.labels
        guard let want = containers[id] else {
            if refusedContainers[id] != nil { return nil }
            return definition != nil && labels?[EtcdLabel.node] == keys.node ? .delete : nil
        }
        guard let definition, labels?[EtcdLabel.node] == keys.node, SpecDigest.matches(labels?[EtcdLabel.spec], want.digest) else { return .install }
        if definition.started != want.started { return want.started ? .start : .stop }
        return nil
    }

    /// Compares one container with its desired entry and submits the job that closes the difference.
    func reconcile(_ id: String, reason: String? = nil) async {
        if inFlight[id] != nil {
            recheck.insert(id)
            return
        }
        let want = containers[id]
        let revision = want?.revision ?? appliedRevision
        guard let action = needed(id) else {
            if want == nil, refusedContainers[id] == nil {
                // Nothing desired and nothing to delete: nothing left to report either.
                attempts[id] = nil
            } else if var attempt = attempts[id], attempt.error != nil, attempt.failures > 0 || attempt.permanent {
                attempt.error = nil
                attempt.errorCode = nil
                attempt.failures = 0
                attempt.permanent = false
                attempts[id] = attempt
            }
            await report(id)
            return
        }
        if let attempt = attempts[id], attempt.revision == revision, attempt.action == action {
            if attempt.permanent { return await report(id) }
            if let retryAt = attempt.retryAt, ContinuousClock.now < retryAt { return await report(id) }
        }
        var attempt =
            attempts[id].map { $0.revision == revision && $0.action == action ? $0 : Attempt(revision: revision, action: action) }
            ?? Attempt(revision: revision, action: action)
        if let reason { attempt.reverted = "\(reason); \(action.rawValue) to put it back" }
        inFlight[id] = action
        let submission: NodeAgent.Submission
        do {
            submission = try await submit(action, id, want)
        } catch {
            inFlight[id] = nil
            let gear = error as? GearError
            attempt.permanent = gear?.code.handling == .report
            attempt.failures += 1
            attempt.error = gear?.message ?? "\(error)"
            attempt.errorCode = gear?.code ?? .internal
            attempt.retryAt = ContinuousClock.now + Self.backoff(attempt.failures)
            attempts[id] = attempt
            // The node entry lists the ports host processes hold: a deploy reads it to choose another port.
            if attempt.errorCode == .portInUse { await reporter.nodeChanged() }
            logger.warning(
                "desired state not applied", metadata: ["container.id": "\(id)", "etcd.action": "\(action.rawValue)", "error": "\(attempt.error!)"])
            await report(id)
            return
        }
        let job = submission.job
        remember(job.id)
        attempt.job = ObservedJob(id: job.id, kind: job.kind.rawValue, state: job.state.rawValue, finishedAt: nil, error: nil)
        attempts[id] = attempt
        logger.info("applying desired state", metadata: ["container.id": "\(id)", "etcd.action": "\(action.rawValue)", "job.id": "\(job.id)"])
        await report(id)
        let agent = self.agent
        Task {
            let finished = await agent.wait(job.id, timeout: .seconds(24 * 3600))
            await self.finished(id, finished)
        }
    }

    private func submit(_ action: Action, _ id: String, _ want: DesiredContainer?) async throws -> NodeAgent.Submission {
        let container = try ContainerID(id)
        let operation: GearAuthorization.Operation =
            switch action {
            case .install: .containerInstall
            case .start: .containerStart
            case .stop: .containerStop
            case .delete: .containerDelete
            }
        let key = keys.desiredContainer(id)
        _ = try await authorizer.authorize(
            AccessRequest(
                caller: .configStore(source: "etcd \(keys.node)"), operation: operation, target: id,
                requestID: "etcd-\(want?.revision ?? appliedRevision)", origin: RequestOrigin(transport: "etcd", request: "\(action.rawValue) \(key)")
            ))
        switch action {
        case .install:
            guard let want else { throw GearError(.internal, "no desired entry for \(id)") }
            if let environment = want.request.environmentID { _ = try await authorizer.authorize(environmentRequest(environment, key)) }
            return try await agent.install(container, want.request, requestID: nil)
        case .start: return try await agent.start(container, requestID: nil)
        case .stop: return try await agent.stop(container, requestID: nil)
        case .delete: return try await agent.delete(container, requestID: nil)
        }
    }

    private func environmentRequest(_ id: String, _ key: String) -> AccessRequest {
        AccessRequest(
            caller: .configStore(source: "etcd \(keys.node)"), operation: .environmentWrite, target: id,
            requestID: "etcd-\(appliedRevision)", origin: RequestOrigin(transport: "etcd", request: "write \(key)"))
    }

    /// A job of ours ended: record how, and compare again (the entry may have changed meanwhile).
    private func finished(_ id: String, _ job: Job?) async {
        inFlight[id] = nil
        recheck.remove(id)
        if var attempt = attempts[id], let job {
            attempt.job = ObservedJob(
                id: job.id, kind: job.kind.rawValue, state: job.state.rawValue, finishedAt: job.finishedAt, error: job.error?.message)
            if job.state == .failed {
                let code = job.error.flatMap { GearError.Code(rawValue: $0.error) } ?? .internal
                attempt.failures += 1
                attempt.error = job.error?.message ?? "the job failed"
                attempt.errorCode = code
                attempt.permanent = code.handling == .report
                attempt.retryAt = ContinuousClock.now + Self.backoff(attempt.failures)
            } else {
                attempt.failures = 0
                attempt.error = nil
                attempt.errorCode = nil
                attempt.permanent = false
                attempt.retryAt = nil
            }
            attempts[id] = attempt
        }
        await reconcile(id)
    }

    /// A job the transport did not submit ended on `id`: if etcd has a say on the container, compare it again.
    func changedElsewhere(_ id: String, job: String, kind: String?) async {
        guard !ours.contains(job) else { return }
        guard containers[id] != nil || owner(of: id) else { return }
        await reconcile(id, reason: "job \(job) (\(kind ?? "?")) changed it outside etcd")
    }

    /// Compares again the containers whose retry is due.
    func retryDue() async {
        let now = ContinuousClock.now
        let due = attempts.filter { _, attempt in !attempt.permanent && attempt.retryAt.map { $0 <= now } ?? false }.map(\.key)
        for id in due.sorted() where inFlight[id] == nil { await reconcile(id) }
    }

    private func remember(_ job: String) {
        ours.insert(job)
        oursOrder.append(job)
        if oursOrder.count > 4096 {
            for old in oursOrder.prefix(1024) { ours.remove(old) }
            oursOrder.removeFirst(1024)
        }
    }

    static func backoff(_ failures: Int) -> Duration {
        .seconds(min(300, 5 << min(max(failures - 1, 0), 6)))
    }

    /// Hands the observed detail of one container to the reporter.
    private func report(_ id: String) async {
        let want = containers[id]
        let refusal = refusedContainers[id]
        let attempt = attempts[id]
        // The error of an attempt at an older revision is not reported against the entry that replaced it.
        let current = attempt.flatMap { want == nil || $0.revision == want?.revision ? $0 : nil }
        let error = current?.error
        let owned = owner(of: id)
        let detail: ContainerDetail? =
            if want == nil, refusal == nil, !owned, attempt == nil {
                nil
            } else {
                ContainerDetail(
                    owned: owned || want != nil || refusal != nil, desiredRevision: refusal?.desiredRevision ?? want?.revision ?? attempt?.revision,
                    converged: refusal == nil && inFlight[id] == nil && needed(id) == nil, job: attempt?.job,
                    error: refusal.map { "refused: \($0.error)" } ?? error,
                    errorCode: refusal != nil ? GearError.Code.invalidRequest.rawValue : error == nil ? nil : current?.errorCode?.rawValue,
                    reverted: attempt?.reverted)
            }
        await reporter.setDetail(id, detail)
    }

    // MARK: environments

    /// Compares one named environment with its desired entry: writes it when it differs, deletes it when its entry
    /// went and the transport made it.
    func reconcileEnvironment(_ id: String) async {
        guard let environmentID = try? EnvironmentID(id) else { return }
        let key = keys.desiredEnvironment(id)
        let observedKey = keys.observed(answering: key)
        if let want = environments[id] {
            let current = try? await agent.environment(environmentID)
            if current?.variables != want.variables {
                do {
                    _ = try await authorizer.authorize(environmentRequest(id, key))
                    _ = try await agent.putEnvironment(environmentID, EnvironmentChange(set: want.variables))
                    logger.info("environment written from etcd", metadata: ["environment.id": "\(id)"])
                } catch {
                    let message = (error as? GearError)?.message ?? "\(error)"
                    await reporter.setError(observedKey, ObservedError(key: key, desiredRevision: want.revision, error: message))
                    return
                }
            }
            if !state.current.environments.contains(id) { state.update { $0.environments = ($0.environments + [id]).sorted() } }
            await reporter.clearError(observedKey)
        } else if state.current.environments.contains(id) {
            do {
                _ = try await authorizer.authorize(environmentRequest(id, key))
                if (try? await agent.environment(environmentID)) != nil { try await agent.deleteEnvironment(environmentID) }
                state.update { $0.environments.removeAll { $0 == id } }
                await reporter.clearError(observedKey)
            } catch {
                // Still used by a container (one the API installed): kept, and tried again with the next change.
                let message = (error as? GearError)?.message ?? "\(error)"
                await reporter.setError(observedKey, ObservedError(key: key, desiredRevision: appliedRevision, error: "not deleted: \(message)"))
            }
        }
    }
}

/// What the convergence knows of one container, for its observed entry.
struct ContainerDetail: Sendable, Hashable {
    var owned: Bool
    var desiredRevision: Int64?
    var converged: Bool
    var job: ObservedJob?
    var error: String?
    /// The `GearError` code of `error`.
    var errorCode: String? = nil
    var reverted: String?
}

import Foundation
import GearAPI
import GearCore
import GearEtcd
import Logging

/// Writes what the node observes under its observed prefix, attached to a lease it keeps alive: one entry per
/// container (`ObservedContainer`), one for the node (`ObservedNode`), and one per refused desired entry
/// (`ObservedError`). When geard is gone for longer than the lease's TTL, etcd deletes them all: that is how an
/// orchestrator learns that a node is down.
///
/// Writes are coalesced: a change marks its entry, and each pass writes the marked entries whose value differs from
/// what was last written, up to 64 per transaction. While etcd cannot be reached the marks stay and nothing is lost;
/// a new lease (the old one expired) rewrites everything.
actor ObservedReporter {
    let client: EtcdClient
    let agent: NodeAgent
    let keys: GearKeys
    let state: StateKeeper
    let health: EtcdHealth
    let logger: Logger
    let ttl: Int64
    let addresses: [String]
    /// How often the node entry is written even when nothing changed (its `reportedAt`).
    let nodeInterval: Duration

    private var lease: Int64 = 0
    private var written: [String: Data] = [:]
    private var dirty: Set<String> = []
    private var details: [String: ContainerDetail] = [:]
    private var errors: [String: ObservedError] = [:]
    private var staleErrors: Set<String> = []
    private var nodeDirty = true
    private var lastNodeWrite: ContinuousClock.Instant?
    private var appliedRevision: @Sendable () async -> Int64 = { 0 }

    static let batch = 64

    init(
        client: EtcdClient, agent: NodeAgent, keys: GearKeys, state: StateKeeper, health: EtcdHealth, ttl: Int64, addresses: [String],
        nodeInterval: Duration = .seconds(30), logger: Logger
    ) {
        self.client = client
        self.agent = agent
        self.keys = keys
        self.state = state
        self.health = health
        self.ttl = ttl
        self.addresses = addresses
        self.nodeInterval = nodeInterval
        self.logger = logger
    }

    func follow(appliedRevision: @escaping @Sendable () async -> Int64) {
        self.appliedRevision = appliedRevision
    }

    // MARK: what changed

    /// A container changed (its state, its definition): its entry is written again.
    func touch(_ id: String) {
        dirty.insert(id)
        nodeDirty = true
    }

    /// What the node entry says changed (the ports host processes hold): it is written again.
    func nodeChanged() {
        nodeDirty = true
    }

    func setDetail(_ id: String, _ detail: ContainerDetail?) {
        guard details[id] != detail else { return }
        details[id] = detail
        dirty.insert(id)
    }

    func setError(_ observedKey: String, _ error: ObservedError) {
        errors[observedKey] = error
        staleErrors.remove(observedKey)
    }

    func clearError(_ observedKey: String) {
        guard errors.removeValue(forKey: observedKey) != nil || written[observedKey] != nil else { return }
        staleErrors.insert(observedKey)
    }

    // MARK: running

    /// Holds a lease and writes changes until cancelled; etcd being away only delays the writes.
    func run() async {
        var failures = 0
        while !Task.isCancelled {
            let began = ContinuousClock.now
            do {
                try await acquireLease()
                let id = lease
                let interval = Duration.seconds(max(1, Double(ttl) / 3))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { [client, health] in try await client.keepAlive(lease: id, every: interval) { _ in health.lease(true) } }
                    group.addTask { try await self.writeLoop() }
                    try await group.next()
                    group.cancelAll()
                }
            } catch let error as EtcdError where error.code == .notFound {
                logger.warning("the node's etcd lease expired: taking a new one and writing everything again", metadata: ["etcd.lease": "\(lease)"])
                health.lease(false, problem: error.message)
                lease = 0
            } catch is CancellationError {
                break
            } catch {
                // Keep-alives that ran for a while start the backoff afresh.
                if ContinuousClock.now - began > .seconds(10) { failures = 0 }
                failures += 1
                health.lease(false, problem: "\(error)")
                if failures == 1 || failures % 20 == 0 {
                    logger.warning("cannot write observed state to etcd; retrying", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: EtcdTransport.backoff(failures))
            }
        }
    }

    /// The lease kept from before (a quick restart), or a new one; after a new one every entry is written again and
    /// entries nobody accounts for are deleted.
    private func acquireLease() async throws(EtcdError) {
        if lease != 0 { return }
        let kept = state.current.lease
        if kept != 0, try await client.leaseTimeToLive(kept) != nil {
            lease = kept
        } else {
            lease = try await client.grantLease(ttl: ttl).id
            state.update { $0.lease = lease }
        }
        written = [:]
        nodeDirty = true
        dirty.formUnion(agent.installedIDs().map(\.rawValue))
        dirty.formUnion(details.keys)
        // Entries of containers and errors that are gone (deleted while geard was down).
        let existing = try await client.range(prefix: keys.observedPrefix, keysOnly: true).values.map(\.key)
        let accounted = Set(dirty.map { keys.observedContainer($0) }).union(errors.keys).union([keys.observedNode])
        for key in existing where !accounted.contains(key) { try await client.delete(key) }
        health.lease(true)
        logger.info("holding etcd lease", metadata: ["etcd.lease": "\(lease)", "etcd.ttl": "\(ttl)"])
    }

    private func writeLoop() async throws {
        while true {
            try await writeChanges()
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// One write of a pass, and what it is for (so that a failed write marks again exactly what it wrote).
    enum Write: Sendable, Hashable {
        case container(id: String)
        case error
        case staleError
        case node
    }

    /// Writes the marked entries whose value changed, and the node's entry when due.
    func writeChanges() async throws(EtcdError) {
        var operations: [(key: String, value: Data?, kind: Write)] = []
        let ids = dirty.sorted()
        dirty = []
        for id in ids {
            let key = keys.observedContainer(id)
            var status: ContainerStatus? = nil
            if let container = try? ContainerID(id) { status = try? await agent.status(container) }
            let detail = details[id]
            guard status != nil || detail != nil else {
                if written[key] != nil { operations.append((key, nil, .container(id: id))) }
                continue
            }
            let observed = ObservedContainer(
                id: id, status: status, owner: detail?.owned == true ? "etcd" : "api", desiredRevision: detail?.desiredRevision,
                converged: detail?.converged ?? true, job: detail?.job, error: detail?.error, errorCode: detail?.errorCode,
                reverted: detail?.reverted)
            let value = (try? GearJSON.encoder().encode(observed)) ?? Data()
            if written[key] != value { operations.append((key, value, .container(id: id))) }
        }
        for (key, error) in errors.sorted(by: { $0.key < $1.key }) {
            let value = (try? GearJSON.encoder().encode(error)) ?? Data()
            if written[key] != value { operations.append((key, value, .error)) }
        }
        for key in staleErrors.sorted() where errors[key] == nil && written[key] != nil { operations.append((key, nil, .staleError)) }
        staleErrors = []
        if nodeDirty || lastNodeWrite.map({ ContinuousClock.now - $0 >= nodeInterval }) ?? true {
            if let info = try? await agent.nodeInfo() {
                let node = ObservedNode(
                    name: keys.node, info: info, addresses: addresses, reportedAt: Date(), appliedRevision: await appliedRevision())
                operations.append((keys.observedNode, (try? GearJSON.encoder().encode(node)) ?? Data(), .node))
                nodeDirty = false
                lastNodeWrite = .now
            }
        }
        // etcd refuses a transaction that names a key twice: one write per key, the first decided (a container's own
        // entry before an error entry that answered the same key and is no more).
        var seen = Set<String>()
        operations = operations.filter { seen.insert($0.key).inserted }
        var start = 0
        while start < operations.count {
            let chunk = operations[start..<min(start + Self.batch, operations.count)]
            do {
                try await client.transaction(
                    then: chunk.map { key, value, _ in value.map { .put(key, $0, lease: lease) } ?? .delete(key) })
            } catch {
                // Marked again, each as what it was, so that the next pass writes them.
                for (key, _, kind) in operations[start...] {
                    switch kind {
                    case .container(let id): dirty.insert(id)
                    case .node: nodeDirty = true
                    case .error: break  // still in `errors`, and not recorded as written
                    case .staleError: if errors[key] == nil { staleErrors.insert(key) }
                    }
                }
                throw error
            }
            for (key, value, _) in chunk { written[key] = value }
            start += Self.batch
        }
    }
}

public import Foundation
public import GearAPI
public import GearClient
import NIOHTTP1

/// A host to deploy to: its name as the user gave it, the address its published ports are reached at, its geard.
public struct DeployHost: Sendable {
    public var name: String
    public var address: String
    public var client: GearClient

    public init(name: String, address: String, client: GearClient) {
        self.name = name
        self.address = address
        self.client = client
    }
}

/// One thing a deploy did (or failed to do) to one instance.
public struct DeployEvent: Sendable, Hashable {
    public var node: String
    public var id: String
    public var action: String
    public var detail: String
    public var failed: Bool
}

/// What a deploy did.
public struct DeployReport: Sendable {
    public var events: [DeployEvent] = []
    /// Jobs the deploy submitted, over all hosts.
    public var jobs = 0
    public var failures: [DeployEvent] { events.filter(\.failed) }
}

/// Carries a plan out: deletes, installs, links, starts, then replaces one instance (or `maxUnavailable`) at a time,
/// each waited for until it is active. A call that fails is reported and the rest goes on where it does not depend
/// on it; running the deploy again completes it, since the plan is made afresh from what the hosts run.
public actor Deployer {
    public struct Options: Sendable {
        /// How many instances a rolling replacement takes down at once.
        public var maxUnavailable = 1
        /// Seconds to wait for each job, and for each started instance to become active.
        public var timeout: Double = 120

        public init(maxUnavailable: Int = 1, timeout: Double = 120) {
            self.maxUnavailable = maxUnavailable
            self.timeout = timeout
        }
    }

    let hosts: [String: DeployHost]
    let options: Options
    let onEvent: @Sendable (DeployEvent) -> Void
    private var report = DeployReport()
    /// Published ports by slot, as the hosts allocated them.
    private var ports: [Slot: [PortMapping]] = [:]
    /// Instances whose host failed them: later steps leave them alone.
    private var broken = Set<Slot>()

    public init(hosts: [DeployHost], options: Options = Options(), onEvent: @escaping @Sendable (DeployEvent) -> Void = { _ in }) {
        self.hosts = Dictionary(uniqueKeysWithValues: hosts.map { ($0.name, $0) })
        self.options = options
        self.onEvent = onEvent
    }

    /// Asks every host, in parallel, what it is and what it runs; a host that does not answer fails the whole
    /// deploy before anything changed.
    public static func gather(_ hosts: [DeployHost]) async throws -> [NodeState] {
        try await withThrowingTaskGroup(of: (Int, NodeState).self) { group in
            for (i, host) in hosts.enumerated() {
                group.addTask {
                    do {
                        async let info = host.client.node()
                        async let list = host.client.list()
                        return (i, NodeState(name: host.name, address: host.address, info: try await info, containers: try await list.containers))
                    } catch {
                        throw DeploymentError(field: "", "host \(host.name) cannot be read, nothing was changed: \(error)")
                    }
                }
            }
            var states = [NodeState?](repeating: nil, count: hosts.count)
            for try await (i, state) in group { states[i] = state }
            return states.map { $0! }
        }
    }

    /// Takes the lease `deploy.{name}` on every host, in the order of their names (so that two deploys cannot each
    /// hold some), and keeps renewing it until `body` returns; then lets it go. A host where another deploy holds it
    /// refuses the deploy before anything changed.
    public static func whileHolding<T: Sendable>(
        _ deployment: String, on hosts: [DeployHost], _ body: @Sendable () async throws -> T
    ) async throws -> T {
        let name = "deploy.\(deployment)"
        let holder = Self.holderName()
        let seconds = 60
        var held: [DeployHost] = []
        func releaseAll() async {
            for host in held { try? await host.client.releaseLease(name, holder: holder) }
        }
        for host in hosts.sorted(by: { $0.name < $1.name }) {
            do {
                _ = try await host.client.acquireLease(name, holder: holder, seconds: seconds)
                held.append(host)
            } catch {
                await releaseAll()
                if case .api(409, let apiError) = error as? GearClientError {
                    throw DeploymentError(
                        field: "", "deployment \(deployment) is being deployed already (on \(host.name): \(apiError.message)); nothing was changed")
                }
                throw DeploymentError(field: "", "host \(host.name) cannot be read, nothing was changed: \(describe(error))")
            }
        }
        let owned = held
        let renewal = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(seconds / 3))
                if Task.isCancelled { break }
                for host in owned { _ = try? await host.client.acquireLease(name, holder: holder, seconds: seconds) }
            }
        }
        defer { renewal.cancel() }
        do {
            let result = try await body()
            renewal.cancel()
            await releaseAll()
            return result
        } catch {
            renewal.cancel()
            await releaseAll()
            throw error
        }
    }

    /// Who deploys: `gear deploy USER@HOST pid PID`.
    static func holderName() -> String {
        let user = ProcessInfo.processInfo.environment["USER"] ?? "root"
        return "gear deploy \(user)@\(ProcessInfo.processInfo.hostName) pid \(ProcessInfo.processInfo.processIdentifier)"
    }

    /// Carries out `plan`.
    public func apply(_ plan: DeploymentPlan) async -> DeployReport {
        for instance in plan.instances where !instance.action.isMove {
            if let current = instance.current { ports[instance.slot] = current.ports }
        }

        // 1. Instances no longer wanted.
        await perHost(plan.removals.map { ($0.node, $0) }) { deployer, removal in
            await deployer.job(removal.node, removal.id, "delete", removal.reason) { try await $0.delete(removal.id, wait: $1) }
        }

        // 2. New instances (and moved ones on their new host), installed stopped.
        let fresh = plan.instances.filter { $0.action == .create || $0.action.isMove }
        await perHost(fresh.map { ($0.node, $0) }) { deployer, instance in
            var body = instance.request
            body.started = false
            let request = body
            if await deployer.job(instance.node, instance.id, "install", "", { try await $0.install(instance.id, request, wait: $1) }) {
                await deployer.readPorts(instance)
            } else {
                await deployer.markBroken(instance.slot)
            }
        }

        // 3. Links, now that every target's ports are known; then the new instances start, link targets first.
        await relink(plan)
        for wave in startWaves(plan, fresh.filter(\.started)) {
            await perHost(wave.map { ($0.node, $0) }) { deployer, instance in
                guard await !deployer.isBroken(instance.slot) else { return }
                if await deployer.job(instance.node, instance.id, "start", "", { try await $0.start(instance.id, wait: $1) }) {
                    await deployer.waitActive(instance)
                }
            }
        }
        for instance in fresh {
            guard case .move(let from) = instance.action, !broken.contains(instance.slot) else { continue }
            _ = await job(from, instance.id, "delete", "moved to \(instance.node)") { try await $0.delete(instance.id, wait: $1) }
        }

        // 4. Rolling replacement of instances whose spec changed, `maxUnavailable` at a time. Each replacement's
        // job ends once the instance is active (and healthy, when it has a health check: its host's start waits
        // for that); a replacement that fails stops the rollout, so that a bad version takes down at most one batch.
        let replaced = plan.instances.filter { $0.action == .replace }
        var start = 0
        while start < replaced.count {
            let chunk = Array(replaced[start..<min(start + max(options.maxUnavailable, 1), replaced.count)])
            start += chunk.count
            let failed = await withTaskGroup(of: Bool.self) { group in
                for instance in chunk {
                    group.addTask {
                        var body = instance.request
                        body.started = instance.started
                        let links = plan.networkLinks(for: instance, ports: await self.knownPorts())
                        body.networkLinks = links.isEmpty ? nil : links
                        let request = body
                        guard await self.job(instance.node, instance.id, "replace", "", { try await $0.install(instance.id, request, wait: $1) })
                        else { return false }
                        await self.readPorts(instance)
                        return instance.started ? await self.waitActive(instance) : true
                    }
                }
                var failed = 0
                for await ok in group where !ok { failed += 1 }
                return failed
            }
            if failed > 0 {
                for instance in replaced[start...] {
                    event(instance.node, instance.id, "replace", "not done: the rollout stopped after a replacement failed", failed: true)
                    broken.insert(instance.slot)
                }
                break
            }
        }
        if !replaced.isEmpty { await relink(plan) }

        // 5. Kept instances whose desired state drifted.
        for instance in plan.instances where instance.action == .keep {
            guard let current = instance.current, current.started != instance.started else { continue }
            if instance.started {
                if await job(instance.node, instance.id, "start", "was stopped", { try await $0.start(instance.id, wait: $1) }) {
                    await waitActive(instance)
                }
            } else {
                _ = await job(instance.node, instance.id, "stop", "", { try await $0.stop(instance.id, wait: $1) })
            }
        }
        return report
    }

    // MARK: steps

    /// Sets the links of every instance whose links differ from what they should be, one request per host.
    private func relink(_ plan: DeploymentPlan) async {
        var byHost: [String: [(PlannedInstance, [NetworkLink])]] = [:]
        for instance in plan.instances where !broken.contains(instance.slot) && !(plan.links.links[instance.slot.container] ?? []).isEmpty {
            let wanted = plan.networkLinks(for: instance, ports: ports)
            let now = instance.action == .keep ? (instance.current?.networkLinks ?? []) : nil
            if let now, Self.same(now, wanted) { continue }
            byHost[instance.node, default: []].append((instance, wanted))
        }
        await withTaskGroup(of: Void.self) { group in
            for (node, items) in byHost.sorted(by: { $0.key < $1.key }) {
                group.addTask {
                    let body = ContainerLinks(links: items.map { ContainerLinks.ContainerLink(id: $0.0.id, networkLinks: $0.1) })
                    let ids = items.map(\.0.id).joined(separator: ",")
                    _ = await self.job(node, ids, "link", "\(items.map(\.1.count).reduce(0, +)) links", count: items.count) {
                        client, wait in
                        let answer = try await client.send(
                            .POST, "/containers/links?wait=\(wait)", body: try GearJSON.encoder().encode(body))
                        guard answer.status == 200 || answer.status == 202 else { throw GearClientError.from(answer) }
                        let jobs = try answer.decode(JobList.self).jobs
                        if let failed = jobs.first(where: { $0.state == .failed }) {
                            throw DeploymentError(field: "", failed.error?.message ?? "a link job failed")
                        }
                        return nil
                    }
                }
            }
        }
    }

    static func same(_ a: [NetworkLink], _ b: [NetworkLink]) -> Bool {
        func key(_ l: NetworkLink) -> String { "\(l.fromHost ?? "127.0.0.1"):\(l.fromPort)>\(l.toHost ?? ""):\(l.toPort ?? 0)" }
        return a.map(key).sorted() == b.map(key).sorted()
    }

    /// Groups of instances to start one after another: an instance starts after the instances it links to, where
    /// links do not go round in a circle.
    func startWaves(_ plan: DeploymentPlan, _ instances: [PlannedInstance]) -> [[PlannedInstance]] {
        var targets: [String: Set<String>] = [:]
        for (source, links) in plan.links.links {
            targets[source] = Set(links.map(\.target.container)).subtracting([source])
        }
        var level: [String: Int] = [:]
        func depth(_ name: String, _ seen: Set<String>) -> Int {
            if let known = level[name] { return known }
            var d = 0
            for target in targets[name] ?? [] where !seen.contains(target) {
                d = max(d, depth(target, seen.union([target])) + 1)
            }
            level[name] = d
            return d
        }
        var waves: [Int: [PlannedInstance]] = [:]
        for instance in instances { waves[depth(instance.slot.container, [instance.slot.container]), default: []].append(instance) }
        return waves.keys.sorted().map { waves[$0]! }
    }

    // MARK: calls

    /// Runs `items` grouped by host: hosts in parallel, one host's items in order.
    private func perHost<T: Sendable>(_ items: [(String, T)], _ body: @escaping @Sendable (Deployer, T) async -> Void) async {
        var byHost: [String: [T]] = [:]
        var order: [String] = []
        for (host, item) in items {
            if byHost[host] == nil { order.append(host) }
            byHost[host, default: []].append(item)
        }
        await withTaskGroup(of: Void.self) { group in
            for host in order {
                let list = byHost[host]!
                group.addTask {
                    for item in list { await body(self, item) }
                }
            }
        }
    }

    /// One job on `node`; reports it and returns whether it succeeded.
    @discardableResult
    func job(
        _ node: String, _ id: String, _ action: String, _ detail: String, count: Int = 1,
        _ call: @Sendable (GearClient, Double) async throws -> GearClient.JobAnswer?
    ) async -> Bool {
        guard let host = hosts[node] else { return false }
        report.jobs += count
        do {
            let started = ContinuousClock.now
            if var answer = try await call(host.client, options.timeout) {
                // Still running when the wait ended (a start that waits for health may take long): wait for its end.
                while !answer.job.state.isFinished {
                    let left = options.timeout - Double((ContinuousClock.now - started).components.seconds)
                    guard left > 0 else {
                        throw DeploymentError(field: "", "job \(answer.job.id) still \(answer.job.state.rawValue) after \(Int(options.timeout)) s")
                    }
                    answer = try await host.client.wait(job: answer.job.id, timeout: min(left, 60))
                }
                if answer.job.state == .failed {
                    throw DeploymentError(field: "", answer.job.error.map { "\($0.error): \($0.message)" } ?? "job \(answer.job.id) failed")
                }
            }
            event(node, id, action, detail, failed: false)
            return true
        } catch {
            event(node, id, action, Self.describe(error), failed: true)
            return false
        }
    }

    private func event(_ node: String, _ id: String, _ action: String, _ detail: String, failed: Bool) {
        let e = DeployEvent(node: node, id: id, action: action, detail: detail, failed: failed)
        report.events.append(e)
        onEvent(e)
    }

    private func readPorts(_ instance: PlannedInstance) async {
        guard let host = hosts[instance.node] else { return }
        do {
            ports[instance.slot] = try await host.client.ports(instance.id)
        } catch {
            event(instance.node, instance.id, "ports", Self.describe(error), failed: true)
            broken.insert(instance.slot)
        }
    }

    /// Waits until the instance is ready (`Readiness`: active, and healthy when it has a health check); reports it
    /// if it failed, turned unhealthy, or is not ready within the timeout.
    @discardableResult
    private func waitActive(_ instance: PlannedInstance) async -> Bool {
        guard let host = hosts[instance.node] else { return false }
        let deadline = ContinuousClock.now + .milliseconds(Int64(options.timeout * 1000))
        var last = "no answer"
        while ContinuousClock.now < deadline {
            if let status = try? await host.client.status(instance.id) {
                switch Readiness.verdict(status, started: true, healthChecked: instance.request.hasHealthCheck) {
                case .ready: return true
                case .pending(let state): last = state
                case .failed(let reason):
                    event(instance.node, instance.id, "start", "not ready: \(reason)", failed: true)
                    return false
                }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        event(instance.node, instance.id, "start", "not ready in time: \(last)", failed: true)
        return false
    }

    private func markBroken(_ slot: Slot) { broken.insert(slot) }
    private func isBroken(_ slot: Slot) -> Bool { broken.contains(slot) }
    private func knownPorts() -> [Slot: [PortMapping]] { ports }

    static func describe(_ error: any Error) -> String {
        if let error = error as? GearClientError { return error.description }
        return "\(error)"
    }
}

extension InstanceAction {
    var isMove: Bool {
        if case .move = self { return true }
        return false
    }
}

import ArgumentParser
import Foundation
import GearAPI
import GearClient
import GearDeploy
import GearEtcd
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

struct Deploy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Materialise a deployment (a topology of containers and links) on one host or many.",
        discussion: """
            FILE is a deployment descriptor (JSON; openshift/geard's format, plus gear's install fields). Without a HOST the \
            local geard is used, so the same file runs on a laptop and on a fleet. What runs is read back from the hosts \
            (instances carry the deployment's labels): a second deploy of the same file changes nothing, a changed \
            container is replaced one instance at a time, a smaller Count or a removed container deletes instances.

            With --etcd the deployment is written to etcd (/gear/v1/deployments/NAME) for gear-orchestrator, which places \
            it over the nodes that report themselves and keeps it true; the command then follows the orchestrator's \
            status of it, printing each instance's node, id and state as it changes, until every instance runs (exit \
            0), an instance fails or the descriptor is invalid (exit 1), or --timeout passes (exit 1; the orchestrator \
            goes on). An instance that fits on no node waits, pending, with each node's reason, and is placed when room \
            appears. Replacements go gear-orchestrator's --max-unavailable at a time, each batch once the one before it \
            runs and is healthy, so a bad version reaches one batch. With no orchestrator leading it says so and writes \
            nothing. --delete NAME removes a deployment from etcd, and the orchestrator its instances. Needs an \
            operator's etcd identity (gear etcd grant --operator).

            Examples:
              gear deploy app.json --dry-run
              gear deploy app.json 10.0.0.1 10.0.0.2 10.0.0.3
              gear deploy app.json --etcd https://10.0.0.9:2379
              gear deploy --delete app --etcd https://10.0.0.9:2379
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var etcdOptions: EtcdOptions
    @Argument(help: "The deployment descriptor.") var file: String?
    @Argument(help: "host[:port] to deploy to; none for the default geard (not with --etcd: the orchestrator places).") var hosts: [String] = []
    @Flag(name: .customLong("dry-run"), help: "Print the plan (create, replace, move, delete, keep per instance and host) and change nothing.")
    var dryRun = false
    @Option(
        name: .customLong("max-unavailable"),
        help: "How many instances a rolling replacement takes down at once (default 1; with --etcd, gear-orchestrator's).")
    var maxUnavailable: Int?
    @Option(name: .customLong("delete"), help: "With --etcd: remove the deployment NAME (its instances go).") var delete: String?
    @Flag(name: .customLong("no-wait"), help: "With --etcd: write the deployment (or its deletion) and return at once.") var noWait = false

    var throughEtcd: Bool { etcdOptions.etcd != nil || ProcessInfo.processInfo.environment["GEAR_ETCD"].map({ !$0.isEmpty }) == true }

    func validate() throws {
        if let maxUnavailable, maxUnavailable < 1 { throw ValidationError("--max-unavailable must be at least 1") }
        if CommandTail.arguments != nil { throw ValidationError("'--' is only for gear install (the container's command)") }
        switch (file, delete) {
        case (nil, nil): throw ValidationError("give the deployment descriptor (or --delete NAME with --etcd)")
        case (.some, .some): throw ValidationError("give a descriptor or --delete NAME, not both")
        default: break
        }
        guard throughEtcd else {
            if delete != nil {
                throw ValidationError("--delete is for deployments in etcd (--etcd); on hosts, deploy the descriptor with every Count 0")
            }
            if noWait { throw ValidationError("--no-wait is for deployments in etcd (--etcd)") }
            return
        }
        if !hosts.isEmpty {
            throw ValidationError(
                "with --etcd gear-orchestrator places over every node that takes instances: keep a deployment to some with Affinity NodeLabels (geard --label), or cordon nodes (gear node cordon)"
            )
        }
        if maxUnavailable != nil { throw ValidationError("with --etcd, gear-orchestrator's --max-unavailable paces replacements") }
        if let delete, let problem = GearKeys.problem(withDeployment: delete) { throw ValidationError("--delete '\(delete)': \(problem)") }
        if delete != nil && dryRun { throw ValidationError("--dry-run shows a descriptor's plan; --delete removes everything of NAME") }
    }

    func run() async throws {
        let output = Output(options: global)
        if let delete { return try await deleteThroughEtcd(delete, output: output) }
        guard let file else { throw ValidationError("give the deployment descriptor") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw ValidationError("cannot read \(file): \(error.localizedDescription)")
        }
        let descriptor: DeploymentDescriptor
        do {
            descriptor = try DeploymentDescriptor.parse(data, fileName: file)
            try descriptor.validate()
        } catch {
            FileHandle.standardError.write(Data("gear: \(file): \(error)\n".utf8))
            throw ExitCode(1)
        }
        if throughEtcd { return try await deployThroughEtcd(descriptor, data: data, output: output) }
        let targets = try deployHosts()
        if dryRun {
            do {
                print(try Planner.plan(descriptor, nodes: try await Deployer.gather(targets)), output: output)
            } catch {
                FileHandle.standardError.write(Data("gear: \(error)\n".utf8))
                throw ExitCode(1)
            }
            return
        }
        let options = Deployer.Options(maxUnavailable: maxUnavailable ?? 1, timeout: global.timeout)
        let outcome: (DeploymentPlan, DeployReport, Duration)
        do {
            outcome = try await Deployer.whileHolding(descriptor.deploymentName, on: targets) {
                let plan = try Planner.plan(descriptor, nodes: try await Deployer.gather(targets))
                let started = ContinuousClock.now
                let deployer = Deployer(hosts: targets, options: options) { event in
                    let line = "\(event.node)\t\(event.id)\t\(event.action)\t\(event.failed ? "FAILED: " : "")\(event.detail)"
                    if event.failed {
                        fflush(nil)
                        FileHandle.standardError.write(Data("gear: \(line)\n".utf8))
                    } else {
                        output.print(line.trimmingCharacters(in: .whitespaces))
                        // Progress as it happens, also into a pipe or a file.
                        fflush(nil)
                    }
                }
                let report = await deployer.apply(plan)
                return (plan, report, ContinuousClock.now - started)
            }
        } catch {
            FileHandle.standardError.write(Data("gear: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let (plan, report, elapsed) = outcome
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let kept = plan.instances.filter { $0.action == .keep }.count
        output.print(
            "deployment \(plan.name): \(plan.instances.count) instances on \(Set(plan.instances.map(\.node)).count) hosts, \(kept) unchanged, \(report.jobs) jobs, generation \(plan.generation), \(String(format: "%.2f", seconds)) s"
        )
        if !report.failures.isEmpty {
            fflush(nil)
            FileHandle.standardError.write(
                Data(
                    "gear: deployment \(plan.name) is partly applied: \(report.failures.count) step(s) failed (above); deploy again to complete it\n"
                        .utf8))
            throw ExitCode(1)
        }
    }

    /// Writes the descriptor to etcd for the leading orchestrator (nothing, with a message, when none leads) and
    /// follows its status of the deployment to the verdict. A dry run plans it here, as the orchestrator would, and
    /// writes nothing.
    private func deployThroughEtcd(_ descriptor: DeploymentDescriptor, data: Data, output: Output) async throws {
        let configuration = try etcdOptions.configuration(global)
        let name = descriptor.deploymentName
        if let problem = GearKeys.problem(withDeployment: name) { throw Self.fail("\(file ?? ""): Name '\(name)': \(problem)") }
        let (dryRun, wait, quiet) = (self.dryRun, !noWait, global.quiet)
        let deadline = ContinuousClock.now + .milliseconds(Int64(global.timeout * 1000))
        let started = ContinuousClock.now
        let outcome: Outcome
        do {
            outcome = try await EtcdClient.with(configuration) { client in
                if dryRun {
                    let fleet = try await EtcdFleet.read(client)
                    let maintenance = try await Self.maintenance(client)
                    return .plan(try EtcdDeploy.plan(descriptor, fleet: fleet, unschedulable: maintenance).plan)
                }
                // What the orchestrator said before, so that what the write changes (instances that go) shows.
                let baseline = try await client.get(GearKeys.deploymentStatus(name)).flatMap {
                    try? GearJSON.decoder().decode(DeploymentStatus.self, from: $0.value)
                }
                let (revision, written) = try await Self.write(name, data, client: client)
                if !quiet {
                    output.print(
                        written ? "deployment \(name): written at revision \(revision)" : "deployment \(name): unchanged (revision \(revision))")
                    fflush(nil)
                }
                guard wait else { return .written }
                var follower = DeploymentFollower(name: name, revision: revision, baseline: baseline)
                let verdict = try await follower.follow(client, until: deadline, line: Self.printer(output), idle: Self.leaderCheck(client))
                return .verdict(verdict)
            }
        } catch let error as EtcdError {
            throw Self.fail("etcd: \(error.message)")
        } catch let error as DeploymentError {
            throw Self.fail("\(error)")
        }
        let seconds = Self.seconds(since: started)
        switch outcome {
        case .plan(let plan):
            print(plan, output: output)
        case .written:
            return
        case .verdict(.running(let status)):
            output.print(
                "deployment \(name): \(status.instances.count) instances on \(Set(status.instances.map(\.node)).count) nodes running"
                    + (status.healthy > 0 ? ", \(status.healthy) healthy" : "") + String(format: ", %.2f s", seconds))
        case .verdict(.invalid(let message)):
            throw Self.fail("deployment \(name) is invalid to gear-orchestrator: \(message); nothing was changed")
        case .verdict(.failed(let node, let id, let reason)):
            throw Self.fail(
                "\(node)\t\(id)\tFAILED: \(reason)\ngear: deployment \(name): the rollout stopped: gear-orchestrator replaces no further "
                    + "instance while this one is not ready, the others keep their previous version; fix the deployment and deploy again")
        case .verdict(.superseded(let revision)):
            throw Self.fail("deployment \(name) was written again (revision \(revision)) while this deploy followed it")
        case .verdict(.deleted):
            throw Self.fail("deployment \(name) was deleted while this deploy followed it")
        case .verdict(nil):
            throw Self.fail(
                "deployment \(name) is not running after \(Int(global.timeout)) s; gear-orchestrator goes on (gear status --etcd, or "
                    + "/gear/v1/status/deployments/\(name))")
        }
    }

    /// Deletes the deployment from etcd (when an orchestrator leads) and waits until the orchestrator has removed
    /// every instance's desired entry and its status.
    private func deleteThroughEtcd(_ name: String, output: Output) async throws {
        let configuration = try etcdOptions.configuration(global)
        let (wait, quiet) = (!noWait, global.quiet)
        let deadline = ContinuousClock.now + .milliseconds(Int64(global.timeout * 1000))
        let started = ContinuousClock.now
        let outcome: Outcome
        do {
            outcome = try await EtcdClient.with(configuration) { client in
                guard let leader = try await client.get(GearKeys.orchestratorLeader) else { throw EtcdError(.unavailable, Self.noLeader) }
                guard let entry = try await client.get(GearKeys.deployment(name)) else { throw EtcdError(.notFound, "no deployment \(name) in etcd") }
                let deleted = try await client.transaction(
                    if: [.modRevision(GearKeys.orchestratorLeader, equals: leader.modRevision), .modRevision(entry.key, equals: entry.modRevision)],
                    then: [.delete(entry.key)])
                guard deleted.succeeded else {
                    throw EtcdError(.other, "the deployment or the orchestrator's leadership changed meanwhile; nothing was deleted, try again")
                }
                if !quiet {
                    output.print("deployment \(name): deleted at revision \(deleted.revision)")
                    fflush(nil)
                }
                guard wait else { return .written }
                var follower = DeploymentFollower(name: name, revision: deleted.revision, deleting: true)
                let verdict = try await follower.follow(client, until: deadline, line: Self.printer(output), idle: Self.leaderCheck(client))
                return .verdict(verdict)
            }
        } catch let error as EtcdError {
            throw Self.fail(error.code == .notFound || error.code == .unavailable ? error.message : "etcd: \(error.message)")
        }
        guard case .verdict(let verdict) = outcome else { return }
        guard verdict == .deleted else {
            throw Self.fail("deployment \(name): instances are still desired after \(Int(global.timeout)) s; gear-orchestrator goes on")
        }
        output.print(String(format: "deployment \(name): every instance removed from the nodes' desired state, %.2f s", Self.seconds(since: started)))
    }

    enum Outcome: Sendable {
        case plan(DeploymentPlan)
        case written
        case verdict(DeploymentFollower.Verdict?)
    }

    static let noLeader = "no orchestrator leads: nothing would place the deployment (start gear-orchestrator); nothing was written"

    /// Writes the descriptor on the condition that the leader key is as read (an orchestrator leads at the write);
    /// the same bytes again are not written. Answers the descriptor's revision and whether it was written.
    static func write(_ name: String, _ data: Data, client: EtcdClient) async throws(EtcdError) -> (Int64, Bool) {
        guard let leader = try await client.get(GearKeys.orchestratorLeader) else { throw EtcdError(.unavailable, noLeader) }
        let key = GearKeys.deployment(name)
        let current = try await client.get(key)
        if let current, current.value == data { return (current.modRevision, false) }
        let result = try await client.transaction(
            if: [.modRevision(GearKeys.orchestratorLeader, equals: leader.modRevision), .modRevision(key, equals: current?.modRevision ?? 0)],
            then: [.put(key, data)])
        guard result.succeeded else {
            throw EtcdError(
                .other, "the deployment or the orchestrator's leadership changed while this deploy wrote it; nothing was written, deploy again")
        }
        return (result.revision, true)
    }

    /// The nodes operators cordoned or drain, with the planner's reason, read as the orchestrator reads them.
    static func maintenance(_ client: EtcdClient) async throws(EtcdError) -> [String: String] {
        var result: [String: String] = [:]
        for entry in try await client.range(prefix: GearKeys.maintenanceRoot).values {
            guard let node = GearKeys.maintenanceNode(entry.key) else { continue }
            result[node] = NodeMaintenance.Mode.of(entry.value).reason
        }
        return result
    }

    static func printer(_ output: Output) -> @Sendable (String) -> Void {
        { line in
            output.print(line)
            fflush(nil)
        }
    }

    /// Says once when no orchestrator leads while the command waits for one (checked every few seconds).
    static func leaderCheck(_ client: EtcdClient) -> @Sendable () async -> Void {
        let state = LeaderNotice()
        return {
            guard state.due() else { return }
            let leads = (try? await client.get(GearKeys.orchestratorLeader)) != nil
            if state.changed(leads: leads) {
                FileHandle.standardError.write(
                    Data((leads ? "gear: an orchestrator leads again\n" : "gear: no orchestrator leads now: waiting for one\n").utf8))
            }
        }
    }

    static func fail(_ message: String) -> ExitCode {
        fflush(nil)
        FileHandle.standardError.write(Data("gear: \(message)\n".utf8))
        return ExitCode(1)
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    private func print(_ plan: DeploymentPlan, output: Output) {
        var rows = [["HOST", "INSTANCE", "CONTAINER", "ACTION", "DETAIL"]]
        for instance in plan.instances {
            let detail: String =
                switch instance.action {
                case .move(let from): "from \(from)"
                case .keep: instance.current.map { $0.started == instance.started ? "" : (instance.started ? "start" : "stop") } ?? ""
                default: instance.request.image ?? instance.request.cmd?.joined(separator: " ") ?? ""
                }
            rows.append([instance.node, instance.id, instance.slot.container, instance.action.name, detail])
        }
        for removal in plan.removals { rows.append([removal.node, removal.id, "-", "delete", removal.reason]) }
        output.print(Output.table(rows))
    }

    /// The hosts to deploy to, with the IPv4 address links reach each at.
    private func deployHosts() throws -> [DeployHost] {
        if hosts.isEmpty {
            let endpoint = global.defaultEndpoint
            let address: String
            switch endpoint {
            case .http(let host, _), .https(let host, _): address = try Self.ipv4(of: host)
            default: address = "127.0.0.1"
            }
            return [DeployHost(name: "local", address: address, client: try global.client(for: endpoint))]
        }
        var seen = Set<String>()
        return try hosts.map { text in
            guard let locator = try? Locator(parsing: text + "/x"), let host = locator.host else {
                throw ValidationError("'\(text)' is not host[:port]")
            }
            guard seen.insert(text).inserted else { throw ValidationError("host \(text) is given twice") }
            let endpoint = global.endpoint(host: host, port: locator.port)
            let address = try Self.ipv4(of: global.settings.address(of: host, port: locator.port).0)
            return DeployHost(name: text, address: address, client: try global.client(for: endpoint))
        }
    }

    /// The first IPv4 address of `host` (itself when it is one).
    static func ipv4(of host: String) throws -> String {
        var probe = in_addr()
        if inet_pton(AF_INET, host, &probe) == 1 { return host }
        if host == "localhost" { return "127.0.0.1" }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else {
            throw ValidationError("host \(host) has no IPv4 address (links need one)")
        }
        defer { freeaddrinfo(result) }
        var address = first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &address, &text, socklen_t(INET_ADDRSTRLEN))
        return String(cString: text)
    }
}

/// Whether the last leader check found a leader, and when the next is due.
private final class LeaderNotice: Sendable {
    private let state = Mutex((leads: true, ticks: 0))
    func due() -> Bool {
        state.withLock {
            $0.ticks += 1
            return $0.ticks % 3 == 0
        }
    }
    func changed(leads: Bool) -> Bool {
        state.withLock { state in
            let changed = state.leads != leads
            state.leads = leads
            return changed
        }
    }
}

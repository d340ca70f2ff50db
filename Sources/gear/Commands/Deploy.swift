import ArgumentParser
import Foundation
import GearAPI
import GearClient
import GearDeploy
import GearEtcd

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

            With --etcd the deployment is placed over the nodes that report themselves in etcd (geard --etcd; HOSTs are then \
            node names to keep to) and written as their desired state; each node converges on its own, and `gear status \
            --etcd` shows how far they got. Creates, moves and deletes are written in one transaction with the first \
            --max-unavailable replacements; each further batch of replacements is written once the nodes report the one \
            before it converged, active and healthy (when it has a health check), so a bad version reaches one batch. \
            Needs an orchestrator's etcd identity (gear etcd grant --orchestrator) and etcd's --max-txn-ops at least the \
            number of keys one transaction writes.

            Examples:
              gear deploy app.json --dry-run
              gear deploy app.json 10.0.0.1 10.0.0.2 10.0.0.3
              gear deploy app.json --etcd https://10.0.0.9:2379
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var etcdOptions: EtcdOptions
    @Argument(help: "The deployment descriptor.") var file: String
    @Argument(help: "host[:port] to deploy to; none for the default geard (with --etcd: node names, none for every node).") var hosts: [String] = []
    @Flag(name: .customLong("dry-run"), help: "Print the plan (create, replace, move, delete, keep per instance and host) and change nothing.")
    var dryRun = false
    @Option(name: .customLong("max-unavailable"), help: "How many instances a rolling replacement takes down at once.")
    var maxUnavailable = 1

    func validate() throws {
        guard maxUnavailable >= 1 else { throw ValidationError("--max-unavailable must be at least 1") }
        if CommandTail.arguments != nil { throw ValidationError("'--' is only for gear install (the container's command)") }
    }

    func run() async throws {
        let output = Output(options: global)
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
        if etcdOptions.etcd != nil || ProcessInfo.processInfo.environment["GEAR_ETCD"].map({ !$0.isEmpty }) == true {
            return try await deployThroughEtcd(descriptor, output: output)
        }
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
        let options = Deployer.Options(maxUnavailable: maxUnavailable, timeout: global.timeout)
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

    /// Places the deployment over the nodes etcd knows and writes their desired state: creates, moves, deletes and
    /// the first batch of replacements in one transaction, each further batch once the nodes report the one before it
    /// converged.
    private func deployThroughEtcd(_ descriptor: DeploymentDescriptor, output: Output) async throws {
        let configuration = try etcdOptions.configuration(global)
        let nodes = hosts.isEmpty ? nil : hosts
        let (dryRun, maxUnavailable) = (self.dryRun, self.maxUnavailable)
        let timeout = Duration.milliseconds(Int64(global.timeout * 1000))
        let started = ContinuousClock.now
        let result: (EtcdDeployPlan, EtcdDeploy.RolloutOutcome, Int, Int, Int64)
        do {
            result = try await EtcdClient.with(configuration) { client in
                let fleet = try await EtcdFleet.read(client)
                let planned = try EtcdDeploy.plan(descriptor, fleet: fleet, nodes: nodes, maxUnavailable: maxUnavailable)
                if dryRun { return (planned, .complete, 0, 0, fleet.revision) }
                let (outcome, written, transactions, revision) = try await EtcdDeploy.rollout(planned, client: client, timeout: timeout) {
                    node, id, what in
                    output.print("\(node)\t\(id)\t\(what)")
                    fflush(nil)
                }
                return (planned, outcome, written, transactions, revision)
            }
        } catch let error as EtcdError {
            let hint = error.message.contains("too many operations") ? " (raise etcd's --max-txn-ops)" : ""
            FileHandle.standardError.write(Data("gear: etcd: \(error.message)\(hint); nothing was written\n".utf8))
            throw ExitCode(1)
        } catch {
            FileHandle.standardError.write(Data("gear: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let (planned, outcome, written, transactions, revision) = result
        if dryRun {
            print(planned.plan, output: output)
            return
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let plan = planned.plan
        output.print(
            "deployment \(plan.name): \(plan.instances.count) instances on \(Set(plan.instances.map(\.node)).count) nodes, "
                + "\(written) keys written"
                + (written == 0
                    ? ""
                    : " in \(transactions == 1 ? "1 transaction" : "\(transactions) transactions"), the last at revision \(revision)")
                + String(format: ", %.2f s (the nodes converge on their own: gear status --etcd)", seconds))
        fflush(nil)
        switch outcome {
        case .complete:
            return
        case .conflict(let wave):
            let what = wave == 0 ? "nothing was written" : "\(written) of \(planned.operations.count) keys were written, the rest were not"
            FileHandle.standardError.write(
                Data("gear: the desired state changed while this deploy read or rolled it (another deploy?): \(what); deploy again\n".utf8))
        case .stopped(_, let node, let id, let reason):
            FileHandle.standardError.write(
                Data(
                    ("gear: \(node)\t\(id)\tFAILED: \(reason)\n"
                        + "gear: deployment \(plan.name): the rollout stopped: \(written) of \(planned.operations.count) keys written; "
                        + "the instances not yet replaced keep their previous version; fix the deployment and deploy again\n").utf8))
        }
        throw ExitCode(1)
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

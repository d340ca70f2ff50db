import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Real geards on test hosts (network namespaces with their own addresses, each following one etcd through the
/// bridge as node `PREFIX+N`, labelled `node=PREFIX+N`), gear-orchestrator replicas beside them, and an operator's
/// identity for `gear deploy --etcd` and `gear node`: the pool as an operator runs it, for the suites that test the
/// orchestrator and the commands that drive it.
///
/// All test hosts share the sandbox's one systemd and podman, so two nodes cannot hold containers of one id at once
/// (unit and container names are global here, not on real hosts).
final class NodeFleet: @unchecked Sendable {
    // @unchecked Sendable: the process tables are changed only by serialized tests, from one task.
    let etcd: EtcdServer
    let hosts: [Int]
    let prefix: String
    /// The operator's etcd user (and certificate name).
    let operatorName: String
    let nodeGrace: Int
    var geards: [Int: Process] = [:]
    var orchestrators: [String: Process] = [:]
    /// Each replica's --listen port (/healthz, /readyz, /metrics).
    private var ports: [String: Int] = [:]

    init(etcd: EtcdServer, hosts: [Int], prefix: String, orchestrators: [String], nodeGrace: Int = 4) throws {
        self.etcd = etcd
        self.hosts = hosts
        self.prefix = prefix
        self.nodeGrace = nodeGrace
        operatorName = "\(prefix)-operator"
        let root = "--etcd \(etcd.url) --ca \(etcd.pki)/ca.crt --cert \(etcd.pki)/root.crt --key \(etcd.pki)/root.key"
        var commands = (orchestrators + [operatorName]).map { "certs issue client \($0) --out \(etcd.pki)" }
        commands.append("etcd grant --orchestrator \(root) \(orchestrators.joined(separator: " "))")
        commands.append("etcd grant --operator \(root) \(operatorName)")
        for command in commands {
            let result = try sh("\(Sandbox.gearPath) \(command)")
            guard result.status == 0 else { throw TestFailure("gear \(command): \(result.output)") }
        }
        for n in hosts {
            try etcd.addNode(node(n), address: "10.77.0.\(n)")
            geards[n] = try launchGeard(n)
        }
    }

    func node(_ n: Int) -> String { "\(prefix)\(n)" }

    func geardLog(_ n: Int) -> String { "/tmp/geard-\(prefix)-h\(n).log" }

    func launchGeard(_ n: Int) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")  // keeps /sys/fs/cgroup (see DeployTests)
        process.arguments =
            [
                "--net=/run/netns/gear-h\(n)", Sandbox.geardPath, "--listen", "none", "--socket", "/run/gear-\(prefix)-h\(n).sock",
                "--state-dir", "/var/lib/gear-\(prefix)-h\(n)", "--network-namespace", "/run/netns/gear-h\(n)", "--advertise", "10.77.0.\(n)",
                "--label", "node=\(node(n))",
            ] + etcd.geardArguments(node(n), ttl: 3, throughBridge: true)
        try run(process, log: geardLog(n))
        return process
    }

    /// Stops every geard of the fleet that runs, brings the hosts' links up, and starts them all again.
    func restartGeards() throws {
        for n in hosts {
            if let process = geards[n], process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
            _ = try sh("ip -n gear-h\(n) link set eth0 up && ip -n gear-h\(n) route replace default via 10.77.0.254")
            geards[n] = try launchGeard(n)
        }
    }

    func launchOrchestrator(_ name: String, _ extra: [String] = []) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Sandbox.orchestratorPath)
        process.arguments =
            [
                "--etcd", etcd.url, "--ca", "\(etcd.pki)/ca.crt", "--cert", "\(etcd.pki)/\(name).crt", "--key", "\(etcd.pki)/\(name).key",
                "--name", name, "--node-grace", "\(nodeGrace)", "--lease-ttl", "3", "--listen", "127.0.0.1:\(port(name))",
            ] + extra
        try run(process, log: "/tmp/\(name).log")
        orchestrators[name] = process
        return process
    }

    /// Starts replica `name` unless it runs, and waits until one leads.
    func ensureOrchestrator(_ name: String, _ extra: [String] = []) async throws {
        if orchestrators[name]?.isRunning != true { _ = try launchOrchestrator(name, extra) }
        guard try await eventually(timeout: .seconds(15), { try self.leader() != nil }) else {
            throw TestFailure("no orchestrator leads: \((try? String(contentsOfFile: "/tmp/\(name).log", encoding: .utf8)) ?? "")")
        }
    }

    func port(_ name: String) -> Int {
        if let port = ports[name] { return port }
        let port = GeardProcess.freePort()
        ports[name] = port
        return port
    }

    /// What a replica answers at `path`: the status code and body.
    func ask(_ name: String, _ path: String) throws -> (code: Int, body: String) {
        let output = try sh("curl -s -w '\\n%{http_code}' 127.0.0.1:\(port(name))\(path)").output
        let code = Int(output.split(separator: "\n").last ?? "") ?? 0
        return (code, String(output.dropLast(String(code).count)))
    }

    private func run(_ process: Process, log: String) throws {
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// `gear COMMAND ARGUMENTS` with the operator's etcd identity, its output and error together.
    func gear(_ arguments: String) throws -> (status: Int32, output: String) {
        let identity = "--ca \(etcd.pki)/ca.crt --cert \(etcd.pki)/\(operatorName).crt --key \(etcd.pki)/\(operatorName).key"
        return try sh("\(Sandbox.gearPath) \(arguments) --etcd \(etcd.url) \(identity) 2>&1")
    }

    struct Instance {
        var node: String
        /// The descriptor's container and index: `db-2`.
        var slot: String
        var observed: EtcdTests.Observed
        /// Converged and active.
        var running: Bool { observed.converged && observed.status?.activeState == "active" }
    }

    /// The deployment's instances the fleet's nodes report, by id.
    func instances(_ deployment: String) throws -> [String: Instance] {
        var result: [String: Instance] = [:]
        for n in hosts {
            for key in try etcd.keys("/gear/v1/observed/\(node(n))/containers/") {
                guard let value = try etcd.get(key),
                    let observed = try? JSONDecoder().decode(EtcdTests.Observed.self, from: Data(value.utf8)),
                    let labels = observed.status?.labels, labels["gear.deployment"] == deployment
                else { continue }
                let slot = "\(labels["gear.deployment.container"] ?? "?")-\(labels["gear.deployment.index"] ?? "?")"
                result[observed.id] = Instance(node: node(n), slot: slot, observed: observed)
            }
        }
        return result
    }

    /// Every slot of the deployment runs exactly once, and the nodes report nothing else of it.
    func eachSlotRunsOnce(_ deployment: String, slots: Set<String>) throws -> Bool {
        let all = try instances(deployment).values
        return all.allSatisfy(\.running) && all.count == slots.count && Set(all.map(\.slot)) == slots
    }

    func status(_ deployment: String) throws -> [String: Any]? {
        guard let value = try etcd.get("/gear/v1/status/deployments/\(deployment)") else { return nil }
        return try JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any]
    }

    /// What the nodes report of the deployment and its status, for a failed expectation.
    func report(_ deployment: String) -> String {
        let instances = (try? instances(deployment)).map { $0.mapValues { "\($0.node) \($0.slot) \($0.running)" } }.map { "\($0)" } ?? "?"
        let status = (try? etcd.get("/gear/v1/status/deployments/\(deployment)")).flatMap { $0 } ?? "none"
        return "instances: \(instances); status: \(status)"
    }

    func leader() throws -> String? { try etcd.get("/gear/v1/orchestrator/leader") }

    func desiredKeys() throws -> [String] {
        try hosts.flatMap { try etcd.keys("/gear/v1/desired/\(node($0))/") }
    }

    func nodesReport() async throws -> Bool {
        try await eventually(timeout: .seconds(30)) {
            try self.hosts.allSatisfy { try self.etcd.get("/gear/v1/observed/\(self.node($0))/node") != nil }
        }
    }

    func stopAll() {
        for process in Array(geards.values) + Array(orchestrators.values) where process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }
}

import Foundation
import GearAPI
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// gear-orchestrator with a real etcd and three real geards on test hosts 7 to 9 (network namespaces, each node
/// following etcd through the bridge): two replicas elect one leader; a deployment written with etcdctl is placed
/// and runs; when the leader is killed the standby takes over; when a node's geard is killed and its network taken
/// down, its instances come up on the other nodes and the linking container reaches them; when the node comes back
/// its stale copies go, and no slot ever ends up running twice.
///
/// All test hosts share the sandbox's one systemd and podman, so two nodes cannot hold containers of one id at once
/// (unit and container names are global here, not on real hosts): the deployment uses random ids, and a replacement
/// has an id of its own.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct OrchestratorTests {
    static let hosts = [7, 8, 9]

    final class Cluster: @unchecked Sendable {
        // @unchecked Sendable: the process tables are changed only by the serialized tests, from one task.
        let etcd: EtcdServer
        var geards: [Int: Process] = [:]
        var orchestrators: [String: Process] = [:]
        /// Each replica's --listen port (/healthz, /readyz, /metrics).
        var ports: [String: Int] = [:]

        init(etcd: EtcdServer) throws {
            self.etcd = etcd
            for command in [
                "certs issue client orch-a --out \(etcd.pki)", "certs issue client orch-b --out \(etcd.pki)",
                "etcd grant --orchestrator --etcd \(etcd.url) --ca \(etcd.pki)/ca.crt --cert \(etcd.pki)/root.crt --key \(etcd.pki)/root.key orch-a orch-b",
            ] {
                let result = try sh("\(Sandbox.gearPath) \(command)")
                guard result.status == 0 else { throw TestFailure("gear \(command): \(result.output)") }
            }
            for n in OrchestratorTests.hosts {
                try etcd.addNode("oh\(n)", address: "10.77.0.\(n)")
                geards[n] = try launchGeard(n)
            }
        }

        func launchGeard(_ n: Int) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            process.arguments =
                [
                    "--net=/run/netns/gear-h\(n)", Sandbox.geardPath, "--listen", "none", "--socket", "/run/gear-orch-h\(n).sock",
                    "--state-dir", "/var/lib/gear-orch-h\(n)", "--network-namespace", "/run/netns/gear-h\(n)", "--advertise", "10.77.0.\(n)",
                ] + etcd.geardArguments("oh\(n)", ttl: 3, throughBridge: true)
            try run(process, log: "/tmp/geard-orch-h\(n).log")
            return process
        }

        func launchOrchestrator(_ name: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Sandbox.orchestratorPath)
            process.arguments = [
                "--etcd", etcd.url, "--ca", "\(etcd.pki)/ca.crt", "--cert", "\(etcd.pki)/\(name).crt", "--key", "\(etcd.pki)/\(name).key",
                "--name", name, "--node-grace", "4", "--lease-ttl", "3", "--listen", "127.0.0.1:\(port(name))",
            ]
            try run(process, log: "/tmp/\(name).log")
            return process
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

        func run(_ process: Process, log: String) throws {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        /// The deployment's instances that nodes report: id -> (node, slot, active and converged).
        func instances(_ deployment: String) throws -> [String: (node: String, slot: String, running: Bool)] {
            var result: [String: (String, String, Bool)] = [:]
            for key in try etcd.keys("/gear/v1/observed/") where key.contains("/containers/") {
                guard let value = try etcd.get(key),
                    let observed = try? JSONDecoder().decode(EtcdTests.Observed.self, from: Data(value.utf8)),
                    let labels = observed.status?.labels, labels["gear.deployment"] == deployment
                else { continue }
                let node = key.split(separator: "/")[3]
                let slot = "\(labels["gear.deployment.container"] ?? "?")-\(labels["gear.deployment.index"] ?? "?")"
                result[observed.id] = (String(node), slot, observed.converged && observed.status?.activeState == "active")
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
            let instances = (try? instances(deployment)).map { "\($0)" } ?? "?"
            let status = (try? etcd.get("/gear/v1/status/deployments/\(deployment)")).flatMap { $0 } ?? "none"
            return "instances: \(instances); status: \(status)"
        }

        func leader() throws -> String? { try etcd.get("/gear/v1/orchestrator/leader") }

        func stopAll() {
            for process in Array(geards.values) + Array(orchestrators.values) where process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
        }
    }

    static let shared = Task { try Cluster(etcd: try await EtcdTests.shared.value) }

    static func descriptor(name: String = "od", version: String = "v1", extra: String = "") -> String {
        DeployTests.descriptor(name: name, dbVersion: version, extra: extra).replacingOccurrences(
            of: #""IdPrefix":"\#(name)-","#, with: #""IdPrefix":"\#(name)-","RandomizeIds":true,"#)
    }

    /// What web reaches at an alias address inside its container.
    static func fetch(_ cluster: Cluster, _ alias: String) throws -> String {
        guard let web = try cluster.instances("od").first(where: { $0.value.slot == "web-1" })?.key else { return "" }
        let output = try sh("podman exec ctr-\(web) sh -c \"printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 5 \(alias) 8080\"").output
        return output.split(whereSeparator: \.isNewline).last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
    }

    @Test func deploymentsStayTrueWhenTheLeaderAndANodeDie() async throws {
        let cluster = try await Self.shared.value
        defer { cluster.stopAll() }
        let slots: Set<String> = ["web-1", "db-1", "db-2"]
        #expect(
            try await eventually(timeout: .seconds(30)) {
                try Self.hosts.allSatisfy { try cluster.etcd.get("/gear/v1/observed/oh\($0)/node") != nil }
            },
            "nodes never reported: \((try? String(contentsOfFile: "/tmp/geard-orch-h7.log", encoding: .utf8)) ?? "")")

        // Two replicas: one leads, the other stands by.
        cluster.orchestrators["orch-a"] = try cluster.launchOrchestrator("orch-a")
        cluster.orchestrators["orch-b"] = try cluster.launchOrchestrator("orch-b")
        #expect(try await eventually(timeout: .seconds(15)) { try cluster.leader() != nil })
        let first = try #require(try cluster.leader())
        let standby = first == "orch-a" ? "orch-b" : "orch-a"
        #expect(try await eventually { try cluster.ask(standby, "/readyz").code == 200 })
        #expect(try cluster.ask(standby, "/healthz").body.contains(#""leader":"\#(first)""#))
        let metrics = try cluster.ask(first, "/metrics").body
        #expect(try metrics.contains("gear_orchestrator_leader 1") && cluster.ask(standby, "/metrics").body.contains("gear_orchestrator_leader 0"))
        try Data(metrics.utf8).write(to: URL(fileURLWithPath: "/tmp/orchestrator-metrics.txt"))
        let lint = try sh("promtool check metrics < /tmp/orchestrator-metrics.txt")
        #expect(lint.status == 0, "\(lint.output)")

        // A deployment written with etcdctl is placed, spread, and runs; its status says so.
        try cluster.etcd.put("/gear/v1/deployments/od", Self.descriptor())
        #expect(
            try await eventually(timeout: .seconds(90)) { try cluster.eachSlotRunsOnce("od", slots: slots) },
            "\(cluster.report("od"))")
        #expect(Set(try cluster.instances("od").values.map(\.node)).count == 3, "spread over the three nodes")
        #expect(try await eventually(timeout: .seconds(15)) { try cluster.status("od")?["state"] as? String == "running" })
        #expect(try cluster.status("od")?["leader"] as? String == first)
        #expect(
            try await eventually(timeout: .seconds(30)) {
                let (a, b) = (try Self.fetch(cluster, "127.0.0.1"), try Self.fetch(cluster, "127.0.0.2"))
                return a.hasPrefix("v1 ") && b.hasPrefix("v1 ") && a != b
            }, "web reaches both db instances")

        // The leader dies: the standby leads within the lease's TTL (3 s) and a little.
        let dead = try #require(cluster.orchestrators[first])
        kill(dead.processIdentifier, SIGKILL)
        dead.waitUntilExit()
        let killedAt = ContinuousClock.now
        #expect(try await eventually(timeout: .seconds(10)) { try cluster.leader().map { $0 != first } ?? false })
        #expect(ContinuousClock.now - killedAt < .seconds(7), "took over in \(ContinuousClock.now - killedAt)")
        let second = try #require(try cluster.leader())

        // A node dies (its geard killed, its network down): once its lease (3 s) and its grace (4 s) are over, what
        // it ran is placed on the other two, and web's links follow.
        let before = try cluster.instances("od")
        let (victimID, victim) = try #require(before.first { $0.value.slot == "db-2" }.map { ($0.key, $0.value.node) })
        let n = Int(victim.dropFirst(2))!
        let gone = Set(before.filter { $0.value.node == victim }.map(\.value.slot))
        kill(cluster.geards[n]!.processIdentifier, SIGKILL)
        cluster.geards[n]!.waitUntilExit()
        #expect(try sh("ip -n gear-h\(n) link set eth0 down").status == 0)
        #expect(
            try await eventually(timeout: .seconds(60)) {
                let now = try cluster.instances("od")
                return slots.allSatisfy { slot in now.values.contains { $0.slot == slot && $0.running && $0.node != victim } }
            }, "\(cluster.report("od"))")
        #expect(try cluster.etcd.keys("/gear/v1/desired/\(victim)/").isEmpty, "the dead node's desired entries are removed")
        #expect(try cluster.status("od")?["leader"] as? String == second)
        #expect(
            try await eventually(timeout: .seconds(30)) {
                let (a, b) = (try Self.fetch(cluster, "127.0.0.1"), try Self.fetch(cluster, "127.0.0.2"))
                return a.hasPrefix("v1 ") && b.hasPrefix("v1 ") && a != b
            }, "web reaches both db instances after \(gone) moved off \(victim)")
        // The victim's copy still runs where it was (no one told it), reachable by nobody.
        #expect(try unitProperty("ctr-\(victimID).service", "ActiveState") == "active")

        // It comes back: it finds its desired entries gone and stops its stale copies; each slot runs once.
        #expect(try sh("ip -n gear-h\(n) link set eth0 up && ip -n gear-h\(n) route replace default via 10.77.0.254").status == 0)
        cluster.geards[n] = try cluster.launchGeard(n)
        #expect(
            try await eventually(timeout: .seconds(60)) {
                try unitProperty("ctr-\(victimID).service", "ActiveState") != "active" && cluster.eachSlotRunsOnce("od", slots: slots)
            }, "\(cluster.report("od"))")

        // Deleted, it goes everywhere, and so does its status.
        #expect(try cluster.etcd.etcdctl("del /gear/v1/deployments/od").status == 0)
        #expect(try await eventually(timeout: .seconds(60)) { try cluster.instances("od").isEmpty && cluster.status("od") == nil })
        #expect(try cluster.etcd.keys("/gear/v1/desired/").isEmpty)
    }

    /// `gear node cordon`, `uncordon` and `drain` with the orchestrator: a cordoned node gets none of a new
    /// deployment's instances; a drain moves a node's instances to the others and returns once none is left there.
    @Test func aCordonedNodeTakesNothingNewAndADrainMovesItsInstancesOff() async throws {
        let cluster = try await Self.shared.value
        // Fresh geards and one replica: the test before stops everything at its end.
        for n in Self.hosts {
            if let process = cluster.geards[n], process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
            _ = try sh("ip -n gear-h\(n) link set eth0 up && ip -n gear-h\(n) route replace default via 10.77.0.254")
            cluster.geards[n] = try cluster.launchGeard(n)
        }
        cluster.orchestrators["orch-a"] = try cluster.launchOrchestrator("orch-a")
        defer { cluster.stopAll() }
        #expect(
            try await eventually(timeout: .seconds(30)) {
                try Self.hosts.allSatisfy { try cluster.etcd.get("/gear/v1/observed/oh\($0)/node") != nil }
            })
        #expect(try await eventually(timeout: .seconds(15)) { try cluster.leader() == "orch-a" })
        let etcd = cluster.etcd
        func node(_ arguments: String) throws -> (status: Int32, output: String) {
            try sh(
                "\(Sandbox.gearPath) node \(arguments) --etcd \(etcd.url) --ca \(etcd.pki)/ca.crt --cert \(etcd.pki)/orch-a.crt --key \(etcd.pki)/orch-a.key 2>&1"
            )
        }
        let slots: Set<String> = ["web-1", "db-1", "db-2"]

        let cordon = try node("cordon oh7 --reason test")
        #expect(cordon.status == 0 && cordon.output.contains("oh7: cordoned"), "\(cordon.output)")
        #expect(try etcd.get("/gear/v1/maintenance/oh7")?.contains(#""mode":"cordon""#) == true)
        try etcd.put("/gear/v1/deployments/oc", Self.descriptor(name: "oc"))
        #expect(
            try await eventually(timeout: .seconds(90)) { try cluster.eachSlotRunsOnce("oc", slots: slots) }, "\(cluster.report("oc"))")
        #expect(try cluster.instances("oc").values.allSatisfy { $0.node != "oh7" }, "\(cluster.report("oc"))")
        #expect(try node("uncordon oh7").status == 0)
        #expect(try etcd.get("/gear/v1/maintenance/oh7") == nil)

        let drain = try node("drain oh8 --timeout 90")
        #expect(drain.status == 0 && drain.output.contains("oh8: drained"), "\(drain.output)")
        #expect(
            try await eventually(timeout: .seconds(60)) {
                try cluster.eachSlotRunsOnce("oc", slots: slots) && cluster.instances("oc").values.allSatisfy { $0.node != "oh8" }
            }, "\(cluster.report("oc"))")
        #expect(try etcd.keys("/gear/v1/desired/oh8/").isEmpty)
        #expect(try node("uncordon oh8").status == 0)

        // A drain with no orchestrator leading is refused, and writes nothing.
        let replica = try #require(cluster.orchestrators["orch-a"])
        kill(replica.processIdentifier, SIGTERM)
        replica.waitUntilExit()
        #expect(try await eventually { try cluster.leader() == nil }, "a replica that stops cleanly gives the leadership up at once")
        let refused = try node("drain oh9")
        #expect(refused.status == 1 && refused.output.contains("no orchestrator leads"), "\(refused.output)")
        #expect(try etcd.get("/gear/v1/maintenance/oh9") == nil)

        cluster.orchestrators["orch-a"] = try cluster.launchOrchestrator("orch-a")
        #expect(try etcd.etcdctl("del /gear/v1/deployments/oc").status == 0)
        #expect(try await eventually(timeout: .seconds(60)) { try cluster.instances("oc").isEmpty && cluster.status("oc") == nil })
    }
}

import Foundation
import GearAPI
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `gear deploy --etcd` and `gear status --etcd` as an operator uses them: the descriptor written to etcd for
/// gear-orchestrator, which places it over three nodes that report themselves (test hosts 4 to 6, each a network
/// namespace with its own address and a geard following etcd through the bridge); the command follows the
/// orchestrator's status to its verdict; traffic from web reaches both db instances across hosts. The orchestrator's
/// grace period and reschedule delay are long here (60 s, 600 s): instance ids are fixed, and the hosts share one
/// systemd, so a move of an instance to another test host could not run beside the copy it leaves.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct EtcdDeployTests {
    static let hosts = [4, 5, 6]

    static let shared = Task {
        try NodeFleet(etcd: try await EtcdTests.shared.value, hosts: hosts, prefix: "eh", orchestrators: ["ed-orch"], nodeGrace: 60)
    }

    static func fetch(_ alias: String) throws -> String {
        let output = try sh("podman exec ctr-ed-web-1 sh -c \"printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 5 \(alias) 8080\"").output
        return output.split(whereSeparator: \.isNewline).last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
    }

    @Test func aTopologyIsPlacedByTheOrchestratorAndGearDeployFollowsItToTheVerdict() async throws {
        let fleet = try await Self.shared.value
        #expect(try await fleet.nodesReport(), "nodes never reported: \((try? String(contentsOfFile: fleet.geardLog(4), encoding: .utf8)) ?? "")")
        let file = try DeployTests.write(DeployTests.descriptor(name: "ed"), "ed")
        let dry = try fleet.gear("deploy \(file) --dry-run")
        #expect(dry.status == 0 && dry.output.contains("ed-db-2") && dry.output.contains("create"), "\(dry.output)")
        #expect(try fleet.desiredKeys().isEmpty, "a dry run writes nothing")

        // No orchestrator leads: said at once, nothing written.
        let alone = try fleet.gear("deploy \(file)")
        #expect(alone.status == 1 && alone.output.contains("no orchestrator leads"), "\(alone.output)")
        #expect(try fleet.etcd.get("/gear/v1/deployments/ed") == nil)
        // Hosts and a client-side pace are the orchestrator's to decide: refused before etcd is asked.
        let hosts = try fleet.gear("deploy \(file) eh4")
        #expect(hosts.status == 64 && hosts.output.contains("Affinity NodeLabels"), "\(hosts.output)")
        #expect(try fleet.gear("deploy \(file) --max-unavailable 2").status == 64)
        // An operator writes deployments, never where instances go.
        let direct = try fleet.etcd.etcdctl("put /gear/v1/desired/eh4/containers/x {}", as: fleet.operatorName)
        #expect(direct.output.contains("permission denied"), "\(direct.output)")

        try await fleet.ensureOrchestrator("ed-orch", ["--reschedule-delay", "600"])
        let deploy = try fleet.gear("deploy \(file)")
        #expect(deploy.status == 0 && deploy.output.contains("deployment ed: written at revision"), "\(deploy.output)")
        #expect(deploy.output.contains("\ted-web-1\tstarting") && deploy.output.contains("3 instances on 3 nodes running"), "\(deploy.output)")
        // Running, to the orchestrator, is converged and active on the nodes.
        let placed = try fleet.instances("ed")
        #expect(placed.count == 3 && placed.values.allSatisfy(\.running), "\(fleet.report("ed"))")
        #expect(Set(placed.values.map(\.node)).count == 3, "spread over the three nodes")
        let status = try fleet.gear("status ed")
        #expect(status.status == 0 && status.output.contains("ed-web-1") && !status.output.contains("silent"), "\(status.output)")
        #expect(
            try await eventually(timeout: .seconds(20)) {
                let (a, b) = (try Self.fetch("127.0.0.1"), try Self.fetch("127.0.0.2"))
                return a.hasPrefix("v1 ") && b.hasPrefix("v1 ") && a != b
            }, "web reaches both db instances on their nodes")

        // The same file again writes nothing and is running at once; a new command replaces the db instances only.
        let again = try fleet.gear("deploy \(file)")
        #expect(again.status == 0 && again.output.contains("unchanged") && !again.output.contains("starting"), "\(again.output)")
        // One at a time (the orchestrator's --max-unavailable 1): db-2 is written only once db-1 runs.
        let rolled = try fleet.gear("deploy \(try DeployTests.write(DeployTests.descriptor(name: "ed", dbVersion: "v2"), "ed"))")
        #expect(rolled.status == 0 && !rolled.output.contains("ed-web-1"), "\(rolled.output)")
        let order = ["\ted-db-1\tstarting", "\ted-db-1\trunning", "\ted-db-2\tstarting", "\ted-db-2\trunning"].map {
            rolled.output.range(of: $0)?.lowerBound
        }
        #expect(order.allSatisfy { $0 != nil } && order.compactMap { $0 } == order.compactMap { $0 }.sorted(), "\(rolled.output)")
        #expect(try Self.fetch("127.0.0.1").hasPrefix("v2 ") && Self.fetch("127.0.0.2").hasPrefix("v2 "))

        // A version whose health check never passes stops the rollout at its first instance: db-2 is not written.
        let db2Key = try #require(try fleet.desiredKeys().first { $0.hasSuffix("/ed-db-2") })
        let db2Before = try fleet.etcd.get(db2Key)
        let unhealthy = DeployTests.descriptor(name: "ed", dbVersion: "v3", extra: #","HealthCmd":["false"],"HealthInterval":"1s","HealthRetries":1"#)
        let bad = try fleet.gear("deploy \(try DeployTests.write(unhealthy, "ed"))")
        #expect(bad.status == 1 && bad.output.contains("unhealthy") && bad.output.contains("the rollout stopped"), "\(bad.output)")
        #expect(bad.output.contains("\ted-db-1\tfailed") && !bad.output.contains("\ted-db-2\tstarting"), "\(bad.output)")
        try await Task.sleep(for: .seconds(2))
        #expect(try fleet.etcd.get(db2Key) == db2Before, "db-2's desired entry is untouched")
        #expect(try Self.fetch("127.0.0.2").hasPrefix("v2 "), "db-2 still serves the previous version")
        // Deploying the good version again puts db-1 back; db-2 had not changed.
        let fixed = try fleet.gear("deploy \(try DeployTests.write(DeployTests.descriptor(name: "ed", dbVersion: "v2"), "ed"))")
        #expect(fixed.status == 0 && fixed.output.contains("\ted-db-1\trunning") && !fixed.output.contains("\ted-db-2\t"), "\(fixed.output)")
        #expect(try Self.fetch("127.0.0.1").hasPrefix("v2 ") && Self.fetch("127.0.0.2").hasPrefix("v2 "))

        // A deployment that fits nowhere waits, pending with each node's reason; what runs is left alone.
        let before = try fleet.desiredKeys().map { try fleet.etcd.get($0) }
        let huge = try fleet.gear(
            "deploy \(try DeployTests.write(DeployTests.descriptor(name: "ed", extra: #","Memory":"100T""#), "ed-huge")) --timeout 4")
        #expect(huge.status == 1 && huge.output.contains("it is placed when room appears") && huge.output.contains("memory"), "\(huge.output)")
        #expect(huge.output.contains("is not running after 4 s"), "\(huge.output)")
        #expect(try fleet.status("ed")?["state"] as? String == "pending")
        #expect(try fleet.desiredKeys().map { try fleet.etcd.get($0) } == before)

        // A descriptor an operator writes with etcdctl that cannot be read: invalid, its field named, nothing changed.
        let invalid = #"{"Name":"ed-bad","Containers":[{"Name":"c","Count":-1,"Image":"localhost/busybox"}]}"#
        #expect(try fleet.etcd.etcdctl("put /gear/v1/deployments/ed-bad '\(invalid)'", as: fleet.operatorName).status == 0)
        #expect(try await eventually { try fleet.status("ed-bad")?["state"] as? String == "invalid" })
        #expect((try fleet.status("ed-bad")?["message"] as? String)?.contains("Count") == true, "\(fleet.report("ed-bad"))")
        #expect(try fleet.desiredKeys().map { try fleet.etcd.get($0) } == before)
        #expect(try fleet.gear("deploy --delete ed-bad").status == 0)

        // A node that dies is silent once its lease expires; the rest of the fleet is still reported.
        let victim = try #require(placed["ed-db-2"]?.node)
        let n = Int(victim.dropFirst(2))!
        kill(fleet.geards[n]!.processIdentifier, SIGKILL)
        #expect(try await eventually(timeout: .seconds(15)) { try fleet.gear("status ed").output.contains("silent") })
        let silent = try fleet.gear("status ed")
        #expect(silent.status == 1 && silent.output.contains("\(victim)") && silent.output.contains("silent nodes: \(victim)"), "\(silent.output)")
        fleet.geards[n] = try fleet.launchGeard(n)
        #expect(try await eventually(timeout: .seconds(30)) { try fleet.gear("status ed").status == 0 })

        // Scale down, then the deployment is deleted and everything goes.
        let down = try fleet.gear("deploy \(try DeployTests.write(DeployTests.descriptor(name: "ed", dbCount: 1, dbVersion: "v2"), "ed"))")
        #expect(down.status == 0 && down.output.contains("ed-db-2\tdeleted"), "\(down.output)")
        #expect(try await eventually(timeout: .seconds(30)) { try Set(fleet.instances("ed").keys) == ["ed-web-1", "ed-db-1"] })
        let delete = try fleet.gear("deploy --delete ed")
        #expect(delete.status == 0 && delete.output.contains("every instance removed"), "\(delete.output)")
        #expect(try fleet.desiredKeys().isEmpty && fleet.etcd.get("/gear/v1/deployments/ed") == nil)
        #expect(try await eventually(timeout: .seconds(30)) { try fleet.instances("ed").isEmpty })
        let gone = try fleet.gear("deploy --delete ed")
        #expect(gone.status == 1 && gone.output.contains("no deployment ed"), "\(gone.output)")
        fleet.stopAll()
    }

    /// A desired container whose fixed port a host process listens on is refused once with the port, the holder and
    /// the code `port_in_use`, not retried while its entry stays the same; the node's entry then lists the port as
    /// held by the host, and the next placement (the orchestrator's, of a deployment kept to that node by its label) chooses another port.
    @Test func aPortAHostProcessHoldsIsReportedNotRetriedAndTheNextPlanMovesOff() async throws {
        let fleet = try await Self.shared.value
        // Fresh geards and orchestrator (the test before stops them at its end).
        try fleet.restartGeards()
        try await fleet.ensureOrchestrator("ed-orch", ["--reschedule-delay", "600"])
        defer { fleet.stopAll() }
        let nodeKey = "/gear/v1/observed/eh4/node"
        #expect(try await eventually(timeout: .seconds(30)) { try fleet.etcd.get(nodeKey) != nil })
        // The port a plan would take first on eh4: the lowest of its range that none of its containers holds.
        func node() throws -> [String: Any] {
            let value = try #require(try fleet.etcd.get(nodeKey))
            return try #require(try JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any])
        }
        let info = try #require(try node()["info"] as? [String: Any])
        let range = try #require(info["ports"] as? [String: Any])
        let first = try #require(range["first"] as? Int)
        var taken = Set<Int>()
        for key in try fleet.etcd.keys("/gear/v1/observed/eh4/containers/") {
            let value = try #require(try fleet.etcd.get(key))
            for match in value.matches(of: /"externalPort":(\d+)/) { taken.insert(Int(match.1)!) }
        }
        let port = (first...).first { !taken.contains($0) }!
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        listener.arguments = ["--net=/run/netns/gear-h4", "/usr/bin/python3", "-m", "http.server", "\(port)", "--bind", "0.0.0.0"]
        listener.standardOutput = FileHandle.nullDevice
        listener.standardError = FileHandle.nullDevice
        try listener.run()
        defer { kill(listener.processIdentifier, SIGKILL) }
        #expect(try await eventually { try sh("nsenter --net=/run/netns/gear-h4 ss -Htln 'sport = :\(port)'").output.contains("\(port)") })

        // An entry written by hand with that port: refused, named, coded, and not tried again.
        let desired = "/gear/v1/desired/eh4/containers/pp-hand"
        try fleet.etcd.put(
            desired, #"{"Image":"localhost/busybox","Cmd":["sleep","1000"],"Ports":[{"Internal":3000,"External":\#(port)}],"Started":true}"#)
        var observed: [String: Any] = [:]
        #expect(
            try await eventually(timeout: .seconds(30)) {
                guard let value = try fleet.etcd.get("/gear/v1/observed/eh4/containers/pp-hand") else { return false }
                observed = try #require(try JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any])
                return observed["errorCode"] as? String == "port_in_use"
            }, "\(observed)")
        let message = observed["error"] as? String ?? ""
        #expect(message.contains("external port \(port) is already in use on this host by python3 (pid "), "\(message)")
        let log = fleet.geardLog(4)
        func attempts() throws -> Int {
            try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").filter {
                $0.contains("desired state not applied") && $0.contains("pp-hand")
            }.count
        }
        let tried = try attempts()
        try await Task.sleep(for: .seconds(12))  // a retry would come after 5 s, then 10 s
        #expect(try attempts() == tried, "retried while the entry stayed the same")
        #expect(
            try await eventually(timeout: .seconds(15)) {
                ((try node()["info"] as? [String: Any])?["ports"] as? [String: Any])?["heldByHost"] as? [Int] == [port]
            }, "the node entry lists the port as the host's")

        // The next plan leaves the port alone.
        _ = try fleet.etcd.etcdctl("del \(desired)")
        let file = try DeployTests.write(
            #"{"Name":"pp","IdPrefix":"pp-","Containers":[{"Name":"web","Count":1,"Image":"localhost/busybox","Cmd":["httpd","-f","-p","3000"],"PublicPorts":[{"Internal":3000}],"Affinity":{"NodeLabels":{"node":"eh4"}}}]}"#,
            "pp")
        let deploy = try fleet.gear("deploy \(file)")
        #expect(deploy.status == 0, "\(deploy.output)")
        let entry = try #require(try fleet.etcd.get("/gear/v1/desired/eh4/containers/pp-web-1"))
        #expect(!entry.contains("\"External\":\(port)") && !entry.contains("\"external\":\(port)"), "\(entry)")
        #expect(try fleet.instances("pp")["pp-web-1"]?.running == true, "\(fleet.report("pp"))")
        #expect(try fleet.gear("deploy --delete pp").status == 0)
        #expect(try await eventually(timeout: .seconds(30)) { try fleet.instances("pp").isEmpty })
    }
}

import Foundation
import GearAPI
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `gear deploy --etcd` and `gear status --etcd`: a topology placed over three nodes that report themselves in etcd
/// (test hosts 4 to 6, each a network namespace with its own address and a geard following etcd through the bridge)
/// and written as their desired state in one transaction; the nodes converge on their own, and traffic from web
/// reaches both db instances across hosts.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct EtcdDeployTests {
    static let hosts = [4, 5, 6]

    final class Fleet: @unchecked Sendable {
        // @unchecked Sendable: `processes` is changed only by the serialized tests, from one task.
        let etcd: EtcdServer
        let orchestrator: String
        var processes: [Int: Process] = [:]

        init(etcd: EtcdServer) throws {
            self.etcd = etcd
            orchestrator = "deployer"
            for command in [
                "certs issue client deployer --out \(etcd.pki)",
                "etcd grant --orchestrator --etcd \(etcd.url) --ca \(etcd.pki)/ca.crt --cert \(etcd.pki)/root.crt --key \(etcd.pki)/root.key deployer",
            ] {
                let result = try sh("\(Sandbox.gearPath) \(command)")
                guard result.status == 0 else { throw TestFailure("gear \(command): \(result.output)") }
            }
            for n in EtcdDeployTests.hosts {
                try etcd.addNode("eh\(n)", address: "10.77.0.\(n)")
                processes[n] = try launch(n)
            }
        }

        func launch(_ n: Int) throws -> Process {
            try sh("pkill -f 'state-dir /var/lib/gear-etcd-h\(n)[ ]'; sleep 0.3")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")  // as DeployTests: keeps /sys/fs/cgroup
            process.arguments =
                [
                    "--net=/run/netns/gear-h\(n)", Sandbox.geardPath, "--listen", "none", "--socket", "/run/gear-etcd-h\(n).sock",
                    "--state-dir", "/var/lib/gear-etcd-h\(n)", "--network-namespace", "/run/netns/gear-h\(n)", "--advertise", "10.77.0.\(n)",
                ] + etcd.geardArguments("eh\(n)", ttl: 3, throughBridge: true)
            let log = "/tmp/geard-etcd-h\(n).log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            return process
        }

        func gear(_ arguments: String) throws -> (status: Int32, output: String) {
            let command = arguments.prefix { $0 != " " }
            let rest = arguments.dropFirst(command.count)
            return try sh(
                "\(Sandbox.gearPath) \(command) --etcd \(etcd.url) --ca \(etcd.pki)/ca.crt --cert \(etcd.pki)/deployer.crt --key \(etcd.pki)/deployer.key\(rest) 2>&1"
            )
        }

        /// Every observed container of the deployment: id -> (node, entry).
        func instances(_ deployment: String) throws -> [String: (node: String, observed: EtcdTests.Observed)] {
            var result: [String: (String, EtcdTests.Observed)] = [:]
            for n in EtcdDeployTests.hosts {
                for key in try etcd.keys("/gear/v1/observed/eh\(n)/containers/") {
                    guard let value = try etcd.get(key) else { continue }
                    let observed = try JSONDecoder().decode(EtcdTests.Observed.self, from: Data(value.utf8))
                    if observed.status?.labels?["gear.deployment"] == deployment { result[observed.id] = ("eh\(n)", observed) }
                }
            }
            return result
        }

        func desiredKeys() throws -> [String] { try etcd.keys("/gear/v1/desired/") }
    }

    static let shared = Task { try Fleet(etcd: try await EtcdTests.shared.value) }

    static func fetch(_ alias: String) throws -> String {
        let output = try sh("podman exec ctr-ed-web-1 sh -c \"printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 5 \(alias) 8080\"").output
        return output.split(whereSeparator: \.isNewline).last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
    }

    @Test func aTopologyIsPlacedThroughEtcdAndEachNodeConvergesOnItsOwn() async throws {
        let fleet = try await Self.shared.value
        #expect(
            try await eventually(timeout: .seconds(30)) { try Self.hosts.allSatisfy { try fleet.etcd.get("/gear/v1/observed/eh\($0)/node") != nil } },
            "nodes never reported: \((try? String(contentsOfFile: "/tmp/geard-etcd-h4.log", encoding: .utf8)) ?? "")")
        let file = try DeployTests.write(DeployTests.descriptor(name: "ed"), "ed")
        let dry = try fleet.gear("deploy \(file) --dry-run")
        #expect(dry.status == 0 && dry.output.contains("ed-db-2") && dry.output.contains("create"), "\(dry.output)")
        #expect(try fleet.desiredKeys().isEmpty, "a dry run writes nothing")

        let deploy = try fleet.gear("deploy \(file)")
        #expect(deploy.status == 0 && deploy.output.contains("3 keys written"), "\(deploy.output)")
        #expect(
            try await eventually(timeout: .seconds(60)) {
                let all = try fleet.instances("ed")
                return all.count == 3 && all.values.allSatisfy { $0.observed.converged && $0.observed.status?.activeState == "active" }
            })
        let placed = try fleet.instances("ed")
        #expect(Set(placed.values.map(\.node)).count == 3, "spread over the three nodes")
        let status = try fleet.gear("status ed")
        #expect(status.status == 0 && status.output.contains("ed-web-1") && !status.output.contains("silent"), "\(status.output)")
        #expect(
            try await eventually(timeout: .seconds(20)) {
                let (a, b) = (try Self.fetch("127.0.0.1"), try Self.fetch("127.0.0.2"))
                return a.hasPrefix("v1 ") && b.hasPrefix("v1 ") && a != b
            }, "web reaches both db instances on their nodes")

        // The same file again writes nothing; a new command replaces the db instances only.
        let again = try fleet.gear("deploy \(file)")
        #expect(again.status == 0 && again.output.contains("0 keys written"), "\(again.output)")
        // One at a time (--max-unavailable 1): db-2 is written only once db-1's node reports it converged and active.
        let rolled = try fleet.gear("deploy \(try DeployTests.write(DeployTests.descriptor(name: "ed", dbVersion: "v2"), "ed"))")
        #expect(
            rolled.status == 0 && rolled.output.contains("2 keys written in 2 transactions") && !rolled.output.contains("ed-web-1"),
            "\(rolled.output)")
        let order = ["\ted-db-1\treplace", "\ted-db-1\tready", "\ted-db-2\treplace", "\ted-db-2\tready"].map {
            rolled.output.range(of: $0)?.lowerBound
        }
        #expect(order.allSatisfy { $0 != nil } && order.compactMap { $0 } == order.compactMap { $0 }.sorted(), "\(rolled.output)")
        #expect(try Self.fetch("127.0.0.1").hasPrefix("v2 ") && Self.fetch("127.0.0.2").hasPrefix("v2 "))

        // A version whose health check never passes stops the rollout at its first instance: db-2 is not written.
        let db2Key = try #require(try fleet.etcd.keys("/gear/v1/desired/").first { $0.hasSuffix("/ed-db-2") })
        let db2Before = try fleet.etcd.get(db2Key)
        let unhealthy = DeployTests.descriptor(name: "ed", dbVersion: "v3", extra: #","HealthCmd":["false"],"HealthInterval":"1s","HealthRetries":1"#)
        let bad = try fleet.gear("deploy \(try DeployTests.write(unhealthy, "ed"))")
        #expect(bad.status == 1 && bad.output.contains("unhealthy") && bad.output.contains("the rollout stopped"), "\(bad.output)")
        #expect(bad.output.contains("1 of 2 keys written") && bad.output.contains("1 keys written in 1 transaction,"), "\(bad.output)")
        #expect(!bad.output.contains("\ted-db-2\treplace"), "\(bad.output)")
        #expect(try fleet.etcd.get(db2Key) == db2Before, "db-2's desired entry is untouched")
        #expect(try Self.fetch("127.0.0.2").hasPrefix("v2 "), "db-2 still serves the previous version")
        // Deploying the good version again puts db-1 back; db-2 had not changed.
        let fixed = try fleet.gear("deploy \(try DeployTests.write(DeployTests.descriptor(name: "ed", dbVersion: "v2"), "ed"))")
        #expect(fixed.status == 0 && fixed.output.contains("1 keys written") && fixed.output.contains("\ted-db-1\tready"), "\(fixed.output)")
        #expect(try Self.fetch("127.0.0.1").hasPrefix("v2 ") && Self.fetch("127.0.0.2").hasPrefix("v2 "))

        // A placement that fits nowhere writes nothing.
        let before = try fleet.desiredKeys()
        let huge = try fleet.gear("deploy \(try DeployTests.write(DeployTests.descriptor(name: "ed", extra: #","Memory":"100T""#), "ed-huge"))")
        #expect(huge.status == 1 && huge.output.contains("fits on no host"), "\(huge.output)")
        #expect(try fleet.desiredKeys() == before)

        // A node that dies is silent once its lease expires; the rest of the fleet is still reported.
        let victim = try #require(placed["ed-db-2"]?.node)
        let n = Int(victim.dropFirst(2))!
        kill(fleet.processes[n]!.processIdentifier, SIGKILL)
        #expect(try await eventually(timeout: .seconds(15)) { try fleet.gear("status ed").output.contains("silent") })
        let silent = try fleet.gear("status ed")
        #expect(silent.status == 1 && silent.output.contains("\(victim)") && silent.output.contains("silent nodes: \(victim)"), "\(silent.output)")
        fleet.processes[n] = try fleet.launch(n)
        #expect(try await eventually(timeout: .seconds(30)) { try fleet.gear("status ed").status == 0 })

        // Scale down, then everything goes.
        let down = try fleet.gear("deploy \(try DeployTests.write(DeployTests.descriptor(name: "ed", dbCount: 1, dbVersion: "v2"), "ed"))")
        #expect(down.status == 0 && down.output.contains("ed-db-2\tdelete"), "\(down.output)")
        #expect(try await eventually(timeout: .seconds(30)) { try Set(fleet.instances("ed").keys) == ["ed-web-1", "ed-db-1"] })
        let empty = try DeployTests.write(#"{"Name":"ed","Containers":[{"Name":"web","Count":0,"Image":"localhost/busybox"}]}"#, "ed")
        #expect(try fleet.gear("deploy \(empty)").status == 0)
        #expect(try fleet.desiredKeys().isEmpty)
        #expect(try await eventually(timeout: .seconds(30)) { try fleet.instances("ed").isEmpty })
        for process in fleet.processes.values where process.isRunning { kill(process.processIdentifier, SIGTERM) }
    }

    /// A desired container whose fixed port a host process listens on is refused once with the port, the holder and
    /// the code `port_in_use`, not retried while its entry stays the same; the node's entry then lists the port as
    /// held by the host, and the next `gear deploy --etcd` chooses another port.
    @Test func aPortAHostProcessHoldsIsReportedNotRetriedAndTheNextPlanMovesOff() async throws {
        let fleet = try await Self.shared.value
        // Fresh geards (the test before stops them at its end).
        for n in Self.hosts {
            if let process = fleet.processes[n], process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
            fleet.processes[n] = try fleet.launch(n)
        }
        defer { for process in fleet.processes.values where process.isRunning { kill(process.processIdentifier, SIGTERM) } }
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
        let log = "/tmp/geard-etcd-h4.log"
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
            #"{"Name":"pp","IdPrefix":"pp-","Containers":[{"Name":"web","Count":1,"Image":"localhost/busybox","Cmd":["httpd","-f","-p","3000"],"PublicPorts":[{"Internal":3000}]}]}"#,
            "pp")
        let deploy = try fleet.gear("deploy \(file) eh4")
        #expect(deploy.status == 0, "\(deploy.output)")
        let entry = try #require(try fleet.etcd.get("/gear/v1/desired/eh4/containers/pp-web-1"))
        #expect(!entry.contains("\"External\":\(port)") && !entry.contains("\"external\":\(port)"), "\(entry)")
        #expect(
            try await eventually(timeout: .seconds(60)) {
                try fleet.instances("pp")["pp-web-1"].map { $0.observed.converged && $0.observed.status?.activeState == "active" } ?? false
            })
        let empty = try DeployTests.write(#"{"Name":"pp","Containers":[{"Name":"web","Count":0,"Image":"localhost/busybox"}]}"#, "pp")
        #expect(try fleet.gear("deploy \(empty)").status == 0)
        #expect(try await eventually(timeout: .seconds(30)) { try fleet.instances("pp").isEmpty })
    }
}

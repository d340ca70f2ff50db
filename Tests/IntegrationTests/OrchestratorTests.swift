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

    static let shared = Task {
        try NodeFleet(etcd: try await EtcdTests.shared.value, hosts: hosts, prefix: "oh", orchestrators: ["orch-a", "orch-b"])
    }

    static func descriptor(name: String = "od", version: String = "v1", extra: String = "") -> String {
        DeployTests.descriptor(name: name, dbVersion: version, extra: extra).replacingOccurrences(
            of: #""IdPrefix":"\#(name)-","#, with: #""IdPrefix":"\#(name)-","RandomizeIds":true,"#)
    }

    /// What web reaches at an alias address inside its container.
    static func fetch(_ cluster: NodeFleet, _ alias: String) throws -> String {
        guard let web = try cluster.instances("od").first(where: { $0.value.slot == "web-1" })?.key else { return "" }
        let output = try sh("podman exec ctr-\(web) sh -c \"printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 5 \(alias) 8080\"").output
        return output.split(whereSeparator: \.isNewline).last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
    }

    @Test func deploymentsStayTrueWhenTheLeaderAndANodeDie() async throws {
        let cluster = try await Self.shared.value
        defer { cluster.stopAll() }
        let slots: Set<String> = ["web-1", "db-1", "db-2"]
        #expect(
            try await cluster.nodesReport(), "nodes never reported: \((try? String(contentsOfFile: cluster.geardLog(7), encoding: .utf8)) ?? "")")

        // Two replicas: one leads, the other stands by.
        _ = try cluster.launchOrchestrator("orch-a")
        _ = try cluster.launchOrchestrator("orch-b")
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

        // Back from the dead, it takes nothing new for a while (30 s, doubling if it flaps again): a deployment of
        // one instance per node waits, pending with that reason, and is placed there once the while is over.
        let apart = try DeployTests.write(
            #"{"Name":"of","IdPrefix":"of-","RandomizeIds":true,"Containers":[{"Name":"s","Count":3,"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Affinity":{"Apart":["s"]}}]}"#,
            "of")
        #expect(try cluster.gear("deploy \(apart) --no-wait").status == 0)
        #expect(
            try await eventually(timeout: .seconds(10)) {
                let status = try cluster.status("of")
                return status?["state"] as? String == "pending"
                    && (status?["pending"] as? [String])?.contains { $0.hasPrefix("\(victim): flapping: back from the dead once") } == true
            }, "\(cluster.report("of"))")
        #expect(
            try await eventually(timeout: .seconds(45)) { try cluster.eachSlotRunsOnce("of", slots: ["s-1", "s-2", "s-3"]) },
            "\(cluster.report("of"))")
        #expect(try cluster.instances("of").values.contains { $0.node == victim })
        #expect(try cluster.gear("deploy --delete of").status == 0)

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
        try cluster.restartGeards()
        _ = try cluster.launchOrchestrator("orch-a")
        defer { cluster.stopAll() }
        #expect(try await cluster.nodesReport())
        #expect(try await eventually(timeout: .seconds(15)) { try cluster.leader() == "orch-a" })
        let etcd = cluster.etcd
        // An operator drives them; the orchestrator's own identity may not (it writes no maintenance entries).
        func node(_ arguments: String) throws -> (status: Int32, output: String) { try cluster.gear("node \(arguments)") }
        let asOrchestrator = try etcd.etcdctl("put /gear/v1/maintenance/oh7 x", as: "orch-a")
        #expect(asOrchestrator.output.contains("permission denied"), "\(asOrchestrator.output)")
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

        _ = try cluster.launchOrchestrator("orch-a")
        #expect(try etcd.etcdctl("del /gear/v1/deployments/oc").status == 0)
        #expect(try await eventually(timeout: .seconds(60)) { try cluster.instances("oc").isEmpty && cluster.status("oc") == nil })
    }

    /// An instance that fails on its node (its unit exits 3, and is not restarted) is placed on another node once it
    /// has failed for its slot's back-off (--reschedule-delay 2: 2 s, then 4 s, ...), deleted where it failed in the
    /// same transaction; the status keeps the count and the history; its healthy neighbour never moves, and no
    /// slot is ever desired on two nodes at once.
    @Test func aFailingInstanceIsRescheduledOnAnotherNodeWithBackOff() async throws {
        let cluster = try await Self.shared.value
        try cluster.restartGeards()
        defer { cluster.stopAll() }
        try await cluster.ensureOrchestrator("orch-a", ["--reschedule-delay", "2"])
        #expect(try await cluster.nodesReport())
        let file = try DeployTests.write(
            """
            {"Name":"or","IdPrefix":"or-","RandomizeIds":true,"Containers":[
              {"Name":"good","Count":1,"Runtime":"exec","Cmd":["/bin/sleep","100000"]},
              {"Name":"bad","Count":1,"Runtime":"exec","Cmd":["/bin/sh","-c","sleep 1; exit 3"],"Restart":"no"}]}
            """, "or")
        let written = try cluster.gear("deploy \(file) --no-wait")
        #expect(written.status == 0 && written.output.contains("deployment or: written"), "\(written.output)")

        func desiredOfSlot(_ slot: String) throws -> [String] {
            try cluster.desiredKeys().filter { key in
                (try? cluster.etcd.get(key))??.contains(#""gear.deployment.container":"\#(slot)""#) == true
            }
        }
        var goodID: String?
        var twice: [String] = []
        var reschedules: [[String: Any]] = []
        let rescheduledTwice = try await eventually(timeout: .seconds(60)) {
            let bad = try desiredOfSlot("bad")
            if bad.count > 1 { twice.append(bad.joined(separator: ", ")) }
            if goodID == nil { goodID = try cluster.instances("or").first { $0.value.slot == "good-1" }?.key }
            reschedules = try cluster.status("or")?["reschedules"] as? [[String: Any]] ?? []
            return (reschedules.first?["count"] as? Int ?? 0) >= 2
        }
        #expect(rescheduledTwice, "\(cluster.report("or"))")
        #expect(twice.isEmpty, "a slot desired on two nodes at once: \(twice)")
        let record = try #require(reschedules.first)
        #expect(record["slot"] as? String == "bad-1" && (record["reason"] as? String)?.contains("exit-code") == true, "\(record)")
        let history = (try cluster.status("or")?["history"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        let moves = history.filter { $0.hasPrefix("reschedule bad-1 off ") }
        #expect(moves.count >= 2, "\(history)")
        for move in moves {
            let parts = move.split(separator: " ")
            #expect(parts.count > 5 && parts[3] != parts[5], "to another node: \(move)")
        }
        #expect(moves.dropFirst().first?.contains("reschedule 2 of the slot, the next no sooner than 8 s") == true, "\(moves)")
        // The healthy instance stayed where it was, and runs.
        let good = try #require(goodID)
        #expect(try cluster.instances("or")[good]?.running == true, "\(cluster.report("or"))")

        let deleted = try cluster.gear("deploy --delete or")
        #expect(deleted.status == 0, "\(deleted.output)")
        #expect(try await eventually(timeout: .seconds(30)) { try cluster.instances("or").isEmpty })
    }
}

import Foundation
import GearAPI
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The pull model against a real etcd (TLS, client certificates, authentication and roles on): geards converge to
/// their own desired state, report what they run under their leases, keep to their own keys, and lose nothing when
/// they restart, when etcd goes away, or when etcd compacted the revision they would resume from.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct EtcdTests {
    static let shared = Task { try await EtcdServer.start() }

    struct Observed: Decodable {
        var id: String
        var owner: String
        var converged: Bool
        var desiredRevision: Int64?
        var error: String?
        var reverted: String?
        var status: Status?
        struct Status: Decodable {
            var activeState: String
            var started: Bool
            var cmd: [String]
            var labels: [String: String]?
        }
    }

    static func observed(_ etcd: EtcdServer, _ node: String, _ id: String) throws -> Observed? {
        try etcd.get("/gear/v1/observed/\(node)/containers/\(id)").map { try JSONDecoder().decode(Observed.self, from: Data($0.utf8)) }
    }

    static func status(_ geard: GeardProcess, _ id: String) throws -> (code: Int, active: String?, started: Bool?) {
        let answer = try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/status")
        guard answer.status == 200, let object = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any] else {
            return (answer.status, nil, nil)
        }
        return (200, object["activeState"] as? String, object["started"] as? Bool)
    }

    static func jobCount(_ geard: GeardProcess, _ id: String) throws -> Int {
        let body = try curl("GET", "http://127.0.0.1:\(geard.port)/jobs?container=\(id)").body
        return ((try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["jobs"] as? [Any])?.count ?? -1
    }

    static func node(_ etcd: EtcdServer, _ prefix: String, ttl: Int = 10) async throws -> (name: String, geard: GeardProcess) {
        let name = uniqueID(prefix)
        try etcd.addNode(name)
        return (name, try await GeardProcess.start(arguments: etcd.geardArguments(name, ttl: ttl)))
    }

    @Test func aNodeConvergesToItsDesiredStateRevertsOtherChangesAndReportsIt() async throws {
        let etcd = try await Self.shared.value
        let (node, geard) = try await Self.node(etcd, "conv")
        let id = uniqueID("web")
        let env = uniqueID("env")
        let desired = "/gear/v1/desired/\(node)"
        try etcd.put("\(desired)/environments/\(env)", #"{"GREETING":"hello from etcd"}"#)
        let body = #"{"Runtime":"exec","Cmd":["/bin/sh","-c","echo $GREETING; exec sleep 1000"],"EnvironmentId":"ENV","Started":true}"#
        try etcd.put("\(desired)/containers/\(id)", body.replacingOccurrences(of: "ENV", with: env))

        // Installed, started, with the environment's value, and reported.
        #expect(try await eventually { try Self.status(geard, id).active == "active" }, "\(geard.log())")
        #expect(try await eventually { try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/log").body.contains("hello from etcd") })
        #expect(try await eventually { try Self.observed(etcd, node, id)?.status?.activeState == "active" })
        let first = try #require(try Self.observed(etcd, node, id))
        #expect(first.owner == "etcd" && first.converged && first.error == nil && first.status?.labels?["gear.etcd.node"] == node)
        let nodeEntry = try #require(try etcd.get("/gear/v1/observed/\(node)/node"))
        #expect(nodeEntry.contains(#""name":"\#(node)""#) && nodeEntry.contains(#""cpus":"#))
        #expect(try Self.jobCount(geard, id) == 1)

        // The same entry written again (a new revision, the same content): no job.
        try etcd.put("\(desired)/containers/\(id)", body.replacingOccurrences(of: "ENV", with: env))
        try await Task.sleep(for: .seconds(1))
        #expect(try Self.jobCount(geard, id) == 1)

        // Started false stops it; a changed command replaces it, still stopped; Started true starts it.
        try etcd.put("\(desired)/containers/\(id)", body.replacingOccurrences(of: "ENV", with: env).replacingOccurrences(of: "true", with: "false"))
        #expect(try await eventually { try Self.status(geard, id) == (200, "inactive", false) })
        let changed = #"{"Runtime":"exec","Cmd":["/bin/sleep","2000"],"Started":false}"#
        try etcd.put("\(desired)/containers/\(id)", changed)
        #expect(try await eventually { try Self.observed(etcd, node, id)?.status?.cmd == ["/bin/sleep", "2000"] })
        #expect(try Self.status(geard, id) == (200, "inactive", false))
        try etcd.put("\(desired)/containers/\(id)", changed.replacingOccurrences(of: "false", with: "true"))
        #expect(try await eventually { try Self.status(geard, id).active == "active" })

        // Changes made through the API to a container etcd owns are put back, and reported.
        #expect(try curl("PUT", "http://127.0.0.1:\(geard.port)/container/\(id)/stopped?wait=30").status == 200)
        #expect(try await eventually { try Self.status(geard, id) == (200, "active", true) })
        #expect(try await eventually { try Self.observed(etcd, node, id)?.reverted?.contains("changed it outside etcd") == true })
        #expect(try curl("DELETE", "http://127.0.0.1:\(geard.port)/container/\(id)?wait=30").status == 200)
        #expect(try await eventually { try Self.status(geard, id).active == "active" })
        // A container installed through the API without a desired entry is left alone.
        let own = uniqueID("api")
        let install = try curl(
            "PUT", "http://127.0.0.1:\(geard.port)/container/\(own)?wait=30", body: #"{"Runtime":"exec","Cmd":["/bin/sleep","100"]}"#)
        #expect(install.status == 200)
        #expect(try await eventually { try Self.observed(etcd, node, own)?.owner == "api" })

        // The desired entries go: the container and the environment go, and so do their observed entries.
        try etcd.etcdctl("del \(desired)/containers/\(id)")
        try etcd.etcdctl("del \(desired)/environments/\(env)")
        #expect(try await eventually { try Self.status(geard, id).code == 404 })
        #expect(try await eventually { try Self.observed(etcd, node, id) == nil })
        #expect(try await eventually { try curl("GET", "http://127.0.0.1:\(geard.port)/environment/\(env)").status == 404 })
        #expect(try Self.status(geard, own).code == 200)
        _ = try curl("DELETE", "http://127.0.0.1:\(geard.port)/container/\(own)?wait=30")
        #expect(try await eventually { try Self.observed(etcd, node, own) == nil })
        // Every change the transport made is in the audit trail as the config store's.
        #expect(
            try sh("journalctl GEAR_AUDIT=1 --no-pager -o cat | grep -c 'config store etcd \(node)'").output.trimmingCharacters(
                in: .whitespacesAndNewlines) != "0")
        await geard.stop()
    }

    @Test func badDesiredEntriesAreReportedAndNothingOfThemIsApplied() async throws {
        let etcd = try await Self.shared.value
        let (node, geard) = try await Self.node(etcd, "bad")
        let desired = "/gear/v1/desired/\(node)"
        let good = uniqueID("good")
        try etcd.put("\(desired)/containers/\(good)", #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"Started":true}"#)
        let huge = #"{"Runtime":"exec","Cmd":["/bin/sleep","1"],"Labels":{"pad":""# + String(repeating: "x", count: 2000) + #""}}"#
        let cases: [(id: String, value: String, message: String)] = [
            (uniqueID("json"), "{not json", "not valid JSON"),
            (uniqueID("field"), #"{"Runtime":"exec","Cmd":["/bin/sleep","1"],"Bogus":1}"#, "Bogus"),
            (uniqueID("type"), #"{"Runtime":"exec","Cmd":"sleep"}"#, "Cmd: expected a list"),
            (uniqueID("idmis"), #"{"Id":"someone-else","Runtime":"exec","Cmd":["/bin/sleep","1"]}"#, "is not the container of the key"),
            (uniqueID("nl"), #"{"Runtime":"exec","Cmd":["/bin/sh","-c","a\nExecStartPre=/bin/evil"]}"#, "forbidden character"),
            (uniqueID("label"), #"{"Runtime":"exec","Cmd":["/bin/sleep","1"],"Labels":{"gear.etcd.node":"x"}}"#, "node's own label"),
            (uniqueID("port"), #"{"Runtime":"exec","Cmd":["/bin/sleep","1"],"Ports":[{"Internal":70000}]}"#, "Ports"),
            (uniqueID("big"), huge, "Labels"),
        ]
        for entry in cases { try etcd.put("\(desired)/containers/\(entry.id)", entry.value) }
        // Over 1 MiB (etcd takes up to 1.5 MiB).
        let oversized = uniqueID("over")
        try etcd.put(
            "\(desired)/containers/\(oversized)",
            #"{"Runtime":"exec","Cmd":["/bin/sleep","1"],"X":""# + String(repeating: "y", count: 1_200_000) + "\"}")
        try etcd.put("\(desired)/containers/Bad..Id!", #"{"Runtime":"exec","Cmd":["/bin/sleep","1"]}"#)
        try etcd.put("\(desired)/volumes/v1", "{}")
        try etcd.put("\(desired)/environments/\(uniqueID("env"))", "NOT A VARIABLE LINE")

        #expect(try await eventually { try Self.status(geard, good).active == "active" }, "\(geard.log())")
        for entry in cases {
            #expect(try await eventually { try Self.observed(etcd, node, entry.id)?.error != nil }, "\(entry.id)")
            let observed = try #require(try Self.observed(etcd, node, entry.id))
            #expect(observed.error?.contains(entry.message) == true, "\(entry.id): \(observed.error ?? "-")")
            #expect(observed.status == nil && !observed.converged)
            #expect(try Self.status(geard, entry.id).code == 404)
        }
        #expect(try await eventually { try Self.observed(etcd, node, oversized)?.error?.contains("at most 1048576") == true })
        #expect(try await eventually { try etcd.get("/gear/v1/observed/\(node)/containers/Bad..Id!")?.contains("error") == true })
        #expect(try await eventually { try etcd.get("/gear/v1/observed/\(node)/volumes/v1")?.contains("neither containers") == true })
        #expect(try await eventually { try etcd.keys("/gear/v1/observed/\(node)/environments/").count == 1 })
        let listed = try curl("GET", "http://127.0.0.1:\(geard.port)/containers").body
        #expect(listed.contains(good) && !cases.contains { listed.contains($0.id) })

        // A bad value for a running container keeps the one that runs, and says why.
        try etcd.put("\(desired)/containers/\(good)", #"{"Runtime":"exec","Cmd":"oops"}"#)
        #expect(try await eventually { try Self.observed(etcd, node, good)?.error?.contains("refused") == true })
        #expect(try Self.status(geard, good) == (200, "active", true))
        // Mended, the error goes.
        try etcd.put("\(desired)/containers/\(cases[0].id)", #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"Started":true}"#)
        #expect(try await eventually { try Self.observed(etcd, node, cases[0].id).map { $0.error == nil && $0.converged } == true })
        try etcd.etcdctl("del --prefix \(desired)/")
        #expect(try await eventually { try Self.status(geard, good).code == 404 && Self.status(geard, cases[0].id).code == 404 })
        let tidy = try await eventually { try etcd.keys("/gear/v1/observed/\(node)/") == ["/gear/v1/observed/\(node)/node"] }
        let left = try etcd.keys("/gear/v1/observed/\(node)/")
        #expect(tidy, "\(left)")
        await geard.stop()
    }

    @Test func eachNodeReadsOnlyItsDesiredStateAndWritesOnlyItsObservedState() async throws {
        let etcd = try await Self.shared.value
        let a = uniqueID("rbac-a")
        let b = uniqueID("rbac-b")
        try etcd.addNode(a)
        try etcd.addNode(b)
        try etcd.put("/gear/v1/desired/\(b)/containers/x", #"{"Runtime":"exec","Cmd":["/bin/sleep","1"]}"#)
        try etcd.put("/gear/v1/observed/\(b)/node", "b's own")

        // a reads its own desired state and writes its own observed state...
        #expect(try etcd.etcdctl("get --prefix /gear/v1/desired/\(a)/", as: a).status == 0)
        #expect(try etcd.etcdctl("put /gear/v1/observed/\(a)/probe x", as: a).status == 0)
        // ...and nothing else: every refusal is etcd's, and nothing changed.
        for command in [
            "get /gear/v1/desired/\(b)/containers/x", "get --prefix /gear/v1/desired/", "get /gear/v1/observed/\(b)/node",
            "put /gear/v1/observed/\(b)/node masquerade", "put /gear/v1/desired/\(a)/containers/y {}", "del /gear/v1/desired/\(b)/containers/x",
            "put /gear/v1/desired/\(b)/containers/x {}",
        ] {
            let result = try etcd.etcdctl(command, as: a)
            #expect(result.status != 0 && result.output.contains("permission denied"), "\(command): \(result.output)")
        }
        #expect(try etcd.get("/gear/v1/observed/\(b)/node") == "b's own")
        #expect(try etcd.get("/gear/v1/desired/\(b)/containers/x")?.contains("sleep") == true)
        #expect(try etcd.get("/gear/v1/desired/\(a)/containers/y") == nil)

        // An orchestrator writes desired state and reads observed state, and cannot pose as a node.
        let orchestrator = uniqueID("orch")
        #expect(try sh("\(Sandbox.gearPath) certs issue client \(orchestrator) --out \(etcd.pki)").status == 0)
        let grant = try sh(
            "\(Sandbox.gearPath) etcd grant --orchestrator --etcd \(etcd.url) --ca \(etcd.pki)/ca.crt --cert \(etcd.pki)/root.crt --key \(etcd.pki)/root.key \(orchestrator)"
        )
        #expect(grant.status == 0 && grant.output.contains("gear-orchestrator"), "\(grant.output)")
        #expect(try etcd.etcdctl("put /gear/v1/desired/\(a)/containers/z {}", as: orchestrator).status == 0)
        #expect(try etcd.etcdctl("get /gear/v1/observed/\(b)/node", as: orchestrator).output.contains("b's own"))
        #expect(try etcd.etcdctl("put /gear/v1/observed/\(b)/node fake", as: orchestrator).output.contains("permission denied"))
        // Running grant again changes nothing; a bad name is refused before etcd is asked.
        let again = try sh(
            "\(Sandbox.gearPath) etcd grant --etcd \(etcd.url) --ca \(etcd.pki)/ca.crt --cert \(etcd.pki)/root.crt --key \(etcd.pki)/root.key \(a)")
        #expect(again.status == 0 && again.output.contains("user kept, role gear-node-\(a) kept"), "\(again.output)")
        let bad = try sh("\(Sandbox.gearPath) etcd grant --etcd \(etcd.url) 'a/b'")
        #expect(bad.status == 64 && bad.output.contains("may hold only"), "\(bad.output)")
        // A node's own etcd identity is refused what its role does not grant even when geard asks: geard started as a
        // with b's name reads nothing and says so.
        let impostor = try await GeardProcess.start(arguments: etcd.geardArguments(a) + ["--node-name", b])
        #expect(try await eventually { try curl("GET", "http://127.0.0.1:\(impostor.port)/healthz").body.contains("permission denied") })
        #expect(try Self.status(impostor, "x").code == 404)
        await impostor.stop()
        for prefix in ["/gear/v1/desired/\(a)/", "/gear/v1/desired/\(b)/", "/gear/v1/observed/\(a)/", "/gear/v1/observed/\(b)/"] {
            try etcd.etcdctl("del --prefix \(prefix)")
        }
    }

    @Test func restartsLostConnectionsAndCompactionMissNothingAndRepeatNothing() async throws {
        let etcd = try await Self.shared.value
        let (node, geard) = try await Self.node(etcd, "resume", ttl: 3)
        let desired = "/gear/v1/desired/\(node)/containers"
        let (c1, c2, c3, c4) = (uniqueID("c1"), uniqueID("c2"), uniqueID("c3"), uniqueID("c4"))
        let running = #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"Started":true}"#
        try etcd.put("\(desired)/\(c1)", running)
        #expect(try await eventually { try Self.status(geard, c1).active == "active" }, "\(geard.log())")

        // Killed; the desired state changes meanwhile; the restart applies exactly the difference.
        await geard.stop(signal: SIGKILL)
        try etcd.put("\(desired)/\(c1)", running.replacingOccurrences(of: "true", with: "false"))
        try etcd.put("\(desired)/\(c2)", running)
        try await geard.restart()
        #expect(try await eventually { try Self.status(geard, c2).active == "active" && Self.status(geard, c1).active == "inactive" })
        #expect(try Self.jobCount(geard, c1) == 2 && Self.jobCount(geard, c2) == 1)
        // Restarted again with nothing new: nothing is applied a second time, and the containers ran on.
        let pid = try unitProperty("ctr-\(c2).service", "MainPID")
        try await geard.restart()
        try await Task.sleep(for: .seconds(2))
        #expect(try Self.jobCount(geard, c1) == 2 && Self.jobCount(geard, c2) == 1)
        #expect(try unitProperty("ctr-\(c2).service", "MainPID") == pid)

        // etcd goes away: containers run, the API serves, /healthz says so; it comes back and the watch resumes.
        etcd.kill()
        #expect(try await eventually { try curl("GET", "http://127.0.0.1:\(geard.port)/healthz").status == 503 })
        let health = try curl("GET", "http://127.0.0.1:\(geard.port)/healthz").body
        #expect(health.contains(#""name":"etcd""#) && health.contains("containers keep running"), "\(health)")
        #expect(try Self.status(geard, c2) == (200, "active", true))
        #expect(
            try curl(
                "PUT", "http://127.0.0.1:\(geard.port)/container/\(uniqueID("meanwhile"))?wait=30", body: #"{"Runtime":"exec","Cmd":["/bin/true"]}"#
            ).status == 200)
        // A change meanwhile: c2 stopped through the API is put back, and the report of it fails while etcd is away.
        #expect(try curl("PUT", "http://127.0.0.1:\(geard.port)/container/\(c2)/stopped?wait=30").status == 200)
        #expect(try await eventually(timeout: .seconds(30)) { try Self.status(geard, c2).active == "active" })
        try await etcd.restart()
        try etcd.put("\(desired)/\(c3)", running)
        #expect(try await eventually(timeout: .seconds(30)) { try Self.status(geard, c3).active == "active" }, "\(geard.log())")
        // The failed report is written once etcd is back (a failed write once left a container's entry marked both to
        // write and to delete, which etcd refuses in one transaction, for ever).
        #expect(
            try await eventually(timeout: .seconds(30)) {
                try Self.observed(etcd, node, c3) != nil && Self.observed(etcd, node, c2)?.reverted?.contains("outside etcd") == true
            }, "\(geard.log().suffix(3000))")
        #expect(!geard.log().contains("duplicate key"), "\(geard.log().suffix(3000))")
        let healthy = try await eventually(timeout: .seconds(30)) { try curl("GET", "http://127.0.0.1:\(geard.port)/healthz").status == 200 }
        let report = try curl("GET", "http://127.0.0.1:\(geard.port)/healthz").body
        #expect(healthy, "\(report)\n\(geard.log().suffix(3000))")

        // geard is frozen while etcd restarts and compacts past what geard applied: the watch cannot resume, so geard
        // reads everything again, and applies what it missed.
        kill(geard.process.processIdentifier, SIGSTOP)
        try await etcd.restart()
        try etcd.put("\(desired)/\(c4)", running)
        try etcd.etcdctl("del \(desired)/\(c3)")
        let revision = try #require(
            try etcd.etcdctl("get / -w json").output.firstMatch(of: /"revision":(\d+)/).flatMap { Int($0.1) })
        #expect(try etcd.etcdctl("compact \(revision)").status == 0)
        kill(geard.process.processIdentifier, SIGCONT)
        #expect(
            try await eventually(timeout: .seconds(30)) { try Self.status(geard, c4).active == "active" && Self.status(geard, c3).code == 404 },
            "\(geard.log())")
        #expect(geard.log().contains("compacted"))

        // Killed for longer than its lease: its observed entries expire (how an orchestrator learns a node is gone);
        // back, it reports again.
        #expect(try etcd.get("/gear/v1/observed/\(node)/node") != nil)
        await geard.stop(signal: SIGKILL)
        #expect(try await eventually(timeout: .seconds(15)) { try etcd.keys("/gear/v1/observed/\(node)/").isEmpty })
        try await geard.restart()
        #expect(try await eventually { try etcd.get("/gear/v1/observed/\(node)/node") != nil && Self.observed(etcd, node, c4) != nil })
        try etcd.etcdctl("del --prefix /gear/v1/desired/\(node)/")
        #expect(try await eventually { try [c1, c2, c4].allSatisfy { try Self.status(geard, $0).code == 404 } })
        await geard.stop()
    }
}

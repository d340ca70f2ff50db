import Foundation
import GearAPI
import GearAuthorization
import GearBus
import GearCertificates
import GearNATS
import Testing

/// geard `--nats` against the real nats-server: signed requests run the same operations as HTTPS (a container
/// installed and read over the bus is the one HTTPS shows), decided by the same policy (a reader cannot stop it),
/// and what is not a valid request is refused with nothing run and the refusal in the journal: an operation that is
/// not the one the subject names, a stream, a replay of the same signed request, an expired one, an unsigned one.
/// A flood past `--nats-max-in-flight` is answered 503 and every request gets an answer.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct NATSTransportTests {
    @Test func geardAnswersSignedRequestsAsItAnswersHTTPSAndRefusesTheRest() async throws {
        let broker = try await NATSBroker.start(nodes: ["busnode"], callers: ["orch"], readers: ["watcher"])
        let pki = broker.pki
        let geard = try await GeardProcess.start(arguments: [
            "--tls-cert", "\(pki)/busnode.crt", "--tls-key", "\(pki)/busnode.key", "--tls-ca", "\(pki)/ca.crt",
            "--https", "127.0.0.1:\(GeardProcess.freePort())", "--nats", broker.url, "--nats-max-in-flight", "2",
        ])
        defer { Task { await geard.stop() } }
        let (orch, orchClient) = try broker.caller("orch")
        let (watcher, watcherClient) = try broker.caller("watcher")
        let raw = try broker.client("orch")
        let tasks =
            [orchClient, watcherClient, raw].map { client in Task { try await client.run() } } + [
                Task { try await orch.listen() }, Task { try await watcher.listen() },
            ]
        defer { for task in tasks { task.cancel() } }
        // geard's transport is up once /healthz says so.
        let healthy = try await eventually(timeout: .seconds(20)) {
            (try? curl("GET", "http://127.0.0.1:\(geard.port)/healthz"))?.body.contains(#""name":"nats","ok":true"#) == true
        }
        #expect(healthy, "\(geard.log().suffix(2000))")
        for client in [orchClient, watcherClient, raw] { _ = try await eventually { client.counters.connections > 0 } }

        // Install and start over the bus; HTTPS sees the same container.
        let id = uniqueID("bus")
        let installed = try await orch.request(
            node: "busnode", operation: "container.install", method: "PUT", path: "/container/\(id)?wait=60",
            body: Array(#"{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true}"#.utf8), timeout: .seconds(70))
        #expect(installed.status == 200 && String(decoding: installed.body, as: UTF8.self).contains(#""succeeded""#), "\(installed)")
        let status = try await orch.request(node: "busnode", operation: "container.read", method: "GET", path: "/container/\(id)/status")
        #expect(status.status == 200 && String(decoding: status.body, as: UTF8.self).contains(#""subState":"running""#))
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/status").body.contains(#""subState":"running""#))
        // gear over the bus: one node's container, and a broadcast that names the silent node it expected.
        let tls = "--ca \(pki)/ca.crt --cert \(pki)/orch.crt --key \(pki)/orch.key --nats \(broker.url)"
        let one = try sh("\(Sandbox.gearPath) status \(tls) busnode/\(id) 2>&1")
        #expect(one.status == 0 && one.output.contains("busnode/\(id)") && one.output.contains("running"), "\(one.output)")
        let all = try sh("\(Sandbox.gearPath) status \(tls) @all --expect busnode --expect ghost --nats-wait 1 2>&1")
        #expect(all.status == 1 && all.output.contains("busnode/\(id)") && all.output.contains("ghost: silent"), "\(all.output)")
        let unknown = try sh("\(Sandbox.gearPath) status \(tls) busnode/nosuch 2>&1")
        #expect(unknown.status == 1 && unknown.output.contains("404"), "\(unknown.output)")

        // The same policy: a reader reads and cannot stop; the refusal is audited as the bus's.
        #expect(try await watcher.request(node: "busnode", operation: "container.read", method: "GET", path: "/container/\(id)/status").status == 200)
        let stop = try await watcher.request(node: "busnode", operation: "container.stop", method: "PUT", path: "/container/\(id)/stopped?wait=30")
        #expect(stop.status == 403, "\(String(decoding: stop.body, as: UTF8.self))")
        // Another operation than the subject names, and a stream, are refused before anything runs.
        let mismatch = try await watcher.request(node: "busnode", operation: "container.read", method: "PUT", path: "/container/\(id)/stopped")
        #expect(mismatch.status == 400 && String(decoding: mismatch.body, as: UTF8.self).contains("not container.read"))
        let stream = try await orch.request(node: "busnode", operation: "logs.read", method: "GET", path: "/container/\(id)/log")
        #expect(stream.status == 400 && String(decoding: stream.body, as: UTF8.self).contains("use HTTPS"))
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/status").body.contains(#""subState":"running""#))

        // The same signed request twice: the second is a replay. An expired one is refused.
        let replies = try await raw.subscribe(to: "gear.v1.rep.orch.busnode.>")
        try await raw.flush()
        let signer = try TokenSigner(certificateFile: "\(pki)/orch.crt", keyFile: "\(pki)/orch.key")
        func signed(iat: Int64) throws -> (NATSHeaders, String) {
            let rid = UUID().uuidString.lowercased()
            let claims = BusRequest.Claims(
                rid: rid, caller: "orch", node: "busnode", op: "container.read", method: "GET", path: "/container/\(id)/status",
                sha256: BusRequest.digest([UInt8]()), iat: iat, exp: iat + 60)
            var headers = NATSHeaders()
            try headers.append(BusRequest.header, try BusRequest.sign(claims, signer: signer))
            return (headers, rid)
        }
        let now = Int64(Date().timeIntervalSince1970)
        let (fresh, freshID) = try signed(iat: now)
        let (old, oldID) = try signed(iat: now - 3600)
        // One at a time, each answer awaited (the node handles at most 2 at once here).
        var statuses: [String: [Int]] = [:]
        var iterator = replies.makeAsyncIterator()
        for headers in [fresh, fresh, old] {
            try await raw.publish([], to: "gear.v1.req.busnode.container.read", headers: headers)
            let message = try #require(try await iterator.next())
            let reply = try BusReply(parsing: try #require(message.headers?[BusReply.header]))
            statuses[reply.claims.rid, default: []].append(reply.claims.status)
        }
        #expect(statuses[freshID] == [200, 409] && statuses[oldID] == [401], "\(statuses)")
        // Unsigned (sent once the others are answered, under --nats-max-in-flight 2): from nobody, not answered.
        try await raw.publish([], to: "gear.v1.req.busnode.container.read", replyTo: "gear.v1.rep.orch.busnode.\(UUID().uuidString.lowercased())")
        try await raw.flush()
        // The unsigned request gets no answer to wait for: its refusal reaches the journal on its own time.
        var journal = ""
        let audited = try await eventually {
            journal = try sh("journalctl --no-pager -o cat GEAR_AUDIT=1 GEAR_AUTH_DECISION=deny GEAR_TRANSPORT=nats").output
            return journal.contains("not signed") && journal.contains("replay") && journal.contains("expired")
        }
        #expect(audited, "\(journal.suffix(2000))")
        let denied = try sh(
            "journalctl --no-pager -o cat GEAR_AUDIT=1 GEAR_AUTH_DECISION=deny GEAR_TRANSPORT=nats GEAR_AUTH_OPERATION=container.stop")
        #expect(denied.output.contains("reader"), "\(denied.output)")

        // A flood past --nats-max-in-flight 2: every request answered, some 503.
        let flood = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await orch.request(node: "busnode", operation: "container.list", method: "GET", path: "/containers", timeout: .seconds(20))
                        .status
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(flood.count == 40 && flood.allSatisfy { $0 == 200 || $0 == 503 } && flood.contains(503), "\(flood)")
        let deleted = try await orch.request(node: "busnode", operation: "container.delete", method: "DELETE", path: "/container/\(id)?wait=60")
        #expect(deleted.status == 200)
    }

    @Test func aBrokerThatRefusesTheNodeItsSubjectsNeverStopsGeard() async throws {
        let broker = try await NATSBroker.start(nodes: ["busnode"], callers: ["orch"])
        let pki = broker.pki
        // A configuration edited by hand that leaves the node the broadcasts out.
        let config = try String(contentsOfFile: broker.configPath, encoding: .utf8)
        try config.replacingOccurrences(of: #", "gear.v1.bcast.>"] } } }"#, with: "] } } }").write(
            toFile: broker.configPath, atomically: true, encoding: .utf8)
        broker.reload()
        try await Task.sleep(for: .milliseconds(300))
        let geard = try await GeardProcess.start(arguments: [
            "--tls-cert", "\(pki)/busnode.crt", "--tls-key", "\(pki)/busnode.key", "--tls-ca", "\(pki)/ca.crt",
            "--https", "127.0.0.1:\(GeardProcess.freePort())", "--nats", broker.url,
        ])
        defer { Task { await geard.stop() } }
        let reported = try await eventually(timeout: .seconds(20)) {
            let health = try curl("GET", "http://127.0.0.1:\(geard.port)/healthz")
            return health.status == 503 && health.body.contains("refuses this node gear.v1.bcast.>")
        }
        #expect(reported, "\(geard.log().suffix(2000))")
        let serving = try curl("GET", "http://127.0.0.1:\(geard.port)/containers").status == 200
        #expect(geard.process.isRunning && serving)
        // Its own requests are still answered.
        let (orch, orchClient) = try broker.caller("orch")
        let tasks = [Task { try await orchClient.run() }, Task { try await orch.listen() }]
        defer { for task in tasks { task.cancel() } }
        _ = try await eventually { orchClient.counters.connections > 0 }
        try await orchClient.flush()
        #expect(try await orch.request(node: "busnode", operation: "node.read", method: "GET", path: "/node").status == 200)
        // The broker set right (and reloaded): the node listens again within its retry.
        try broker.configure(nodes: ["busnode"], callers: ["orch"])
        broker.reload()
        let healthy = try await eventually(timeout: .seconds(30)) {
            (try? curl("GET", "http://127.0.0.1:\(geard.port)/healthz"))?.body.contains(#""name":"nats","ok":true"#) == true
        }
        #expect(healthy, "\(geard.log().suffix(2000))")
    }
}

import Foundation
import GearAPI
import GearClient
import Testing

/// Health checks against real containers: an HTTP check on a podman container's published port, a command check run
/// inside an exec container that restarts it when it fails, a TCP check and its start period; status, list, events,
/// `/node` and `/metrics` show health; bad check fields are refused and install nothing.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct HealthCheckTests {
    static func status(_ geard: GeardProcess, _ id: String) throws -> ContainerStatus {
        let answer = try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/status")
        guard answer.status == 200 else { throw TestFailure("status of \(id): \(answer.status) \(answer.body)") }
        return try GearJSON.decoder().decode(ContainerStatus.self, from: Data(answer.body.utf8))
    }

    static func health(_ geard: GeardProcess, _ id: String) throws -> HealthStatus? {
        try status(geard, id).health
    }

    static func events(_ geard: GeardProcess, _ id: String) throws -> [GearEvent] {
        let body = try curl("GET", "http://127.0.0.1:\(geard.port)/events?since=0&follow=0").body
        return try body.split(separator: "\n").map { try GearJSON.decoder().decode(GearEvent.self, from: Data($0.utf8)) }
            .filter { $0.container == id }
    }

    static func exec(_ geard: GeardProcess, _ id: String, _ command: String) throws {
        let body = try JSONEncoder().encode(["Cmd": ["sh", "-c", command]])
        let answer = try curl("POST", "http://127.0.0.1:\(geard.port)/container/\(id)/exec", body: String(decoding: body, as: UTF8.self))
        #expect(answer.status == 200 && answer.body.contains(#""exitCode":0"#), "\(answer.body)")
    }

    @Test func anHTTPCheckOnAPodmanContainersPublishedPort() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("health-http")
        let install = try curl(
            "PUT", "http://127.0.0.1:\(geard.port)/container/\(id)?wait=60",
            body: #"""
                {"Image":"localhost/busybox","Cmd":["sh","-c","mkdir -p /w && echo fine > /w/ok && exec httpd -f -p 8080 -h /w"],
                 "Ports":[{"Internal":8080}],"Started":true,
                 "HealthHTTP":{"Port":8080,"Path":"/ok"},"HealthInterval":"1s","HealthTimeout":"2s","HealthRetries":2}
                """#)
        #expect((install.status == 200 || install.status == 201) && install.body.contains(#""state":"succeeded""#), "\(install.body)")
        #expect(try await eventually(timeout: .seconds(30)) { try Self.health(geard, id)?.status == "healthy" })
        let healthy = try #require(try Self.health(geard, id))
        #expect(healthy.failingStreak == 0 && healthy.log.last?.healthy == true)
        #expect(healthy.log.last?.output.hasPrefix("HTTP/1.") == true && healthy.log.last?.output.contains("200") == true, "\(healthy)")
        // The list carries it too, and /node counts it.
        let list = try curl("GET", "http://127.0.0.1:\(geard.port)/containers").body
        #expect(list.contains(#""health":{"failingStreak":0"#), "\(list.prefix(400))")
        let node = try GearJSON.decoder().decode(NodeInfo.self, from: Data(try curl("GET", "http://127.0.0.1:\(geard.port)/node").body.utf8))
        #expect((node.containers.byHealth?["healthy"] ?? 0) >= 1, "\(node.containers)")

        // The page goes away: 404 twice in a row makes it unhealthy, with the answer in the log and an event.
        try Self.exec(geard, id, "rm /w/ok")
        #expect(try await eventually(timeout: .seconds(30)) { try Self.health(geard, id)?.status == "unhealthy" })
        let unhealthy = try #require(try Self.health(geard, id))
        #expect(unhealthy.failingStreak >= 2 && unhealthy.log.last?.output.contains("404") == true, "\(unhealthy)")
        let types = try Self.events(geard, id).map(\.type)
        #expect(types.contains(.healthy) && types.contains(.unhealthy), "\(types)")
        let unhealthyEvent = try #require(try Self.events(geard, id).first { $0.type == .unhealthy })
        #expect(unhealthyEvent.message?.contains("404") == true, "\(unhealthyEvent)")
        let metrics = try curl("GET", "http://127.0.0.1:\(geard.port)/metrics").body
        #expect(metrics.contains(#"gear_containers_health{status="unhealthy"}"#), "\(metrics.prefix(300))")
        #expect(metrics.contains(#"gear_health_checks_total{result="unhealthy"}"#))
        // HealthOnFailure none (the default): it keeps running.
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/status").body.contains(#""subState":"running""#))

        // Stopped, it has no health.
        _ = try await geard.client.stop(id, wait: 60)
        #expect(try await eventually(timeout: .seconds(10)) { try Self.health(geard, id) == nil })
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func aFailingCommandCheckRestartsAnExecContainer() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("health-cmd")
        let install = try curl(
            "PUT", "http://127.0.0.1:\(geard.port)/container/\(id)?wait=60",
            body: #"""
                {"Runtime":"exec","Cmd":["/bin/sh","-c","touch /tmp/ok; exec sleep 100000"],"Started":true,
                 "HealthCmd":["/bin/sh","-c","test -f /tmp/ok && echo fine in $(pwd)"],"HealthInterval":1,"HealthRetries":2,
                 "HealthOnFailure":"restart"}
                """#)
        #expect((install.status == 200 || install.status == 201) && install.body.contains(#""state":"succeeded""#), "\(install.body)")
        #expect(try await eventually(timeout: .seconds(30)) { try Self.health(geard, id)?.status == "healthy" })
        #expect(try Self.health(geard, id)?.log.last?.output.hasPrefix("fine in") == true)
        let firstPID = try #require(try Self.status(geard, id).mainPID)

        // The check runs in the unit's private /tmp: removing the file there fails it, and the restart that
        // follows makes a new run whose file is back.
        try Self.exec(geard, id, "rm /tmp/ok")
        #expect(
            try await eventually(timeout: .seconds(30)) {
                let status = try Self.status(geard, id)
                return status.mainPID != nil && status.mainPID != firstPID && status.health?.status == "healthy"
            })
        let types = try Self.events(geard, id).map(\.type)
        let unhealthy = try #require(types.firstIndex(of: .unhealthy))
        #expect(types[unhealthy...].contains(.healthy), "healthy again after the restart: \(types)")
        let jobs = try curl("GET", "http://127.0.0.1:\(geard.port)/jobs?container=\(id)").body
        #expect(jobs.contains(#""kind":"restart""#), "the restart is a job: \(jobs.prefix(400))")
        _ = try await geard.client.delete(id, wait: 60)
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/status").status == 404)
    }

    @Test func aTCPCheckAndItsStartPeriod() async throws {
        let geard = try await SharedGeard.get()
        let port = Int.random(in: 20_000..<30_000)
        let listening = uniqueID("health-tcp")
        let install = try curl(
            "PUT", "http://127.0.0.1:\(geard.port)/container/\(listening)?wait=60",
            body:
                #"{"Runtime":"exec","Cmd":["/bin/busybox","httpd","-f","-p","127.0.0.1:\#(port)","-h","/tmp"],"Started":true,"HealthTCP":\#(port),"HealthInterval":"1s"}"#
        )
        #expect((install.status == 200 || install.status == 201) && install.body.contains(#""state":"succeeded""#), "\(install.body)")
        #expect(try await eventually(timeout: .seconds(30)) { try Self.health(geard, listening)?.status == "healthy" })
        #expect(try Self.health(geard, listening)?.log.last?.output == "connected to 127.0.0.1:\(port)")

        // Nothing listens on port 1: checks fail, but within the start period they do not count. The install's job
        // waits for health (the start period's hour at most) ...
        let waiting = uniqueID("health-start")
        let second = try curl(
            "PUT", "http://127.0.0.1:\(geard.port)/container/\(waiting)?wait=2",
            body:
                #"{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true,"HealthTCP":1,"HealthInterval":"1s","HealthRetries":1,"HealthStartPeriod":"1h"}"#
        )
        #expect(second.status == 202 && second.body.contains(#""state":"running""#), "\(second.body)")
        let installJob = try GearJSON.decoder().decode(Job.self, from: Data(second.body.utf8))
        #expect(try await eventually(timeout: .seconds(30)) { (try Self.health(geard, waiting)?.log.count ?? 0) >= 3 })
        let health = try #require(try Self.health(geard, waiting))
        #expect(health.status == "starting" && health.failingStreak == 0, "\(health)")
        #expect(health.log.allSatisfy { !$0.healthy && $0.output.contains("cannot connect") }, "\(health)")
        // ... until a later job for the container comes: the delete does not wait behind it.
        let began = ContinuousClock.now
        _ = try await geard.client.delete(listening, wait: 60)
        let deleted = try await geard.client.delete(waiting, wait: 60)
        #expect(deleted.job.state == .succeeded && ContinuousClock.now - began < .seconds(20))
        let ended = try await geard.client.job(installJob.id)
        #expect(ended.state == .failed && ended.error?.error == "unhealthy", "\(ended)")
        #expect(ended.error?.message.contains("a later job for it ended the wait") == true, "\(ended)")
    }

    /// A start waits for health (Quadlet's `Notify=healthy`): its job succeeds once a check passed, and fails with
    /// the check's output when the container becomes unhealthy instead.
    @Test func aStartSucceedsOnlyOnceHealthyAndFailsWithTheChecksOutput() async throws {
        let geard = try await SharedGeard.get()
        let slow = uniqueID("health-slow")
        let began = ContinuousClock.now
        let install = try curl(
            "PUT", "http://127.0.0.1:\(geard.port)/container/\(slow)?wait=60",
            body: #"""
                {"Runtime":"exec","Cmd":["/bin/sh","-c","sleep 3; touch /tmp/ready; exec sleep 100000"],"Started":true,
                 "HealthCmd":["/bin/sh","-c","test -f /tmp/ready && echo ready"],"HealthInterval":"1s","HealthRetries":10}
                """#)
        #expect(install.status == 200 || install.status == 201, "\(install.body)")
        #expect(install.body.contains(#""state":"succeeded""#), "\(install.body)")
        #expect(ContinuousClock.now - began >= .seconds(3), "the job waited for the first passing check")
        #expect(try Self.health(geard, slow)?.status == "healthy")
        // A restart starts over from `starting`, and its job too ends healthy.
        let restart = try await geard.client.restart(slow, wait: 60)
        #expect(restart.job.state == .succeeded)
        #expect(try Self.health(geard, slow)?.status == "healthy")

        let broken = uniqueID("health-never")
        let refused = try curl(
            "PUT", "http://127.0.0.1:\(geard.port)/container/\(broken)?wait=60",
            body: #"""
                {"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true,
                 "HealthCmd":["/bin/sh","-c","echo not listening yet; exit 3"],"HealthInterval":"1s","HealthRetries":2}
                """#)
        #expect(refused.status == 422, "\(refused.body)")
        let error = try GearJSON.decoder().decode(APIError.self, from: Data(refused.body.utf8))
        #expect(error.error == "unhealthy" && error.job?.state == .failed, "\(refused.body)")
        #expect(
            error.message.contains("unhealthy after 2 failed checks") && error.message.contains("exit status 3: not listening yet"),
            "\(error.message)")
        // The container was installed and runs (HealthOnFailure none): only the job says it never became healthy.
        #expect(try Self.status(geard, broken).activeState == "active")
        let start = try curl("PUT", "http://127.0.0.1:\(geard.port)/container/\(broken)/started?wait=60")
        #expect(start.status == 422 && start.body.contains(#""error":"unhealthy""#), "\(start.body)")
        _ = try await geard.client.delete(slow, wait: 60)
        _ = try await geard.client.delete(broken, wait: 60)
    }

    @Test(
        arguments: [
            (#""HealthTCP":8080"#, "is not published"),
            (#""Ports":[{"Internal":80}],"HealthTCP":80,"HealthCmd":["true"]"#, "give one health check"),
            (#""HealthCmd":["true"],"HealthInterval":"0.5s""#, "at least 1s"),
            (#""HealthCmd":["true"],"HealthInterval":"1y""#, "HealthInterval must be"),
            (#""HealthCmd":["true"],"HealthRetries":0"#, "HealthRetries"),
            (#""HealthCmd":["true"],"HealthOnFailure":"explode""#, "HealthOnFailure"),
            (#""HealthInterval":"30s""#, "needs a health check"),
            (#""Ports":[{"Internal":80}],"HealthHTTP":{"Port":80,"Path":"no-slash"}"#, "HealthHTTP.Path"),
            (#""Ports":[{"Internal":80}],"HealthHTTP":{"Path":"/"}"#, "Port"),
            (#""HealthCmd":[]"#, "HealthCmd"),
            (#""HealthCmd":["sh","-c","echo\u0000x"]"#, "HealthCmd"),
        ])
    func badHealthFieldsAreRefusedAndInstallNothing(_ fields: String, _ message: String) async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("health-bad")
        let answer = try curl(
            "PUT", "http://127.0.0.1:\(geard.port)/container/\(id)", body: #"{"Image":"localhost/busybox","Started":true,\#(fields)}"#)
        #expect(answer.status == 400, "\(answer.body)")
        #expect(answer.body.contains(message), "\(answer.body)")
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/status").status == 404)
    }
}

import Foundation
import GearAPI
import GearClient
import Testing

/// `/node`, `/healthz`, `/readyz` against the real host, systemd and podman of the sandbox.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct NodeTests {
    @Test func nodeTellsTheHostsFactsAndWhatWasGranted() async throws {
        let geard = try await GeardProcess.start(arguments: ["--port-range", "4500-4509"])
        let before = try await geard.client.node()
        let hostname = try sh("hostname").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let machineID = try String(contentsOfFile: "/etc/machine-id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let kernel = try sh("uname -r").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let systemdVersion = try sh("systemctl --version").output
        let podmanVersion = try sh("podman --version").output
        #expect(before.hostname == hostname)
        #expect(before.machineID == machineID)
        #expect(before.bootID.count == 36)
        #expect(before.kernel == kernel)
        #expect(systemdVersion.hasPrefix("systemd \(before.systemdVersion.split(separator: ".").first ?? "")"))
        #expect(before.podmanVersion.map { podmanVersion.contains($0) } == true)
        #expect(before.cpus == ProcessInfo.processInfo.activeProcessorCount)
        #expect(before.memory.totalBytes > before.memory.availableBytes && before.memory.availableBytes > 0)
        #expect(before.disk.path == geard.stateDir && before.disk.totalBytes >= before.disk.freeBytes && before.disk.freeBytes > 0)
        #expect(before.ports.first == 4500 && before.ports.last == 4509 && before.ports.allocated == 0 && before.ports.free == 10)
        #expect(before.containers.total == 0 && before.granted.memoryBytes == 0 && before.granted.cpus == 0)

        let id = uniqueID("node")
        let web = InstallRequest(
            image: "localhost/busybox", cmd: ["httpd", "-f", "-p", "8080"], started: true,
            ports: [PortRequest(internal: 8080), PortRequest(internal: 8081)], memory: "64M", cpus: 0.5)
        #expect(try await geard.client.install(id, web, wait: 60).job.state == .succeeded)
        let idle = uniqueID("node")
        let sleeper = InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: false, memory: "32M", cpus: 0.25)
        #expect(try await geard.client.install(idle, sleeper, wait: 60).job.state == .succeeded)

        let after = try await geard.client.node()
        #expect(after.ports.allocated == 2 && after.ports.free == 8)
        #expect(after.containers.total == 2 && after.containers.started == 1)
        #expect(after.containers.byState["active"] == 1 && after.containers.byState["inactive"] == 1)
        #expect(after.granted.memoryBytes == 96 << 20 && after.granted.cpus == 0.75)

        let gear = try sh("\(Sandbox.gearPath) node 127.0.0.1:\(geard.port)")
        #expect(gear.status == 0 && gear.output.contains(after.hostname) && gear.output.contains("8/10"), "\(gear.output)")

        _ = try await geard.client.delete(id, wait: 60)
        _ = try await geard.client.delete(idle, wait: 60)
        await geard.stop()
    }

    /// Two schedulers racing for the last room of the node with `IfFits`: exactly one install is accepted, the other
    /// answers 409 `insufficient_capacity` with what is left, and nothing of it is written.
    @Test func twoInstallsRacingForTheLastRoomCannotBothWin() async throws {
        let geard = try await GeardProcess.start()
        let node = try await geard.client.node()
        let share = node.memory.totalBytes / 5 * 3
        let ids = [uniqueID("fit"), uniqueID("fit")]
        let body = #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"Started":true,"Memory":\#(share),"IfFits":true}"#
        let dir = NSTemporaryDirectory() + ids[0]
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // One curl, both transfers at once (-Z): a shell waiting on background curls hung under the test runner.
        let base = "http://127.0.0.1:\(geard.port)/container"
        let race = try sh(
            "curl -s --no-progress-meter -Z --parallel-immediate -X PUT -H 'Content-Type: application/json' -d '\(body)' -w '%{url_effective} %{http_code}\\n' "
                + ids.map { "-o \(dir)/\($0).json \(base)/\($0)" }.joined(separator: " "))
        let answers = Dictionary(
            uniqueKeysWithValues: race.output.split(separator: "\n").filter { $0.hasPrefix("http") }.map { line in
                let parts = line.split(separator: " ")
                return (String(parts[0].split(separator: "/").last ?? ""), String(parts[1]))
            })
        #expect(answers.values.sorted() == ["202", "409"], "\(race.output)")
        let winner = try #require(answers.first { $0.value == "202" }?.key)
        let loser = try #require(answers.first { $0.value == "409" }?.key)
        let refusal = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(loser).json"))) as? [String: Any]
        #expect(refusal?["error"] as? String == "insufficient_capacity", "\(String(describing: refusal))")
        #expect((refusal?["message"] as? String)?.contains("left") == true)
        let listed = try await geard.client.list().containers.map(\.id)
        #expect(listed.contains(winner) && !listed.contains(loser))
        #expect(try sh("systemctl cat ctr-\(loser).service").status != 0)
        // Without IfFits the same install is taken: limits may add up to more than the node has.
        let loose = try curl(
            "PUT", "http://127.0.0.1:\(geard.port)/container/\(loser)", body: body.replacingOccurrences(of: #","IfFits":true"#, with: ""),
            headers: [("Content-Type", "application/json")])
        #expect(loose.status == 202, "\(loose.body)")
        for id in ids { _ = try await geard.client.delete(id, wait: 60) }
        await geard.stop()
    }

    @Test func healthAndReadinessCheckTheirParts() async throws {
        let geard = try await GeardProcess.start()
        let health = try curl("GET", "http://127.0.0.1:\(geard.port)/healthz")
        #expect(health.status == 200, "\(health.body)")
        let report = try health.decode(HealthReport.self)
        #expect(report.status == "ok" && Set(report.checks.map(\.name)) == ["systemd", "journal", "state", "disk"])
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/readyz").status == 200)

        // Without its state directory geard is not healthy, and says why. (The directory is moved away and back,
        // not removed: systemd links to its units, and this sandbox's other geards may share them.)
        try FileManager.default.moveItem(atPath: geard.stateDir, toPath: geard.stateDir + ".away")
        let broken = try curl("GET", "http://127.0.0.1:\(geard.port)/healthz")
        try FileManager.default.moveItem(atPath: geard.stateDir + ".away", toPath: geard.stateDir)
        #expect(broken.status == 503 && broken.headers["retry-after"] == "5")
        let failing = try broken.decode(HealthReport.self).checks.filter { !$0.ok }.map(\.name)
        #expect(failing.contains("state"), "\(broken.body)")
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/healthz").status == 200)
        await geard.stop()
    }
}

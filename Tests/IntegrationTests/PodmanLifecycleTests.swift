import Foundation
import GearAPI
import GearClient
import NIOHTTP1
import Testing

/// The container lifecycle with the podman runtime, end to end: geard's documented request bodies, a real
/// container under systemd serving on its allocated port, stop/start/restart, and delete leaving nothing behind.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct PodmanLifecycleTests {
    @Test func lifecycleFromInstallToDelete() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("web")
        let unit = "ctr-\(id).service"
        // geard's field names and casing, as its curl examples send them.
        let body =
            #"{"Image":"localhost/busybox","Cmd":["httpd","-f","-p","8080","-h","/www"],"Ports":[{"Internal":8080}],"Started":true,"Volumes":[{"Name":"www","Path":"/www"}]}"#
        let installed = try await geard.client.send(.PUT, "/container/\(id)?wait=90", body: Data(body.utf8))
        #expect(installed.status == 200, "\(String(decoding: installed.body, as: UTF8.self))")
        let mapping = try #require(installed.header("X-PortMapping"))
        let external = try #require(Int(mapping.split(separator: ":").last ?? ""))
        #expect(mapping == "8080:\(external)")
        #expect(try installed.decode(Job.self).state == .succeeded)
        #expect(try unitProperty(unit, "ActiveState") == "active")
        #expect(try unitProperty(unit, "Slice") == "gear.slice")

        // The container serves its volume on the allocated external port.
        let page = "hello from \(id)\n"
        try page.write(toFile: "\(geard.stateDir)/volumes/\(id)/www/index.html", atomically: true, encoding: .utf8)
        let served = try sh("curl -s --max-time 5 http://127.0.0.1:\(external)/index.html")
        #expect(served.output == page)

        let status = try await geard.client.status(id)
        #expect(status.activeState == "active" && status.subState == "running" && status.started)
        #expect(status.mainPID.map(String.init) == (try unitProperty(unit, "MainPID")))
        #expect(status.ports == [PortMapping(internal: 8080, external: external)])

        // Stop leaves no container behind.
        let stopped = try await geard.client.stop(id, wait: 60)
        #expect(stopped.job.state == .succeeded)
        #expect(try unitProperty(unit, "ActiveState") == "inactive")
        #expect(try sh("podman ps -a -q --filter name=^ctr-\(id)$").output.isEmpty)
        #expect(try await geard.client.status(id).started == false)

        let started = try await geard.client.start(id, wait: 60)
        #expect(started.job.state == .succeeded)
        let firstPID = try unitProperty(unit, "MainPID")
        #expect(try sh("curl -s --max-time 5 http://127.0.0.1:\(external)/index.html").output == page)

        let restarted = try await geard.client.restart(id, wait: 60)
        #expect(restarted.job.state == .succeeded)
        let secondPID = try unitProperty(unit, "MainPID")
        #expect(secondPID != firstPID && secondPID != "0")

        let list = try await geard.client.list()
        #expect(list.containers.contains { $0.id == id && $0.activeState == "active" })
        #expect(try await geard.client.ports(id) == [PortMapping(internal: 8080, external: external)])

        // Delete: unit, state, volume and port are gone.
        let deleted = try await geard.client.delete(id, wait: 60)
        #expect(deleted.job.state == .succeeded)
        #expect(try unitProperty(unit, "LoadState") == "not-found")
        #expect(!FileManager.default.fileExists(atPath: "/etc/systemd/system/\(unit)"))
        #expect(!FileManager.default.fileExists(atPath: "\(geard.stateDir)/containers/\(id).json"))
        #expect(!FileManager.default.fileExists(atPath: "\(geard.stateDir)/units/\(unit)"))
        #expect(!FileManager.default.fileExists(atPath: "\(geard.stateDir)/volumes/\(id)"))
        #expect(try sh("podman ps -a -q --filter name=^ctr-\(id)$").output.isEmpty)
        let gone = try await geard.client.send(.GET, "/container/\(id)/status")
        #expect(gone.status == 404)

        // Its port is free again: another container may take it explicitly.
        let other = uniqueID("web2")
        let reuse = try await geard.client.install(
            other,
            InstallRequest(
                image: "localhost/busybox", cmd: ["httpd", "-f", "-p", "8080"], started: false,
                ports: [PortRequest(internal: 8080, external: external)]),
            wait: 60)
        #expect(reuse.job.state == .succeeded)
        _ = try await geard.client.delete(other, wait: 60)
    }

    @Test func replacingARunningContainerRestartsItAndKeepsItsPort() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("repl")
        let unit = "ctr-\(id).service"
        let first = try await geard.client.install(
            id, InstallRequest(image: "localhost/busybox", cmd: ["httpd", "-f", "-p", "8080"], started: true, ports: [PortRequest(internal: 8080)]),
            wait: 90)
        #expect(first.job.state == .succeeded)
        let pid = try unitProperty(unit, "MainPID")
        let port = try await geard.client.ports(id)

        // The same definition again changes nothing: no restart.
        let same = try await geard.client.install(
            id, InstallRequest(image: "localhost/busybox", cmd: ["httpd", "-f", "-p", "8080"], started: true, ports: [PortRequest(internal: 8080)]),
            wait: 90)
        #expect(same.job.state == .succeeded)
        #expect(try unitProperty(unit, "MainPID") == pid)

        let replaced = try await geard.client.install(
            id,
            InstallRequest(
                image: "localhost/busybox", cmd: ["httpd", "-f", "-p", "8080", "-v"], started: true, ports: [PortRequest(internal: 8080)],
                environment: [EnvironmentVariable(name: "MODE", value: "two")]),
            wait: 90)
        #expect(replaced.job.state == .succeeded)
        #expect(try unitProperty(unit, "ActiveState") == "active")
        #expect(try unitProperty(unit, "MainPID") != pid)
        #expect(try await geard.client.ports(id) == port)
        #expect(try sh("podman inspect ctr-\(id) --format '{{range .Config.Env}}{{println .}}{{end}}'").output.contains("MODE=two"))
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func aContainerThatCannotStartFailsItsJobWithItsLog() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("broken")
        let answer = try await geard.client.send(
            .PUT, "/container/\(id)?wait=90",
            body: Data(#"{"Image":"localhost/no-such-image","Started":true,"Restart":"no"}"#.utf8))
        #expect(answer.status == 422)
        let error = try answer.decode(APIError.self)
        #expect(error.error == "unit_failed")
        #expect(error.message.contains("ctr-\(id).service failed to start"))
        #expect(error.job?.state == .failed)
        _ = try await geard.client.delete(id, wait: 60)
    }

    /// A unit that fails (here conmon, its main process, is killed) gets its podman leftovers removed by its
    /// `OnFailure=` cleanup unit; a clean stop runs no cleanup at all, and the container starts again either way.
    @Test func aFailedUnitsContainerIsCleanedUpAndACleanStopNeedsNoCleanup() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("crash")
        let unit = "ctr-\(id).service"
        let cleanup = "gear-podman-cleanup@ctr-\(id).service"
        let podmanRecord = "podman ps -a -q --filter name=^ctr-\(id)$"
        func cleanups() throws -> Int {
            Int(
                try sh("journalctl -q --no-pager -o cat _PID=1 UNIT=\(cleanup) | grep -c '^Starting' || true").output.trimmingCharacters(
                    in: .whitespacesAndNewlines)) ?? -1
        }
        let installed = try await geard.client.install(
            id, InstallRequest(image: "localhost/busybox", cmd: ["sleep", "100000"], started: true, restart: "no"), wait: 90)
        #expect(installed.job.state == .succeeded)
        #expect(try !sh(podmanRecord).output.isEmpty)

        let conmon = try unitProperty(unit, "MainPID")
        #expect(conmon != "0")
        #expect(try sh("kill -9 \(conmon)").status == 0)
        #expect(try await eventually { try unitProperty(unit, "ActiveState") == "failed" })
        #expect(try await eventually { try sh(podmanRecord).output.isEmpty }, "podman still holds the killed container")
        #expect(try await eventually { try unitProperty(cleanup, "ActiveState") == "inactive" })
        #expect(try cleanups() == 1)
        #expect(try await geard.client.status(id).activeState == "failed")

        // It starts again, and a clean stop leaves nothing for a cleanup to do: none runs.
        #expect(try await geard.client.start(id, wait: 60).job.state == .succeeded)
        #expect(try await geard.client.stop(id, wait: 60).job.state == .succeeded)
        #expect(try sh(podmanRecord).output.isEmpty)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try cleanups() == 1)
        _ = try await geard.client.delete(id, wait: 60)
    }
}

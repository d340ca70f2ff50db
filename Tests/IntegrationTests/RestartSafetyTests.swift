import Foundation
import GearAPI
import GearClient
import NIOHTTP1
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// geard may stop or die at any moment: containers keep running, state is rebuilt from disk and systemd, and
/// every accepted job ends up done or visibly failed.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct RestartSafetyTests {
    @Test(arguments: [SIGTERM, SIGKILL])
    func containersKeepRunningAcrossARestartOfGeard(signal: Int32) async throws {
        let geard = try await GeardProcess.start()
        let exec = uniqueID("keep")
        let web = uniqueID("keepweb")
        let finished = try await geard.client.install(exec, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true), wait: 60)
        _ = try await geard.client.install(
            web, InstallRequest(image: "localhost/busybox", cmd: ["httpd", "-f", "-p", "8080"], started: true, ports: [PortRequest(internal: 8080)]),
            wait: 90)
        let execPID = try unitProperty("ctr-\(exec).service", "MainPID")
        let webPID = try unitProperty("ctr-\(web).service", "MainPID")
        let ports = try await geard.client.ports(web)

        try await geard.restart(signal: signal)

        #expect(try unitProperty("ctr-\(exec).service", "MainPID") == execPID)
        #expect(try unitProperty("ctr-\(web).service", "MainPID") == webPID)
        let status = try await geard.client.status(exec)
        #expect(status.mainPID.map(String.init) == execPID && status.activeState == "active")
        #expect(try await geard.client.ports(web) == ports)
        #expect(Set(try await geard.client.list().containers.map(\.id)) == [exec, web])
        // Jobs survive too.
        #expect(try await geard.client.job(finished.job.id) == finished.job)
        // The allocated port stays taken: a new container gets another one.
        let other = uniqueID("other")
        let next = try await geard.client.install(
            other, InstallRequest(image: "localhost/busybox", cmd: ["httpd", "-f", "-p", "8080"], ports: [PortRequest(internal: 8080)]), wait: 60)
        #expect(next.job.result?.container?.ports.first?.externalPort != ports.first?.externalPort)
        for id in [exec, web, other] { _ = try await geard.client.delete(id, wait: 60) }
        await geard.stop()
    }

    @Test func aSIGKILLDuringFiftyConcurrentInstallsLosesNothing() async throws {
        let geard = try await GeardProcess.start()
        let ids = (0..<50).map { String(format: "kill-%02d", $0) + "-" + uniqueID("k").suffix(6) }
        let request = InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true)
        // Fire all installs; kill geard once a few of them have finished.
        let accepted = try await withThrowingTaskGroup(of: Job?.self) { group in
            for id in ids {
                group.addTask { try? await geard.client.install(id, request).job }
            }
            group.addTask {
                _ = try? await eventually(timeout: .seconds(30)) {
                    let jobs = (try? await geard.client.send(.GET, "/jobs?limit=100").decode(JobList.self).jobs) ?? []
                    return jobs.filter { $0.state == .succeeded }.count >= 5
                }
                await geard.stop(signal: SIGKILL)
                return nil
            }
            return try await group.reduce(into: [Job]()) { if let job = $1 { $0.append(job) } }
        }
        #expect(!accepted.isEmpty)
        try await geard.restart()

        // Every accepted job is done or visibly failed, never lost or stuck.
        var succeeded = 0
        for job in accepted {
            let now = try await geard.client.job(job.id)
            #expect(now.state == .succeeded || (now.state == .failed && now.error?.error == "interrupted"), "\(now)")
            if now.state == .succeeded { succeeded += 1 }
        }
        #expect(succeeded > 0)
        print("SIGKILL during 50 installs: \(accepted.count) accepted, \(succeeded) succeeded, \(accepted.count - succeeded) failed as interrupted")
        // No torn or stray file: no temporaries, every unit file whole and backed by a definition.
        #expect(try sh("find \(geard.stateDir) -name '.tmp-*'").output.isEmpty)
        let definitions = Set(try FileManager.default.contentsOfDirectory(atPath: "\(geard.stateDir)/containers").map { String($0.dropLast(5)) })
        let units = try FileManager.default.contentsOfDirectory(atPath: "\(geard.stateDir)/units").filter { $0.hasPrefix("ctr-") }
        #expect(Set(units.map { String($0.dropFirst(4).dropLast(8)) }) == definitions)
        for unit in units {
            let text = try String(contentsOfFile: "\(geard.stateDir)/units/\(unit)", encoding: .utf8)
            #expect(text.hasSuffix("[Install]\nWantedBy=gear-active.target\n"))
            #expect(try unitProperty(unit, "LoadState") == "loaded")
        }
        // Each succeeded install really runs.
        for job in accepted where try await geard.client.job(job.id).state == .succeeded {
            #expect(try await geard.client.status(job.container).activeState == "active")
        }
        let list = try await geard.client.list().containers.map(\.id)
        for id in list { _ = try await geard.client.delete(id, wait: 60) }
        await geard.stop()
    }

    @Test func startedContainersAreWantedAtBootAndStoppedOnesAreNot() async throws {
        let geard = try await GeardProcess.start()
        let up = uniqueID("bootup")
        let down = uniqueID("bootdown")
        _ = try await geard.client.install(up, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true), wait: 60)
        _ = try await geard.client.install(down, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true), wait: 60)
        _ = try await geard.client.stop(down, wait: 60)
        #expect(try sh("systemctl daemon-reload").status == 0)
        let wants = try unitProperty("gear-active.target", "Wants")
        #expect(wants.contains("ctr-\(up).service") && !wants.contains("ctr-\(down).service"))
        #expect(try unitProperty("multi-user.target", "Wants").contains("gear-active.target"))

        // As at boot: with everything stopped, starting the target starts exactly the started containers.
        try sh("systemctl stop ctr-\(up).service ctr-\(down).service")
        #expect(try sh("systemctl start gear-active.target").status == 0)
        #expect(try unitProperty("ctr-\(up).service", "ActiveState") == "active")
        #expect(try unitProperty("ctr-\(down).service", "ActiveState") == "inactive")
        for id in [up, down] { _ = try await geard.client.delete(id, wait: 60) }
        await geard.stop()
    }

    @Test func aDeleteCutOffAfterItsCommitIsFinishedAtTheNextStart() async throws {
        let geard = try await GeardProcess.start()
        let id = uniqueID("half")
        _ = try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true), wait: 60)
        await geard.stop(signal: SIGKILL)
        // What a crash right after the delete's commit point leaves: no definition, everything else still there.
        try FileManager.default.removeItem(atPath: "\(geard.stateDir)/containers/\(id).json")
        try await geard.restart()
        #expect(try unitProperty("ctr-\(id).service", "LoadState") == "not-found")
        #expect(!FileManager.default.fileExists(atPath: "\(geard.stateDir)/units/ctr-\(id).service"))
        #expect(!FileManager.default.fileExists(atPath: "/etc/systemd/system/ctr-\(id).service"))
        await geard.stop()
    }
}

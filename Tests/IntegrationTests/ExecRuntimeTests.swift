import Foundation
import GearAPI
import GearClient
import NIOHTTP1
import Testing

/// The exec runtime: a program run directly as the unit, sandboxed by systemd, with arguments and environment
/// reaching it byte for byte whatever characters they hold.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct ExecRuntimeTests {
    @Test func argumentsAndEnvironmentArriveExactly() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("exec")
        let unit = "ctr-\(id).service"
        let tricky = ["a b", "$HOME", "${HOME}", "%n", "%%", "q\"x", "back\\slash", ";", "tab\there", "ünï ✓", "--flag=1", "'single'", ""]
        let script = #"printf '%s\n' "$@" > /data/args; printf '%s' "$GREETING" > /data/env; exec sleep 1000"#
        let greeting = #"hi $USER %n "q" \ ${X}"#
        let request = InstallRequest(
            runtime: "exec", cmd: ["/bin/sh", "-c", script, "sh"] + tricky, started: true,
            environment: [EnvironmentVariable(name: "GREETING", value: greeting)],
            volumes: [VolumeRequest(name: "data", path: "/data")], memory: "64M", cpus: 0.5)
        let answer = try await geard.client.install(id, request, wait: 60)
        #expect(answer.job.state == .succeeded)
        let volume = "\(geard.stateDir)/volumes/\(id)/data"
        #expect(try await eventually { FileManager.default.fileExists(atPath: "\(volume)/env") })
        let args = try String(contentsOfFile: "\(volume)/args", encoding: .utf8)
        #expect(args == tricky.map { $0 + "\n" }.joined())
        #expect(try String(contentsOfFile: "\(volume)/env", encoding: .utf8) == greeting)

        // Sandboxed by systemd, with its limits, in gear.slice.
        #expect(try unitProperty(unit, "DynamicUser") == "yes")
        #expect(try unitProperty(unit, "User") == "ctr-\(id)")
        #expect(try unitProperty(unit, "ProtectSystem") == "strict")
        #expect(try unitProperty(unit, "NoNewPrivileges") == "yes")
        #expect(try unitProperty(unit, "MemoryMax") == "67108864")
        #expect(try unitProperty(unit, "CPUQuotaPerSecUSec") == "500ms")
        #expect(try unitProperty(unit, "Slice") == "gear.slice")
        let status = try await geard.client.status(id)
        #expect(status.runtime == "exec" && status.activeState == "active")
        #expect(status.memoryLimit == 64 << 20 && status.cpuLimit == 0.5)
        _ = try await geard.client.delete(id, wait: 60)
        #expect(!FileManager.default.fileExists(atPath: volume))
    }

    @Test func theSandboxIsTightByDefaultAndRelaxedOnlyWhereAsked() async throws {
        let geard = try await SharedGeard.get()
        func exposure(_ unit: String) throws -> Double {
            let line = try sh("systemd-analyze security \(unit) | grep 'Overall exposure level'").output
            return Double(line.split(separator: ":").last?.split(separator: " ").first ?? "") ?? 99
        }
        // A program that writes its volume, reads /proc and names the user it runs as still works.
        let id = uniqueID("sandbox")
        let script = #"echo ok > /data/x && ls /proc > /dev/null && id -u > /data/uid && exec sleep 1000"#
        let request = InstallRequest(
            runtime: "exec", cmd: ["/bin/sh", "-c", script], started: true, volumes: [VolumeRequest(name: "data", path: "/data")])
        #expect(try await geard.client.install(id, request, wait: 60).job.state == .succeeded)
        #expect(try await eventually { FileManager.default.fileExists(atPath: "\(geard.stateDir)/volumes/\(id)/data/uid") })
        let score = try exposure("ctr-\(id).service")
        #expect(score <= 2.5, "systemd-analyze security: \(score)")
        #expect(try unitProperty("ctr-\(id).service", "CapabilityBoundingSet").isEmpty)
        #expect(try unitProperty("ctr-\(id).service", "MemoryDenyWriteExecute") == "yes")
        // A JIT's container goes without W^X, and only that.
        let jit = uniqueID("jit")
        var relaxed = InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true)
        relaxed.relax = ["MemoryDenyWriteExecute"]
        #expect(try await geard.client.install(jit, relaxed, wait: 60).job.state == .succeeded)
        #expect(try unitProperty("ctr-\(jit).service", "MemoryDenyWriteExecute") == "no")
        #expect(try unitProperty("ctr-\(jit).service", "RestrictNamespaces") == "yes")
        let unknown = try curl(
            "PUT", "http://127.0.0.1:\(geard.port)/container/\(uniqueID("bad"))",
            body: #"{"Runtime":"exec","Cmd":["/bin/true"],"Relax":["Everything"]}"#)
        #expect(unknown.status == 400 && unknown.body.contains("unknown Relax"))
        for container in [id, jit] { _ = try await geard.client.delete(container, wait: 60) }
    }

    @Test func startsAskedForAreNotRefusedBySystemdsStartRateLimit() async throws {
        // systemd refuses a sixth start within 10 s (StartLimitBurst=5) unless the limit is reset; geard resets it
        // for the starts a client asks for.
        let geard = try await SharedGeard.get()
        let id = uniqueID("burst")
        _ = try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true), wait: 60)
        // Restarts keep the unit loaded (a stopped unit may be unloaded, which forgets the count).
        for _ in 0..<7 {
            #expect(try await geard.client.restart(id, wait: 60).job.state == .succeeded)
        }
        #expect(try await geard.client.stop(id, wait: 60).job.state == .succeeded)
        #expect(try await geard.client.start(id, wait: 60).job.state == .succeeded)
        #expect(try await geard.client.status(id).activeState == "active")
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func volumesAreKeptAcrossReinstallsAndRemovedOnDelete() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("vol")
        let request = InstallRequest(
            runtime: "exec", cmd: ["/bin/sh", "-c", "echo run >> /data/log; exec sleep 1000"], started: true,
            volumes: [VolumeRequest(name: "data", path: "/data")])
        _ = try await geard.client.install(id, request, wait: 60)
        var changed = request
        changed.cmd = ["/bin/sh", "-c", "echo again >> /data/log; exec sleep 1000"]
        _ = try await geard.client.install(id, changed, wait: 60)
        let log = "\(geard.stateDir)/volumes/\(id)/data/log"
        #expect(try await eventually { (try? String(contentsOfFile: log, encoding: .utf8)) == "run\nagain\n" })
        _ = try await geard.client.delete(id, wait: 60)
        #expect(!FileManager.default.fileExists(atPath: "\(geard.stateDir)/volumes/\(id)"))
    }

    @Test func restartPolicyIsSystemds() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("crash")
        let request = InstallRequest(runtime: "exec", cmd: ["/bin/sh", "-c", "sleep 0.3; exit 3"], started: true, restart: "always")
        _ = try await geard.client.install(id, request, wait: 60)
        #expect(try await eventually(timeout: .seconds(20)) { try await geard.client.status(id).restarts >= 1 })
        #expect(try unitProperty("ctr-\(id).service", "Restart") == "always")
        _ = try await geard.client.delete(id, wait: 60)
    }
}

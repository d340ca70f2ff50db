import Foundation
import GearAPI
import GearClient
import Testing

/// Named environments against real systemd and podman: what containers of both runtimes receive (the named
/// environment first, their own variables winning), byte for byte, a change reaching them on restart, and what is
/// refused.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct EnvironmentTests {
    func put(_ geard: GeardProcess, _ id: String, _ body: String, method: String = "PUT") throws -> CurlAnswer {
        try curl(method, "http://127.0.0.1:\(geard.port)/environment/\(id)", body: body)
    }

    @Test func bothRuntimesReadTheNamedEnvironmentThenTheirOwnAndARestartPicksUpAChange() async throws {
        let geard = try await SharedGeard.get()
        let env = uniqueID("env")
        let tricky = #"a $HOME ${X} %n "q" \ `b` 'c' ünï ✓"#
        // geard's body; the value is given exactly as it must arrive.
        let body = try String(
            decoding: JSONEncoder().encode(["env": [["name": "SHARED", "value": tricky], ["name": "OVERRIDE", "value": "shared"]]]),
            as: UTF8.self)
        let created = try put(geard, env, body)
        #expect(created.status == 200, "\(created.body)")

        let script = #"printf '%s' "$SHARED" > /data/shared; printf '%s' "$OVERRIDE" > /data/override; exec sleep 1000"#
        let exec = uniqueID("envx")
        let pod = uniqueID("envp")
        _ = try await geard.client.install(
            exec,
            InstallRequest(
                runtime: "exec", cmd: ["/bin/sh", "-c", script], started: true, environment: [EnvironmentVariable(name: "OVERRIDE", value: "own")],
                environmentID: env, volumes: [VolumeRequest(name: "data", path: "/data")]), wait: 60)
        _ = try await geard.client.install(
            pod,
            InstallRequest(
                image: "localhost/busybox", cmd: ["sh", "-c", script], started: true,
                environment: [EnvironmentVariable(name: "OVERRIDE", value: "own")],
                environmentID: env, volumes: [VolumeRequest(name: "data", path: "/data")]), wait: 90)
        for id in [exec, pod] {
            let volume = "\(geard.stateDir)/volumes/\(id)/data"
            #expect(try await eventually { FileManager.default.fileExists(atPath: "\(volume)/override") }, "\(id)")
            #expect(try String(contentsOfFile: "\(volume)/shared", encoding: .utf8) == tricky, "\(id)")
            #expect(try String(contentsOfFile: "\(volume)/override", encoding: .utf8) == "own", "\(id)")
        }
        // The values are in 0600 files, not in the unit (systemctl show would tell anyone).
        #expect(!(try unitProperty("ctr-\(exec).service", "Environment")).contains("OVERRIDE"))

        // A change names who uses it, and reaches them when they restart.
        let patched = try put(geard, env, #"{"SHARED":"second"}"#, method: "PATCH")
        #expect(try GearJSON.decoder().decode(SharedEnvironment.self, from: Data(patched.body.utf8)).usedBy == [pod, exec].sorted())
        for id in [exec, pod] {
            try FileManager.default.removeItem(atPath: "\(geard.stateDir)/volumes/\(id)/data/override")
            _ = try await geard.client.restart(id, wait: 90)
            let volume = "\(geard.stateDir)/volumes/\(id)/data"
            #expect(try await eventually { FileManager.default.fileExists(atPath: "\(volume)/override") }, "\(id)")
            #expect(try String(contentsOfFile: "\(volume)/shared", encoding: .utf8) == "second", "\(id)")
        }

        // Not removable while used; removable after.
        let refused = try curl("DELETE", "http://127.0.0.1:\(geard.port)/environment/\(env)")
        #expect(refused.status == 409)
        #expect(try refused.decode(APIError.self).message.contains(exec))
        for id in [exec, pod] { _ = try await geard.client.delete(id, wait: 60) }
        #expect(try curl("DELETE", "http://127.0.0.1:\(geard.port)/environment/\(env)").status == 204)
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/environment/\(env)").status == 404)
        #expect(!FileManager.default.fileExists(atPath: "\(geard.stateDir)/environments/\(env).env"))
    }

    @Test func environmentsSurviveARestartOfGeard() async throws {
        let geard = try await GeardProcess.start()
        defer { Task { await geard.stop() } }
        #expect(try put(geard, "kept", "A=1\nB=two words\n").status == 200)
        try await geard.restart(signal: SIGKILL)
        let text = try curl("GET", "http://127.0.0.1:\(geard.port)/environment/kept", headers: [("Accept", "text/plain")])
        #expect(text.body == "A=1\nB=two words\n")
    }

    @Test(arguments: [
        ("..", "A=1", 400), ("x%2Fy", "A=1", 400), ("ok", "1A=x", 400), ("ok", #"{"A":"x\nExecStartPre=/bin/touch /tmp/pwned"}"#, 400),
        ("ok", "A=%n\u{0}", 400), ("ok", "just text", 400), ("ok", #"{"A":null}"#, 400),
    ])
    func badEnvironmentsAreRefused(_ id: String, _ body: String, _ status: Int) async throws {
        let geard = try await SharedGeard.get()
        let answer = try put(geard, id, body)
        #expect(answer.status == status, "\(answer.body)")
        #expect(!(try answer.decode(APIError.self).message.isEmpty))
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/environment/ok").status == 404)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/pwned"))
    }

    @Test func anInstallNamingAMissingEnvironmentIsRefused() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("noenv")
        let answer = try curl(
            "PUT", "http://127.0.0.1:\(geard.port)/container/\(id)", body: #"{"Runtime":"exec","Cmd":["/bin/true"],"EnvironmentId":"missing"}"#)
        #expect(answer.status == 400)
        #expect(try answer.decode(APIError.self).message.contains("no environment missing"))
        #expect(!FileManager.default.fileExists(atPath: "\(geard.stateDir)/containers/\(id).json"))
    }
}

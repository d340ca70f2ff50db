import Foundation
import GearAPI
import GearClient
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `POST /container/{id}/exec` and `gear exec` against real containers: the command runs in the container (its
/// root, hostname and processes for podman; the unit's user, private /tmp and environment for the exec runtime),
/// its output streams with its exit code, timeouts and clients that go away leave nothing running, and bad requests
/// change nothing.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct ExecTests {
    struct Frames {
        var stdout = ""
        var stderr = ""
        var exit: ExecFrame?
    }

    static func exec(_ geard: GeardProcess, _ id: String, _ body: String) throws -> (status: Int, frames: Frames, raw: String) {
        let answer = try curl("POST", "http://127.0.0.1:\(geard.port)/container/\(id)/exec", body: body, options: "-m 60")
        var frames = Frames()
        guard answer.status == 200 else { return (answer.status, frames, answer.body) }
        for line in answer.body.split(separator: "\n") {
            let frame = try JSONDecoder().decode(ExecFrame.self, from: Data(line.utf8))
            switch frame.stream {
            case "stdout": frames.stdout += String(decoding: frame.bytes, as: UTF8.self)
            case "stderr": frames.stderr += String(decoding: frame.bytes, as: UTF8.self)
            default: frames.exit = frame
            }
        }
        return (answer.status, frames, answer.body)
    }

    @Test func aCommandRunsInsideAPodmanContainer() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("exec-pod")
        let install = try await geard.client.install(
            id,
            InstallRequest(image: "localhost/busybox", cmd: ["sleep", "100000"], started: true, environment: [.init(name: "COLOR", value: "teal")]),
            wait: 60)
        #expect(install.job.state == .succeeded)
        let result = try Self.exec(
            geard, id,
            #"{"Cmd":["sh","-c","ls /; echo host=$(hostname) color=$COLOR extra=$EXTRA; cat /proc/1/cmdline | tr '\\0' ' '; echo oops >&2; exit 7"],"Env":{"EXTRA":"x y"}}"#
        )
        #expect(result.status == 200, "\(result.raw)")
        let out = result.frames.stdout
        #expect(out.contains("bin") && !out.contains("work") && !out.contains("opt\n") || !out.contains("swift"), "\(out)")
        #expect(!out.contains("host=\(ProcessInfo.processInfo.hostName)\n"), "the container's hostname, not the machine's: \(out)")
        #expect(out.contains("color=teal extra=x y"), "\(out)")
        #expect(out.contains("sleep 100000") && !out.contains("systemd"), "PID 1 is the container's: \(out)")
        #expect(result.frames.stderr == "oops\n")
        #expect(result.frames.exit?.exitCode == 7)
        // gear exec passes the exit code on.
        let cli = try sh("\(Sandbox.gearPath) exec --host 127.0.0.1:\(geard.port) -e MARK=\u{0363}x \(id) -- sh -c 'echo hi$MARK; exit 3'")
        #expect(cli.status == 3 && cli.output == "hi\u{0363}x\n", "\(cli)")
        let user = try Self.exec(geard, id, #"{"Cmd":["id","-u"],"User":"65534"}"#)
        #expect(user.frames.stdout == "65534\n", "\(user.raw)")
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func aCommandRunsAsAnExecContainersUserInItsSandbox() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("exec-run")
        let marker = "marker-\(id)"
        let install = try await geard.client.install(
            id,
            InstallRequest(
                runtime: "exec", cmd: ["/bin/sh", "-c", "echo private > /tmp/\(marker); exec sleep 100000"], started: true,
                environment: [.init(name: "COLOR", value: "teal")]), wait: 60)
        #expect(install.job.state == .succeeded)
        #expect(
            try await eventually { try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/status").body.contains(#""subState":"running""#) })
        let mainPID = try #require(Int32(try unitProperty("ctr-\(id).service", "MainPID")))
        let uid = try sh("awk '/^Uid:/ {print $2}' /proc/\(mainPID)/status").output
        let result = try Self.exec(
            geard, id,
            #"{"Cmd":["/bin/sh","-c","id -u; cat /tmp/\#(marker); echo color=$COLOR; touch /usr/x 2>&1 || echo read-only; cat /proc/self/cgroup"]}"#)
        #expect(result.status == 200, "\(result.raw)")
        let lines = result.frames.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == uid.trimmingCharacters(in: .whitespacesAndNewlines), "\(result.frames)")
        #expect(lines.contains("private"), "the unit's private /tmp: \(result.frames)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/\(marker)"))
        #expect(lines.contains("color=teal") && lines.contains("read-only"), "\(result.frames)")
        // In the unit's cgroup (of the unified hierarchy, where systemd keeps its units): the main process's line.
        let unitCgroup = try #require(
            try String(contentsOfFile: "/proc/\(mainPID)/cgroup", encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("0::") })
        #expect(lines.contains(String(unitCgroup)), "in the unit's cgroup \(unitCgroup): \(result.frames)")
        #expect(result.frames.exit?.exitCode == 0)
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func timeoutsAndClientsThatGoAwayLeaveNothingRunning() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("exec-kill")
        #expect(
            try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "100000"], started: true), wait: 60).job.state
                == .succeeded)
        let timedOut = try Self.exec(geard, id, #"{"Cmd":["/bin/sh","-c","echo started; exec sleep 31.25"],"Timeout":1}"#)
        #expect(timedOut.frames.stdout == "started\n" && timedOut.frames.exit?.error == "timeout", "\(timedOut.raw)")
        #expect(try await eventually(timeout: .seconds(5)) { try sh("pgrep -f 'sleep 31[.]25'").status != 0 })
        // A client that disconnects after a second.
        _ = try sh("curl -s -m 1 -X POST -d '{\"Cmd\":[\"/bin/sleep\",\"32.75\"]}' http://127.0.0.1:\(geard.port)/container/\(id)/exec")
        #expect(try await eventually(timeout: .seconds(5)) { try sh("pgrep -f 'sleep 32[.]75'").status != 0 }, "the command outlived its client")
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test(arguments: [
        (#"{"Cmd":[]}"#, 400, "Cmd"), (#"{"Cmd":["ls","a\u0000b"]}"#, 400, "forbidden character"), (#"{"Cmd":["ls"],"Tty":true}"#, 400, "Tty"),
        (#"{"Cmd":["ls"],"User":"root"}"#, 400, "User"), (#"{"Cmd":["ls"],"Bogus":1}"#, 400, "Bogus"), ("{", 400, "JSON"),
        (#"{"Cmd":["ls"],"Timeout":99999}"#, 400, "Timeout"), (#"{"Cmd":["ls"],"WorkingDir":"../etc"}"#, 400, "WorkingDir"),
        (#"{"Cmd":["ls"],"Env":{"1X":"y"}}"#, 400, "Environment"), ("", 400, "body"),
    ])
    func badRequestsAreRefused(_ body: String, _ status: Int, _ message: String) async throws {
        let geard = try await SharedGeard.get()
        let id = "exec-bad-target"
        if (try? await geard.client.status(id)) == nil {
            _ = try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "100000"], started: true), wait: 60)
        }
        let answer = try curl("POST", "http://127.0.0.1:\(geard.port)/container/\(id)/exec", body: body)
        #expect(answer.status == status, "\(body): \(answer.status) \(answer.body)")
        #expect(answer.body.contains(message), "\(body): \(answer.body)")
    }

    @Test func stoppedUnknownAndOversizedAreRefused() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("exec-stopped")
        _ = try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "100000"], started: false), wait: 60)
        let stopped = try curl("POST", "http://127.0.0.1:\(geard.port)/container/\(id)/exec", body: #"{"Cmd":["ls"]}"#)
        #expect(stopped.status == 409 && stopped.body.contains("not running"), "\(stopped.body)")
        #expect(try curl("POST", "http://127.0.0.1:\(geard.port)/container/nosuch-\(id)/exec", body: #"{"Cmd":["ls"]}"#).status == 404)
        let big = #"{"Cmd":["echo",""# + String(repeating: "x", count: 1_100_000) + #""]}"#
        #expect(try curl("POST", "http://127.0.0.1:\(geard.port)/container/\(id)/exec", body: big).status == 413)
        _ = try await geard.client.delete(id, wait: 60)
    }
}

import GearAPI
import Testing

@testable import GearCore

/// The command lines of `POST /container/{id}/exec`, and the requests refused before anything runs.
@Suite struct ExecCommandTests {
    @Test func podmanAndExecCommandLines() throws {
        let request = ExecRequest(cmd: ["ls", "-l"], env: ["B": "2", "A": "1"], workingDir: "/srv", user: "65534", timeout: 5)
        let podman = try ExecCommand(validating: request, runtime: .podman)
        #expect(
            podman.podmanArguments(podman: "/usr/bin/podman", container: "ctr-web")
                == [
                    "/usr/bin/env", "--default-signal", "/usr/bin/podman", "exec", "--env", "A=1", "--env", "B=2", "--workdir", "/srv", "--user",
                    "65534", "ctr-web", "ls", "-l",
                ])
        #expect(podman.timeout == .seconds(5))
        let exec = try ExecCommand(validating: ExecRequest(cmd: ["/bin/id"], env: ["PATH": "/x"]), runtime: .exec)
        let joined = exec.execArguments(
            pid: 42, uid: 61000, gid: 61001, environment: ["PATH=/usr/bin", "HOME=/"],
            cgroupProcs: "/sys/fs/cgroup/gear.slice/ctr-a.service/cgroup.procs")
        // It joins the unit's cgroup itself, before anything of the command runs.
        #expect(joined.prefix(2) == ["/bin/sh", "-c"] && joined[3] == "/sys/fs/cgroup/gear.slice/ctr-a.service/cgroup.procs")
        let line = exec.execArguments(pid: 42, uid: 61000, gid: 61001, environment: ["PATH=/usr/bin", "HOME=/"], cgroupProcs: nil)
        #expect(Array(joined.dropFirst(4)) == line)
        #expect(line.prefix(5) == ["/usr/bin/env", "--default-signal", "/usr/bin/setpriv", "--clear-groups", "--"])
        #expect(line.contains("--target") && line.contains("42") && line.contains("--all") && line.contains("--wd=/"))
        #expect(line.contains("--reuid") && line.contains("61000") && line.contains("61001") && line.contains("--no-new-privs"))
        // The request's variables win over the main process's; the program comes last.
        #expect(line.suffix(4) == ["-i", "HOME=/", "PATH=/x", "/bin/id"])
        #expect(exec.timeout == .seconds(300))
    }

    @Test(arguments: [
        (ExecRequest(cmd: []), ContainerRuntime.podman, "Cmd is required"),
        (ExecRequest(cmd: [""]), .podman, "Cmd is required"),
        (ExecRequest(cmd: ["ls", "a\nb"]), .podman, "forbidden character"),
        (ExecRequest(cmd: ["A=1"]), .exec, "NAME=VALUE"),
        (ExecRequest(cmd: ["A=\u{0363}", "/bin/sh"]), .exec, "NAME=VALUE"),
        (ExecRequest(cmd: ["-rf"]), .exec, "absolute path to a program (/usr/bin/env) or a program name"),
        (ExecRequest(cmd: ["ls"], env: ["1A": "x"]), .podman, "Environment name"),
        (ExecRequest(cmd: ["ls"], workingDir: "srv"), .podman, "WorkingDir"),
        (ExecRequest(cmd: ["ls"], workingDir: "/a/../b"), .podman, "WorkingDir"),
        (ExecRequest(cmd: ["ls"], user: "root"), .exec, "User"),
        (ExecRequest(cmd: ["ls"], user: "--privileged"), .podman, "User"),
        (ExecRequest(cmd: ["ls"], timeout: 0), .podman, "Timeout"),
        (ExecRequest(cmd: ["ls"], timeout: 4000), .podman, "Timeout"),
    ])
    func refusals(_ request: ExecRequest, _ runtime: ContainerRuntime, _ message: String) {
        #expect {
            try ExecCommand(validating: request, runtime: runtime)
        } throws: { error in
            (error as? GearError).map { $0.code == .invalidRequest && $0.message.contains(message) } ?? false
        }
    }

    @Test func theInteractiveFormTakesATerminalAndNeedsNoTimeout() throws {
        var request = ExecRequest(cmd: ["sh"])
        request.tty = true
        #expect(throws: GearError.self) { try ExecCommand(validating: request, runtime: .podman) }
        let terminal = try ExecCommand(validating: request, runtime: .podman, interactive: InteractiveOptions(stdin: true, tty: true))
        #expect(terminal.timeout == nil)
        #expect(
            terminal.podmanArguments(podman: "/usr/bin/podman", container: "ctr-web")
                == ["/usr/bin/env", "--default-signal", "/usr/bin/podman", "exec", "--interactive", "--tty", "ctr-web", "sh"])
        let piped = try ExecCommand(
            validating: ExecRequest(cmd: ["cat"], timeout: 7200), runtime: .podman, interactive: InteractiveOptions(stdin: true, tty: false))
        #expect(piped.timeout == .seconds(7200))
        #expect(
            piped.podmanArguments(podman: "/p", container: "c").contains("--interactive")
                && !piped.podmanArguments(podman: "/p", container: "c").contains("--tty"))
        // The options and the request must agree, and a day is the longest.
        #expect(throws: GearError.self) {
            try ExecCommand(validating: request, runtime: .podman, interactive: InteractiveOptions(stdin: true, tty: false))
        }
        #expect(throws: GearError.self) {
            try ExecCommand(
                validating: ExecRequest(cmd: ["cat"], timeout: 90000), runtime: .podman, interactive: InteractiveOptions(stdin: true, tty: false))
        }
    }
}

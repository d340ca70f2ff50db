public import GearAPI

/// A validated exec request and the command line that runs it inside one container.
///
/// - podman runtime: `podman exec` into the container (its root, namespaces, cgroup and user, or `User`).
/// - exec runtime: `nsenter` into every namespace of the unit's main process (its mount namespace carries the
///   unit's file system sandboxing: `ProtectSystem=`, `PrivateTmp=`, ...; its user namespace `PrivateUsers=`), then
///   `setpriv` to the unit's user and group with no capabilities and `no_new_privs`, with the main process's own
///   environment plus `Env`. The process first moves itself into the unit's cgroup (a shell writes its own pid to
///   `cgroup.procs`, then execs the rest), so that what it runs starts under the unit's limits and the unit's stop
///   ends it; if it cannot, the command does not run (exit 126).
///
/// geard ignores SIGTERM and SIGINT (its signal handling), which children would inherit: `env --default-signal`
/// gives them back their defaults. Either way the command starts as the leader of a process group of its own (as
/// Foundation spawns it), so that a timeout or a client that goes away kills all it started.
public struct ExecCommand: Sendable, Hashable {
    public var cmd: [String]
    public var env: [EnvironmentVariable]
    public var workingDir: String?
    public var user: String?
    /// Nil: none (an interactive command without `Timeout` runs as long as its client stays).
    public var timeout: Duration?
    /// Interactive (the WebSocket form): `Tty` is allowed, and the command may read stdin.
    public var interactive: InteractiveOptions?

    public static let defaultTimeout: Double = 300
    public static let maxTimeout: Double = 3600
    /// An interactive command's `Timeout` may be a day.
    public static let maxInteractiveTimeout: Double = 86400

    /// Checks a request as the API checks an install's `Cmd` and `Environment`; `interactive` for the WebSocket form.
    public init(validating request: ExecRequest, runtime: ContainerRuntime, interactive: InteractiveOptions? = nil) throws(GearError) {
        guard !request.cmd.isEmpty, !(request.cmd.first ?? "").isEmpty else {
            throw GearError(.invalidRequest, "Cmd is required: the program and its arguments")
        }
        cmd = try ContainerSpec.validateCommand(request.cmd, runtime: .exec)
        // `env` would read a program with `=` as one more variable.
        guard !KeyValue.hasEquals(request.cmd[0]) else { throw GearError(.invalidRequest, "Cmd[0] must be a program, not NAME=VALUE") }
        let variables = (request.env ?? [:]).sorted { $0.key < $1.key }.map { EnvironmentVariable(name: $0.key, value: $0.value) }
        env = try ContainerSpec.validateEnvironment(variables)
        if let dir = request.workingDir {
            guard dir.hasPrefix("/"), ContainerSpec.firstForbiddenCharacter(dir) == nil, !dir.split(separator: "/").contains(".."),
                dir.utf8.count <= 4096
            else {
                throw GearError(.invalidRequest, "WorkingDir must be an absolute path without '..' or control characters")
            }
            workingDir = dir
        }
        if let user = request.user {
            guard runtime == .podman else {
                throw GearError(.invalidRequest, "User: an exec container's commands run as the container's own user")
            }
            let bytes = Array(user.utf8)
            guard (1...64).contains(bytes.count), bytes[0].isASCIIAlphanumeric || bytes[0] == UInt8(ascii: "_"),
                bytes.allSatisfy({ $0.isASCIIAlphanumeric || "._-:".utf8.contains($0) })
            else {
                throw GearError(.invalidRequest, "User must be a user name or number (optionally :group), not '\(user.prefix(80).debugEscaped)'")
            }
            self.user = user
        }
        if request.tty == true, interactive == nil {
            throw GearError(
                .invalidRequest,
                "Tty: a terminal needs the interactive form (GET /container/{id}/exec?tty=true as a WebSocket, gear exec -it); run without Tty")
        }
        self.interactive = interactive
        if let interactive, interactive.tty != (request.tty == true) {
            throw GearError(.invalidRequest, "Tty and the interactive options disagree")
        }
        let limit = interactive == nil ? Self.maxTimeout : Self.maxInteractiveTimeout
        if let seconds = request.timeout ?? (interactive == nil ? Self.defaultTimeout : nil) {
            guard seconds > 0, seconds <= limit else {
                throw GearError(.invalidRequest, "Timeout must be more than 0 and at most \(Int(limit)) seconds")
            }
            timeout = .milliseconds(Int64(seconds * 1000))
        } else {
            timeout = nil
        }
    }

    /// The command line for a podman container; `marker` (`GEAR_EXEC_ID=...`) tags the processes it starts there.
    func podmanArguments(podman: String, container: String, marker: String? = nil) -> [String] {
        var arguments = ["/usr/bin/env", "--default-signal", podman, "exec"]
        if let marker { arguments += ["--env", marker] }
        if let interactive {
            if interactive.stdin || interactive.tty { arguments.append("--interactive") }
            if interactive.tty { arguments.append("--tty") }
        }
        for variable in env { arguments += ["--env", "\(variable.name)=\(variable.value)"] }
        if let workingDir { arguments += ["--workdir", workingDir] }
        if let user { arguments += ["--user", user] }
        return arguments + [container] + cmd
    }

    /// 16 random hex digits naming one exec.
    static func freshMarker() -> String {
        let hex = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The command line for an exec container whose main process is `pid`, running as `uid`:`gid`, with the main
    /// process's environment `environment`, that first joins the cgroup whose `cgroup.procs` is `cgroupProcs`.
    func execArguments(pid: Int32, uid: UInt32, gid: UInt32, environment: [String], cgroupProcs: String?) -> [String] {
        var variables = environment
        for variable in env {
            variables.removeAll { $0.hasPrefix(variable.name + "=") }
            variables.append("\(variable.name)=\(variable.value)")
        }
        let join =
            cgroupProcs.map {
                ["/bin/sh", "-c", #"echo $$ > "$0" || { echo "gear: cannot join the container's cgroup" >&2; exit 126; }; exec "$@""#, $0]
            } ?? []
        return join + [
            // Supplementary groups are dropped before entering the unit's user namespace (where setgroups is denied).
            "/usr/bin/env", "--default-signal", "/usr/bin/setpriv", "--clear-groups", "--", "/usr/bin/nsenter", "--target", String(pid), "--all",
            "--wd=\(workingDir ?? "/")", "--",
            "/usr/bin/setpriv", "--reuid", String(uid), "--regid", String(gid), "--keep-groups", "--no-new-privs", "--inh-caps=-all",
            "--bounding-set=-all", "--", "/usr/bin/env", "-i",
        ] + variables + cmd
    }
}

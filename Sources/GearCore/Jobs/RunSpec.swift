public import GearAPI

/// A validated `POST /jobs` body: what a run job runs, checked as an install's fields are (the same runtimes,
/// limits and sandboxing as containers), and the transient unit that runs it.
public struct RunSpec: Sendable, Hashable, Codable {
    public var runtime: ContainerRuntime
    public var image: String?
    /// podman: the program run instead of the image's entrypoint (geard's `Command`).
    public var entrypoint: String?
    /// podman: the arguments after the image; exec: the program and its arguments.
    public var cmd: [String]
    /// Sorted by name; names unique.
    public var environment: [EnvironmentVariable]
    public var environmentID: EnvironmentID?
    public var memoryMax: UInt64?
    public var cpuQuotaPercent: Int?
    public var slice: String?
    public var relax: [SandboxRelaxation]?
    /// systemd ends the run past it (`RuntimeMaxSec=`).
    public var timeoutMs: Int64

    public static let defaultTimeoutMs: Int64 = 3_600_000

    /// Checks every field of `request` and normalizes it; throws `.invalidRequest` naming the field at the first
    /// problem.
    public init(validating request: RunRequest) throws(GearError) {
        var install = InstallRequest(
            image: request.image, runtime: request.runtime, cmd: request.cmd, environment: request.environment,
            environmentID: request.environmentID, memory: request.memory, cpus: request.cpus)
        install.relax = request.relax
        install.systemdSlice = request.systemdSlice
        let runtime = ContainerRuntime(rawValue: (request.runtime ?? "podman").lowercased())
        if request.command != nil || request.arguments != nil {
            // geard's form: Command (an entrypoint, or the program) and Arguments.
            guard request.cmd == nil else { throw .invalid("give Cmd, or geard's Command and Arguments, not both") }
            if let command = request.command {
                guard !command.isEmpty else { throw .invalid("Command must not be empty") }
                _ = try ContainerSpec.validateCommand([command], runtime: .exec)
            }
            if runtime == .exec {
                guard let command = request.command else { throw .invalid("Command is required for the exec runtime: the program to run") }
                install.cmd = [command] + (request.arguments ?? [])
            } else {
                install.cmd = request.arguments
            }
        }
        let spec = try ContainerSpec(validating: install)
        self.runtime = spec.runtime
        self.image = spec.image
        self.entrypoint = spec.runtime == .podman ? request.command : nil
        self.cmd = spec.cmd
        self.environment = spec.environment
        self.environmentID = spec.environmentID
        self.memoryMax = spec.memoryMax
        self.cpuQuotaPercent = spec.cpuQuotaPercent
        self.slice = spec.slice
        self.relax = spec.relax
        if let timeout = request.timeout {
            guard let ms = timeout.milliseconds, ms >= 1000 else {
                throw .invalid(
                    "Timeout '\(timeout.text.prefix(40).debugEscaped)' must be at least 1s and at most 30 days (seconds, or text like 90s, 15m, 2h)")
            }
            self.timeoutMs = ms
        } else {
            self.timeoutMs = Self.defaultTimeoutMs
        }
    }

    /// The transient unit of run job `id`.
    public static func unitName(_ id: String) -> String { "gear-run-\(id).service" }
    /// Its podman container.
    static func podmanName(_ id: String) -> String { "gear-run-\(id)" }
    /// The dynamic user of an exec run: a portable user name (at most 31 characters).
    static func userName(_ id: String) -> String { "gear-run-" + id.filter { $0 != "-" }.prefix(16) }

    /// The settings of run job `id`'s transient unit: the program in the foreground (`Type=exec`), kept loaded
    /// after it ends (`RemainAfterExit=`) until geard has read how it ended; the exec runtime's sandbox of
    /// containers, or podman's `run --rm`. Variables come from a mode 0600 file (`environmentFile`), not from
    /// `Environment=` that anyone may read with `systemctl show`.
    func settings(id: String, renderer: UnitRenderer, environmentFile: String?) -> [UnitSetting] {
        let layout = renderer.layout
        var settings: [UnitSetting] = [
            UnitSetting("Description", "gear run \(id) (\(runtime.rawValue))", .string("gear run \(id) (\(runtime.rawValue))")),
            UnitSetting("Slice", "", .string(slice.map { "gear-\($0).slice" } ?? InfrastructureUnits.slice)),
            UnitSetting("Type", "exec", .string("exec")),
            UnitSetting("RemainAfterExit", "yes", .bool(true)),
            UnitSetting("RuntimeMaxUSec", "", .uint64(UInt64(timeoutMs) * 1000)),
            UnitSetting("TimeoutStopUSec", "", .uint64(30_000_000)),
        ]
        if let memoryMax { settings.append(UnitSetting("MemoryMax", "", .uint64(memoryMax))) }
        if let cpuQuotaPercent { settings.append(UnitSetting("CPUQuotaPerSecUSec", "", .uint64(UInt64(cpuQuotaPercent) * 10_000))) }
        if let namespace = renderer.networkNamespace { settings.append(UnitSetting("NetworkNamespacePath", namespace, .string(namespace))) }
        switch runtime {
        case .exec:
            var files: [String] = []
            if let environmentID { files.append(layout.sharedEnvironmentFile(environmentID, podman: false)) }
            if let environmentFile { files.append(environmentFile) }
            settings += [
                UnitSetting("DynamicUser", "yes", .bool(true)),
                UnitSetting("User", "", .string(Self.userName(id))),
                UnitSetting("ExecStart", "", .commands([cmd])),
            ]
            if !files.isEmpty { settings.append(UnitSetting("EnvironmentFiles", "", .environmentFiles(files))) }
            settings += ExecSandbox.settings(relax: Set(relax ?? []))
        case .podman:
            let name = Self.podmanName(id)
            // In the foreground: podman's exit status is the container's, its output the unit's. conmon and the
            // container live in the unit's cgroup (split), so its limits hold and a stop ends them.
            // No podman events in the journal: they would land in the run's output, under its unit.
            var run = [
                renderer.podmanPath, "--events-backend", "none", "run", "--rm", "--cgroups=split", "--init", "--name", name, "--label",
                "io.gear.job=\(id)",
                "--log-driver", "none",
            ]
            if let environmentID { run += ["--env-file", layout.sharedEnvironmentFile(environmentID, podman: true)] }
            if let environmentFile { run += ["--env-file", environmentFile] }
            if let entrypoint { run += ["--entrypoint", entrypoint] }
            run.append(image ?? "")
            run += cmd
            settings += [
                UnitSetting("Environment", "", .strings(["PODMAN_SYSTEMD_UNIT=\(Self.unitName(id))"])),
                UnitSetting("KillMode", "mixed", .string("mixed")),
                UnitSetting("ExecStart", "", .commands([run])),
                // What a kill left behind (podman ended before it removed the container); after a clean run the
                // container is gone already, and a podman start-up is saved.
                UnitSetting(
                    "ExecStopPost", "",
                    .commands([
                        [
                            "/bin/sh", "-c", #"[ "$SERVICE_RESULT" = success ] || exec "$@""#, "sh", renderer.podmanPath, "rm", "-f", "-v",
                            "--ignore", "-t", "10", name,
                        ]
                    ])),
            ]
        }
        return settings
    }
}

/// The body of `POST /jobs`: a program or an image run once, as a job of its own (`kind` `run`).
///
/// gear's fields are those of an install that make sense for one run: `Runtime`, `Image`, `Cmd`, `Environment`,
/// `EnvironmentId`, `Memory`, `CPUs`, `Relax`, `SystemdSlice`, plus `Timeout` (seconds or `30s`, `5m`: the run is
/// killed past it). geard's `RunContainerRequest` fields are read too: `Image`, `Command` (the image's entrypoint
/// instead of its own) and `Arguments` (after the image); its `Name` is accepted and ignored (geard replaced it with
/// the request id, as the job id is here). Field names are matched case-insensitively; any other
/// field (ports, volumes, a restart policy, health checks: what only a container has) is refused.
public struct RunRequest: Sendable, Hashable, Codable {
    public var runtime: String?
    public var image: String?
    public var cmd: [String]?
    /// geard: the program to run instead of the image's entrypoint (podman), or the program (exec).
    public var command: String?
    /// geard: the arguments after the image (podman) or the program (exec).
    public var arguments: [String]?
    public var environment: [EnvironmentVariable]?
    public var environmentID: String?
    public var memory: MemoryLimit?
    public var cpus: Double?
    public var relax: [String]?
    public var systemdSlice: String?
    /// How long the run may take (default 1 hour, at most 30 days): past it, systemd ends it.
    public var timeout: DurationText?

    public init(
        runtime: String? = nil, image: String? = nil, cmd: [String]? = nil, environment: [EnvironmentVariable]? = nil,
        timeout: DurationText? = nil
    ) {
        self.runtime = runtime
        self.image = image
        self.cmd = cmd
        self.environment = environment
        self.timeout = timeout
    }

    static let fields: Set<String> = [
        "runtime", "image", "cmd", "command", "arguments", "environment", "environmentid", "memory", "cpus", "relax", "systemdslice",
        "timeout", "name",
    ]

    public init(from decoder: any Decoder) throws {
        let object = try CaseInsensitiveObject(from: decoder, known: Self.fields)
        runtime = try object.decode(String.self, "runtime")
        image = try object.decode(String.self, "image")
        cmd = try object.decode([String].self, "cmd")
        command = try object.decode(String.self, "command")
        arguments = try object.decode([String].self, "arguments")
        if let nested = try object.superDecoder("environment") {
            environment = try EnvironmentVariable.decodeList(from: nested)
        }
        environmentID = try object.decode(String.self, "environmentid")
        memory = try object.decode(MemoryLimit.self, "memory")
        cpus = try object.decode(Double.self, "cpus")
        relax = try object.decode([String].self, "relax")
        systemdSlice = try object.decode(String.self, "systemdslice")
        timeout = try object.decode(DurationText.self, "timeout")
    }

    private enum CodingKeys: String, CodingKey {
        case runtime = "Runtime", image = "Image", cmd = "Cmd", command = "Command", arguments = "Arguments"
        case environment = "Environment", environmentID = "EnvironmentId", memory = "Memory", cpus = "CPUs", relax = "Relax"
        case systemdSlice = "SystemdSlice", timeout = "Timeout"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(runtime, forKey: .runtime)
        try c.encodeIfPresent(image, forKey: .image)
        try c.encodeIfPresent(cmd, forKey: .cmd)
        try c.encodeIfPresent(command, forKey: .command)
        try c.encodeIfPresent(arguments, forKey: .arguments)
        try c.encodeIfPresent(environment, forKey: .environment)
        try c.encodeIfPresent(environmentID, forKey: .environmentID)
        try c.encodeIfPresent(memory, forKey: .memory)
        try c.encodeIfPresent(cpus, forKey: .cpus)
        try c.encodeIfPresent(relax, forKey: .relax)
        try c.encodeIfPresent(systemdSlice, forKey: .systemdSlice)
        try c.encodeIfPresent(timeout, forKey: .timeout)
    }
}

/// How a run job's program ended (`Job.exit`).
public struct JobExit: Sendable, Hashable, Codable {
    /// Its exit status, when it exited.
    public var exitCode: Int?
    /// The signal that ended it, when one did.
    public var signal: Int?
    /// systemd's `Result` of the run: `success`, `exit-code`, `signal`, `core-dump`, `timeout`, ...; `canceled` when
    /// `DELETE /jobs/{id}` ended it.
    public var result: String

    public init(exitCode: Int? = nil, signal: Int? = nil, result: String) {
        self.exitCode = exitCode
        self.signal = signal
        self.result = result
    }
}

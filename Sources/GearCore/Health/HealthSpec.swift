public import GearAPI

/// A container's validated health check (`HealthCmd`, `HealthHTTP` or `HealthTCP` with `HealthInterval`,
/// `HealthTimeout`, `HealthRetries`, `HealthStartPeriod`, `HealthOnFailure`), after Quadlet's and podman's.
public struct HealthSpec: Sendable, Hashable, Codable {
    public enum Probe: Sendable, Hashable, Codable {
        /// Run inside the container as `POST /container/{id}/exec` runs it; healthy when it exits 0.
        case command([String])
        /// `GET path` on the internal port (the port it is published on for podman) at 127.0.0.1; healthy on 2xx/3xx.
        case http(port: Int, path: String)
        /// A TCP connection to the internal port (published, for podman) at 127.0.0.1.
        case tcp(port: Int)
    }

    /// What geard does when the container becomes unhealthy.
    public typealias Action = HealthAction

    public var probe: Probe
    public var intervalMs: Int64
    public var timeoutMs: Int64
    public var startPeriodMs: Int64
    public var retries: Int
    public var onFailure: Action

    public static let defaultIntervalMs: Int64 = 30_000
    public static let defaultTimeoutMs: Int64 = 30_000
    public static let defaultRetries = 3
    public static let minIntervalMs = HealthLimits.minIntervalMs
    public static let maxRetries = HealthLimits.maxRetries
    public static let maxPathBytes = 1024

    /// The check `request` asks for, nil when it asks for none; throws naming the field at the first problem.
    static func validate(_ request: InstallRequest, runtime: ContainerRuntime, ports: [PortSpec]) throws(GearError) -> HealthSpec? {
        var probes: [Probe] = []
        if let cmd = request.healthCmd {
            do throws(GearError) {
                let command = try ExecCommand(validating: ExecRequest(cmd: cmd), runtime: runtime)
                probes.append(.command(command.cmd))
            } catch {
                throw .invalid("HealthCmd: \(error.message)")
            }
        }
        if let http = request.healthHTTP {
            let port = try Self.port(http.port, field: "HealthHTTP.Port", runtime: runtime, ports: ports)
            let path = http.path ?? "/"
            guard path.hasPrefix("/"), path.utf8.count <= Self.maxPathBytes,
                path.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
            else {
                throw .invalid("HealthHTTP.Path must start with '/' and hold at most \(Self.maxPathBytes) printable ASCII characters without spaces")
            }
            probes.append(.http(port: port, path: path))
        }
        if let tcp = request.healthTCP {
            probes.append(.tcp(port: try Self.port(tcp, field: "HealthTCP", runtime: runtime, ports: ports)))
        }
        guard probes.count <= 1 else { throw .invalid("give one health check: HealthCmd, HealthHTTP or HealthTCP") }
        guard let probe = probes.first else {
            let stray = [
                ("HealthInterval", request.healthInterval != nil), ("HealthTimeout", request.healthTimeout != nil),
                ("HealthStartPeriod", request.healthStartPeriod != nil), ("HealthRetries", request.healthRetries != nil),
                ("HealthOnFailure", request.healthOnFailure != nil),
            ].first { $0.1 }
            if let (field, _) = stray { throw .invalid("\(field) needs a health check: HealthCmd, HealthHTTP or HealthTCP") }
            return nil
        }
        let interval = try Self.milliseconds(request.healthInterval, field: "HealthInterval") ?? Self.defaultIntervalMs
        guard interval >= Self.minIntervalMs else { throw .invalid("HealthInterval must be at least 1s") }
        let timeout = try Self.milliseconds(request.healthTimeout, field: "HealthTimeout") ?? min(Self.defaultTimeoutMs, interval)
        guard timeout >= 100, timeout <= 3_600_000 else { throw .invalid("HealthTimeout must be between 100ms and 1h") }
        let startPeriod = try Self.milliseconds(request.healthStartPeriod, field: "HealthStartPeriod") ?? 0
        let retries = request.healthRetries ?? Self.defaultRetries
        guard (1...Self.maxRetries).contains(retries) else { throw .invalid("HealthRetries must be from 1 to \(Self.maxRetries)") }
        let action: Action
        if let text = request.healthOnFailure {
            guard let known = Action(rawValue: text.lowercased()) else {
                throw .invalid("unknown HealthOnFailure '\(text.prefix(40).debugEscaped)': use none, restart, kill or stop")
            }
            action = known
        } else {
            action = .none
        }
        return HealthSpec(probe: probe, intervalMs: interval, timeoutMs: timeout, startPeriodMs: startPeriod, retries: retries, onFailure: action)
    }

    private static func milliseconds(_ value: DurationText?, field: String) throws(GearError) -> Int64? {
        guard let value else { return nil }
        guard let ms = value.milliseconds else {
            throw .invalid(
                "\(field) must be seconds or a duration like 30s, 500ms, 5m or 1m30s (at most 30 days), not '\(value.text.prefix(40).debugEscaped)'")
        }
        return ms
    }

    /// A podman container is reached on a published port, so the check's port must be one of `Ports`; an exec
    /// container listens on the node itself.
    private static func port(_ port: Int, field: String, runtime: ContainerRuntime, ports: [PortSpec]) throws(GearError) -> Int {
        guard (1...65535).contains(port) else { throw .invalid("\(field) must be a port from 1 to 65535") }
        if runtime == .podman, !ports.contains(where: { $0.internalPort == port }) {
            throw .invalid("\(field) \(port) is not published: a podman container's check reaches it through Ports, so add {\"Internal\": \(port)}")
        }
        return port
    }
}

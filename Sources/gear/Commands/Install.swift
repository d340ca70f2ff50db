import ArgumentParser
import Foundation
import GearAPI
import GearClient

struct Install: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Install (or replace) containers.",
        discussion: """
            With the podman runtime the first argument is the image and the rest are locators; with --runtime exec every
            argument is a locator and the program follows --.

            Examples:
              gear install localhost/busybox web --start -p 8080 -- httpd -f -p 8080
              gear install localhost/busybox node1/web node2/web --start -p 8080:4000 -e MODE=prod
              gear install --runtime exec --start node1/job -- /usr/bin/worker -v
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var job: JobOptions

    @Argument(help: "IMAGE then LOCATOR... (podman), or LOCATOR... (exec); after --, the command.") var arguments: [String]

    /// The command after `--`: arguments after the image, or the exec program and its arguments.
    var command: [String] { CommandTail.arguments ?? [] }

    @Flag(name: .long, help: "Start the container now and at boot.") var start = false
    @Option(name: .long, help: "podman (default) or exec.") var runtime: String = "podman"
    @Option(name: [.short, .customLong("publish")], help: "INTERNAL[:EXTERNAL] port; no EXTERNAL allocates one.") var ports: [String] = []
    @Option(name: [.short, .customLong("env")], help: "KEY=VALUE.") var env: [String] = []
    @Option(name: .customLong("env-file"), help: "A file of KEY=VALUE lines (# comments and blank lines ignored).") var envFile: String?
    @Option(name: .customLong("volume"), help: "NAME:PATH[:ro], a volume kept by geard mounted at PATH.") var volumes: [String] = []
    @Option(name: .long, help: "Restart policy: no, on-failure, always, ...") var restart: String?
    @Option(name: .long, help: "Memory limit: bytes or 256M, 1G ...") var memory: String?
    @Option(name: .long, help: "CPU limit in CPUs, e.g. 0.5.") var cpus: Double?
    @Option(name: .customLong("health-cmd"), help: "A health check: a shell command run inside the container (sh -c), healthy on exit 0.")
    var healthCmd: String?
    @Option(name: .customLong("health-http"), help: "A health check: PORT[/PATH], a GET on the internal port, healthy on 2xx/3xx.")
    var healthHTTP: String?
    @Option(name: .customLong("health-tcp"), help: "A health check: an internal PORT that must accept a connection.") var healthTCP: Int?
    @Option(name: .customLong("health-interval"), help: "Between checks: seconds or 30s, 5m (default 30s).") var healthInterval: String?
    @Option(name: .customLong("health-timeout"), help: "For one check (default 30s).") var healthTimeout: String?
    @Option(name: .customLong("health-start-period"), help: "After a start, failures do not count until a check passes.")
    var healthStartPeriod: String?
    @Option(name: .customLong("health-retries"), help: "Failures in a row that make it unhealthy (default 3).") var healthRetries: Int?
    @Option(name: .customLong("health-on-failure"), help: "none (default), restart, kill or stop.") var healthOnFailure: String?
    @Flag(
        name: .customLong("if-fits"),
        help: "Install only if the node has the memory and CPUs left (else 409 insufficient_capacity, nothing changed).")
    var ifFits = false

    var image: String? { runtime == "exec" ? nil : arguments.first }
    var locatorTexts: [String] { runtime == "exec" ? arguments : Array(arguments.dropFirst()) }

    func validate() throws {
        guard !locatorTexts.isEmpty else {
            throw ValidationError(runtime == "exec" ? "give at least one LOCATOR" : "give an IMAGE and at least one LOCATOR")
        }
        if runtime == "exec", command.isEmpty { throw ValidationError("the exec runtime needs the program after --") }
        _ = try request()
    }

    func request() throws -> InstallRequest {
        var environment: [EnvironmentVariable] = []
        if let envFile {
            let text = try String(contentsOfFile: envFile, encoding: .utf8)
            for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.trimmingCharacters(in: .whitespaces).isEmpty {
                environment.append(try Self.variable(String(line)))
            }
        }
        environment += try env.map(Self.variable)
        var request = InstallRequest(
            image: image, runtime: runtime, cmd: command.isEmpty ? nil : command, started: start,
            ports: try ports.map(Self.port), environment: environment.isEmpty ? nil : environment,
            volumes: try volumes.map(Self.volume), restart: restart, memory: memory.map { MemoryLimit($0) }, cpus: cpus)
        request.healthCmd = healthCmd.map { ["/bin/sh", "-c", $0] }
        request.healthHTTP = try healthHTTP.map(Self.httpCheck)
        request.healthTCP = healthTCP
        request.healthInterval = healthInterval.map { DurationText($0) }
        request.healthTimeout = healthTimeout.map { DurationText($0) }
        request.healthStartPeriod = healthStartPeriod.map { DurationText($0) }
        request.healthRetries = healthRetries
        request.healthOnFailure = healthOnFailure
        request.ifFits = ifFits ? true : nil
        return request
    }

    /// `PORT[/PATH]`.
    static func httpCheck(_ text: String) throws -> HealthHTTPCheck {
        let slash = text.firstIndex(of: "/") ?? text.endIndex
        guard let port = Int(text[..<slash]) else { throw ValidationError("--health-http '\(text)' is not PORT[/PATH]") }
        return HealthHTTPCheck(port: port, path: slash == text.endIndex ? nil : String(text[slash...]))
    }

    static func variable(_ text: String) throws -> EnvironmentVariable {
        guard let variable = EnvironmentVariable(assignment: text) else { throw ValidationError("'\(text)' is not KEY=VALUE") }
        return variable
    }

    static func port(_ text: String) throws -> PortRequest {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let inside = Int(parts[0]), parts.count == 1 || Int(parts[1]) != nil else {
            throw ValidationError("'\(text)' is not INTERNAL[:EXTERNAL]")
        }
        return PortRequest(internal: inside, external: parts.count == 2 ? Int(parts[1]) : nil)
    }

    static func volume(_ text: String) throws -> VolumeRequest {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), parts.count == 2 || parts[2] == "ro" else { throw ValidationError("'\(text)' is not NAME:PATH[:ro]") }
        return VolumeRequest(name: parts[0], path: parts[1], readOnly: parts.count == 3 ? true : nil)
    }

    func run() async throws {
        let request = try request()
        let (global, wait) = (global, job.waitSeconds)
        let targets = try global.locators(locatorTexts, takesCommand: true)
        try checkRequestID(global, targets)
        let outcomes = await FanOut.run(targets, options: global) { client, locator in
            try failedJob(try await client.install(locator.id, request, requestID: global.requestID, wait: wait))
        }
        try reportJobs(outcomes, options: global)
    }
}

/// One request id names one job: with --request-id, each geard may get only one locator.
func checkRequestID(_ global: GlobalOptions, _ targets: [Locator]) throws {
    guard global.requestID != nil else { return }
    let endpoints = targets.map { $0.endpoint(global) }
    guard Set(endpoints).count == endpoints.count else {
        throw ValidationError("--request-id names one job: give at most one locator per host")
    }
}

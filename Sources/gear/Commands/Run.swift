import ArgumentParser
import Foundation
import GearAPI
import GearClient

/// `gear run`: a program or image run once on one host or several, as a job (`POST /jobs`), its output shown as it
/// comes.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a program or an image once, as a job.",
        discussion: """
            The command follows `--`. Without --image it runs a program on the host, in the sandbox exec containers get \
            (a dynamic user, a read-only system); with --image it runs the image with podman (`podman run --rm`). The \
            output arrives as the program writes it; with one host gear exits with the program's exit code (128+N when \
            signal N ended it, 124 past --run-timeout), with several each line is prefixed with its host and gear exits 1 when \
            any run failed. --detach prints the job ids and leaves: `gear wait HOST/JOB` and `GET /jobs/{id}/log` \
            follow up. Admins only by default (jobs.run).

            Examples:
              gear run -- /usr/bin/uname -a
              gear run --image localhost/busybox node1 node2 -- sh -c 'df -h /'
              gear run --run-timeout 10m -e DB=main -- /usr/local/bin/migrate
            """)

    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "An image to run with podman; without it, the command runs on the host (exec runtime).") var image: String?
    @Option(name: .long, help: "The image's entrypoint to replace (with --image).") var entrypoint: String?
    @Option(name: [.short, .customLong("env")], help: "KEY=VALUE for the program's environment; repeatable.") var env: [String] = []
    @Option(name: .customLong("env-id"), help: "A named environment (PUT /environment/ID) the program receives first.") var envID: String?
    @Option(name: .long, help: "A memory limit: bytes or 256M, 1G.") var memory: String?
    @Option(name: .long, help: "A CPU limit in CPUs (0.5 is half of one).") var cpus: Double?
    @Option(name: .customLong("run-timeout"), help: "How long it may run: seconds or 90s, 15m, 2h (default 1h).") var runTimeout: String?
    @Flag(name: .long, help: "Print the job ids and return without waiting.") var detach = false
    @Argument(help: "host[:port]; none for the default geard") var hosts: [String] = []

    func validate() throws {
        guard let command = CommandTail.arguments, !command.isEmpty else {
            throw ValidationError("give the command after --: gear run -- /usr/bin/uptime")
        }
        for pair in env where KeyValue.split(pair) == nil { throw ValidationError("-e takes KEY=VALUE, not '\(pair)'") }
        if entrypoint != nil && image == nil { throw ValidationError("--entrypoint needs --image") }
    }

    var request: RunRequest {
        var request = RunRequest(
            runtime: image == nil ? "exec" : "podman", image: image, cmd: CommandTail.arguments ?? [],
            environment: env.isEmpty
                ? nil : env.compactMap { EnvironmentVariable(assignment: $0) },
            timeout: runTimeout.map { DurationText($0) })
        request.command = entrypoint
        if entrypoint != nil {
            request.arguments = request.cmd
            request.cmd = nil
        }
        request.environmentID = envID
        request.memory = memory.map { MemoryLimit($0) }
        request.cpus = cpus
        return request
    }

    func run() async throws {
        let targets = try global.locators(hosts.isEmpty ? ["-"] : hosts.map { $0 + "/-" }, takesCommand: true)
        let (global, request, detach) = (global, self.request, self.detach)
        let single = targets.count == 1
        let out = LinePrinter()
        let code = await FanOut.exitCode(targets, options: global, label: { endpoint, _ in "\(endpoint)" }) { client, _, prefix in
            let answer = try await client.run(request, requestID: single ? global.requestID : nil)
            let id = answer.job.id
            if detach {
                out.write(Data("\(prefix)job \(id) \(answer.job.state.rawValue)\n".utf8))
                return 0
            }
            for try await entry in client.jobLogs(id, GearClient.LogOptions(lines: "all", follow: true)) {
                // The program's lines, not systemd's own about its unit (Starting, Started, Failed...).
                if entry.pid == 1 { continue }
                var bytes = Data(prefix.utf8)
                bytes.append(entry.messageBytes)
                bytes.append(UInt8(ascii: "\n"))
                out.write(bytes)
            }
            var job = try await client.job(id)
            while !job.state.isFinished {
                do {
                    job = try await client.wait(job: id, timeout: 60).job
                } catch GearClientError.api(_, let error) where error.job != nil {
                    job = error.job ?? job
                }
            }
            return Self.exitCode(job, label: prefix)
        }
        if code != 0 { throw ExitCode(code) }
    }

    /// The exit code of a finished run: the program's, 128+N for signal N, 124 past its timeout, 1 otherwise.
    static func exitCode(_ job: Job, label: String) -> Int32 {
        if job.state == .succeeded { return 0 }
        let exit = job.exit
        if exit?.result != "exit-code" || exit?.exitCode == nil {
            FileHandle.standardError.write(Data("gear: \(label)job \(job.id): \(job.error?.message.split(separator: "\n").first ?? "failed")\n".utf8))
        }
        if exit?.result == "timeout" { return 124 }
        if let code = exit?.exitCode, exit?.result == "exit-code" { return Int32(clamping: code) }
        if let signal = exit?.signal { return Int32(clamping: 128 + signal) }
        return 1
    }
}

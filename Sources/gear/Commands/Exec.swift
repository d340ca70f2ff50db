import ArgumentParser
import Foundation
import GearAPI
import GearClient

#if canImport(Glibc)
    import Glibc
#endif

/// `gear exec`: a command inside a running container, on one host or several.
struct Exec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command inside running containers.",
        discussion: """
            The command follows `--`. Its stdout and stderr arrive as it writes them; with one locator gear exits with the \
            command's exit code (128+N when signal N ended it, 124 when it timed out), with several each line is prefixed \
            with its container and gear exits 1 when any command failed. Admins only by default (container.exec).

            Examples:
              gear exec web -- ls -l /data
              gear exec -e DEBUG=1 -w /srv node1/web node2/web -- ./check.sh
            """)

    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .customLong("env")], help: "KEY=VALUE added to the container's environment; repeatable.") var env: [String] = []
    @Option(name: [.short, .customLong("workdir")], help: "The directory to run in (absolute).") var workdir: String?
    @Option(name: [.short, .long], help: "The user (podman containers only): a name or number.") var user: String?
    @Option(name: .customLong("exec-timeout"), help: "Seconds before the command is killed (default 300).") var execTimeout: Double?
    @Argument(help: "[host[:port]/]id") var locators: [String]

    func validate() throws {
        guard let command = CommandTail.arguments, !command.isEmpty else { throw ValidationError("give the command after --: gear exec web -- ls") }
        for pair in env where !pair.contains("=") { throw ValidationError("-e takes KEY=VALUE, not '\(pair)'") }
        guard !locators.isEmpty else { throw ValidationError("name a container: [host[:port]/]id") }
    }

    func run() async throws {
        let parsed = try global.locators(locators, takesCommand: true)
        var variables: [String: String] = [:]
        for pair in env { variables[String(pair.prefix { $0 != "=" })] = String(pair.drop { $0 != "=" }.dropFirst()) }
        let request = ExecRequest(
            cmd: CommandTail.arguments ?? [], env: variables.isEmpty ? nil : variables, workingDir: workdir, user: user, timeout: execTimeout)
        let single = parsed.count == 1
        let global = self.global
        let out = LinePrinter()
        let codes = await withTaskGroup(of: Int32.self) { group in
            for locator in parsed {
                group.addTask {
                    let endpoint = locator.endpoint(global)
                    let label = "\(endpoint)/\(locator.id): "
                    do {
                        let client = try global.client(for: endpoint)
                        var code: Int32 = 1
                        for try await frame in client.exec(locator.id, request) {
                            switch frame.stream {
                            case "stdout", "stderr":
                                var bytes = Data()
                                if !single { bytes.append(Data(label.utf8)) }
                                bytes.append(frame.bytes)
                                if frame.stream == "stdout" { out.write(bytes) } else { FileHandle.standardError.write(bytes) }
                            default:
                                if frame.error == "timeout" {
                                    code = 124
                                } else if let exit = frame.exitCode {
                                    code = Int32(clamping: exit)
                                } else if let signal = frame.signal {
                                    code = Int32(clamping: 128 + signal)
                                }
                            }
                        }
                        return code
                    } catch {
                        FileHandle.standardError.write(Data("gear: \(endpoint)/\(locator.id): \(Output.describe(error))\n".utf8))
                        return 1
                    }
                }
            }
            var codes: [Int32] = []
            for await code in group { codes.append(code) }
            return codes
        }
        let code = single ? (codes.first ?? 1) : (codes.allSatisfy { $0 == 0 } ? 0 : 1)
        if code != 0 { throw ExitCode(code) }
    }
}

import ArgumentParser
import Foundation

/// gear: the command line for geard. A thin client: every command is a GearClient call per locator.
@main
struct Gear: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gear",
        abstract: "Drive geard on one host or many: gear start node1/web node2/web",
        discussion: """
            A LOCATOR is [host[:port]/]id. Without a host the call goes to --host, GEAR_HOST, or the local geard's unix \
            socket /run/gear/geard.sock. Calls to different hosts run in parallel, calls to one host in order; the exit \
            status is 1 when any call failed, 64 for a usage error.
            """,
        subcommands: [
            Install.self, Start.self, Stop.self, Restart.self, Delete.self, Status.self, List.self, Ports.self, Logs.self, Node.self, Wait.self,
            Exec.self, Run.self, Copy.self, Image.self, Deploy.self,
            Certs.self, Token.self, Etcd.self, NATS.self,
        ])
}

extension Gear {
    /// Splits the command line at the first `--` (what follows is the container's command, see `CommandTail`),
    /// then parses and runs the command.
    static func main() async {
        let all = Array(CommandLine.arguments.dropFirst())
        let split = all.firstIndex(of: "--")
        let head = split.map { Array(all[..<$0]) } ?? all
        let tail = split.map { Array(all[($0 + 1)...]) } ?? []
        await CommandTail.$arguments.withValue(split == nil ? nil : tail) {
            do {
                var command = try parseAsRoot(head)
                if var command = command as? any AsyncParsableCommand {
                    try await command.run()
                } else {
                    try command.run()
                }
            } catch {
                exit(withError: error)
            }
        }
    }
}

/// What followed `--` on the command line: the command of a container (`gear install ... -- httpd -f`).
/// argument-parser cannot have a second list of positionals after the locators, so the line is split before
/// parsing.
enum CommandTail {
    @TaskLocal static var arguments: [String]? = nil
}

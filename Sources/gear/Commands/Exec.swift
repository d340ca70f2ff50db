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
              gear exec -it web -- sh
              tar c dir | gear exec -i web -- tar x -C /data
            """)

    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .customLong("env")], help: "KEY=VALUE added to the container's environment; repeatable.") var env: [String] = []
    @Option(name: [.short, .customLong("workdir")], help: "The directory to run in (absolute).") var workdir: String?
    @Option(name: [.short, .long], help: "The user (podman containers only): a name or number.") var user: String?
    @Option(name: .customLong("exec-timeout"), help: "Seconds before the command is killed (default 300; none with -i or -t).")
    var execTimeout: Double?
    @Flag(name: [.short, .long], help: "Pass gear's stdin to the command (one container).") var interactive = false
    @Flag(name: [.short, .long], help: "Run the command in a terminal, sized and resized as gear's (one container).") var tty = false
    @Argument(help: "[host[:port]/]id") var locators: [String]

    func validate() throws {
        guard let command = CommandTail.arguments, !command.isEmpty else { throw ValidationError("give the command after --: gear exec web -- ls") }
        for pair in env where KeyValue.split(pair) == nil { throw ValidationError("-e takes KEY=VALUE, not '\(pair)'") }
        guard !locators.isEmpty else { throw ValidationError("name a container: [host[:port]/]id") }
        if (interactive || tty) && locators.count > 1 { throw ValidationError("-i and -t take one container") }
    }

    func run() async throws {
        let parsed = try global.locators(locators, takesCommand: true)
        var variables: [String: String] = [:]
        for (name, value) in env.compactMap(KeyValue.split) { variables[name] = value }
        if interactive || tty, let locator = parsed.first {
            if tty, variables["TERM"] == nil { variables["TERM"] = ProcessInfo.processInfo.environment["TERM"] ?? "xterm" }
            var exec = ExecRequest(
                cmd: CommandTail.arguments ?? [], env: variables.isEmpty ? nil : variables, workingDir: workdir, user: user, timeout: execTimeout)
            exec.tty = tty ? true : nil
            let endpoint = locator.endpoint(global)
            let code = try await InteractiveTerminal.run(
                client: try global.client(for: endpoint), id: locator.id,
                request: InteractiveExecRequest(exec: exec, stdin: interactive, size: tty ? InteractiveTerminal.size() : nil))
            if code != 0 { throw ExitCode(code) }
            return
        }
        let request = ExecRequest(
            cmd: CommandTail.arguments ?? [], env: variables.isEmpty ? nil : variables, workingDir: workdir, user: user, timeout: execTimeout)
        let out = LinePrinter()
        let code = await FanOut.exitCode(parsed, options: global, label: { endpoint, locator in "\(endpoint)/\(locator.id)" }) {
            client, locator, prefix in
            var code: Int32 = 1
            for try await frame in client.exec(locator.id, request) {
                switch frame.stream {
                case "stdout", "stderr":
                    var bytes = Data(prefix.utf8)
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
        }
        if code != 0 { throw ExitCode(code) }
    }
}

/// `gear exec -i`/`-t`: the interactive exec over a WebSocket, with gear's own terminal in raw mode (with `-t`
/// when stdin is one), its size sent at the start and on every `SIGWINCH`.
enum InteractiveTerminal {
    /// gear's terminal size (stdout's, else stdin's), if it has one.
    static func size() -> TerminalSize? {
        var size = winsize()
        for fd in [Int32(1), 0] where ioctl(fd, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 && size.ws_row > 0 {
            return TerminalSize(width: Int(size.ws_col), height: Int(size.ws_row))
        }
        return nil
    }

    /// Runs the session; answers the exit code gear exits with (as `gear exec`: 128+N for signal N, 124 timeout).
    static func run(client: GearClient, id: String, request: InteractiveExecRequest) async throws -> Int32 {
        let raw = request.exec.tty == true && isatty(0) == 1
        var saved = termios()
        if raw, tcgetattr(0, &saved) == 0 {
            var settings = saved
            cfmakeraw(&settings)
            tcsetattr(0, TCSANOW, &settings)
        }
        defer { if raw { tcsetattr(0, TCSANOW, &saved) } }
        let (input, feed) = AsyncStream<ExecInput>.makeStream()
        var resizes: (any DispatchSourceSignal)?
        if request.exec.tty == true {
            signal(SIGWINCH, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: SIGWINCH)
            source.setEventHandler { if let size = size() { feed.yield(.resize(size)) } }
            source.resume()
            resizes = source
        }
        defer { resizes?.cancel() }
        if request.stdin {
            // A thread of its own: reading stdin blocks.
            Thread.detachNewThread {
                var buffer = [UInt8](repeating: 0, count: 32 * 1024)
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                    if count < 0, errno == EINTR { continue }
                    guard count > 0 else { break }
                    feed.yield(.stdin(Array(buffer[0..<count])))
                }
                feed.yield(.closeStdin)
            }
        }
        let exit = try await client.execInteractive(id, request, input: input) { channel, bytes in
            let fd: Int32 = channel == .stderr ? 2 : 1
            bytes.withUnsafeBytes { raw in
                var at = 0
                while at < raw.count {
                    let written = write(fd, raw.baseAddress! + at, raw.count - at)
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else { return }
                    at += written
                }
            }
        }
        feed.finish()
        if exit.error == "timeout" { return 124 }
        if let code = exit.exitCode { return Int32(clamping: code) }
        if let signal = exit.signal { return Int32(clamping: 128 + signal) }
        return 1
    }
}

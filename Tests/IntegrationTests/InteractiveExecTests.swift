import Foundation
import GearAPI
import GearClient
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The interactive exec (`GET /container/{id}/exec` as a WebSocket, `gear exec -i/-t`) against real containers: a
/// terminal inside the podman container (its pty, size, hostname and processes) and inside an exec container (its
/// user), resizes, stdin and its end, exit codes; clients that go away or break the protocol leave nothing
/// running; refusals are JSON errors before the upgrade.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct InteractiveExecTests {
    /// What a session printed, by channel, and how it ended.
    final class Transcript: @unchecked Sendable {
        private let lock = NSLock()
        private var stdout: [UInt8] = []
        private var stderr: [UInt8] = []

        func append(_ channel: ExecChannel, _ bytes: [UInt8]) {
            lock.withLock { channel == .stderr ? stderr.append(contentsOf: bytes) : stdout.append(contentsOf: bytes) }
        }
        var out: String { lock.withLock { String(decoding: stdout, as: UTF8.self) } }
        var err: String { lock.withLock { String(decoding: stderr, as: UTF8.self) } }
    }

    /// Runs a session whose input is `messages`, sent as they are listed (each after the output so far contains
    /// its `after` text, when it has one), then kept open until the command ends.
    static func session(
        _ geard: GeardProcess, _ id: String, _ request: InteractiveExecRequest, _ messages: [(after: String?, ExecInput)]
    ) async throws -> (exit: ExecFrame, transcript: Transcript) {
        let transcript = Transcript()
        let (input, feed) = AsyncStream<ExecInput>.makeStream()
        let feeder = Task {
            for (after, message) in messages {
                if let after {
                    let seen = try await eventually(timeout: .seconds(20)) { transcript.out.contains(after) }
                    if !seen { break }
                }
                feed.yield(message)
            }
        }
        defer {
            feeder.cancel()
            feed.finish()
        }
        let exit = try await geard.client.execInteractive(id, request, input: input) { channel, bytes in transcript.append(channel, bytes) }
        return (exit, transcript)
    }

    static func line(_ text: String) -> ExecInput { .stdin(Array(text.utf8)) }

    @Test func aTerminalInsideAPodmanContainerIsSizedAndResized() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("iexec-pod")
        #expect(
            try await geard.client.install(id, InstallRequest(image: "localhost/busybox", cmd: ["sleep", "100000"], started: true), wait: 60).job
                .state
                == .succeeded)
        var exec = ExecRequest(cmd: ["sh"], env: ["TERM": "xterm"])
        exec.tty = true
        let (exit, transcript) = try await Self.session(
            geard, id, InteractiveExecRequest(exec: exec, stdin: true, size: TerminalSize(width: 90, height: 20)),
            [
                (nil, Self.line("tty; stty size; hostname; echo term=$TERM; ps -o pid,comm\n")),
                ("term=xterm", .resize(TerminalSize(width: 132, height: 43))),
                (nil, Self.line("stty size; exit 6\n")),
            ])
        let out = transcript.out
        #expect(exit.exitCode == 6, "\(exit) \(out)")
        #expect(out.contains("/dev/pts/"), "a terminal: \(out)")
        #expect(out.contains("20 90"), "the first size: \(out)")
        #expect(out.contains("43 132"), "the size after a resize: \(out)")
        #expect(out.contains("term=xterm"))
        #expect(!out.contains(ProcessInfo.processInfo.hostName + "\r\n"), "the container's hostname: \(out)")
        #expect(out.contains("sleep") && !out.contains("systemd"), "the container's processes: \(out)")
        #expect(transcript.err.isEmpty, "a terminal has one stream")
        // gear exec -it under a terminal of its own (script), with the exit code passed on.
        let cli = try sh(
            "printf 'echo from-cli; exit 4\\n' | script -qec 'stty cols 77 rows 11; \(Sandbox.gearPath) exec --host 127.0.0.1:\(geard.port) -it \(id) -- sh' /dev/null"
        )
        #expect(cli.status == 4 && cli.output.contains("from-cli"), "\(cli)")
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func anExecContainersTerminalRunsAsItsUserAndStdinEnds() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("iexec-run")
        #expect(
            try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "100000"], started: true), wait: 60).job.state
                == .succeeded)
        let mainPID = try #require(Int32(try unitProperty("ctr-\(id).service", "MainPID")))
        let uid = try sh("awk '/^Uid:/ {print $2}' /proc/\(mainPID)/status").output.trimmingCharacters(in: .whitespacesAndNewlines)
        var tty = ExecRequest(cmd: ["/bin/sh"])
        tty.tty = true
        let (exit, transcript) = try await Self.session(
            geard, id, InteractiveExecRequest(exec: tty, stdin: true), [(nil, Self.line("echo uid=$(id -u); tty; exit 3\n"))])
        #expect(exit.exitCode == 3 && transcript.out.contains("uid=\(uid)") && transcript.out.contains("/dev/pts/"), "\(transcript.out)")
        // Without a terminal: stdin until its end, stdout and stderr apart.
        let (piped, output) = try await Self.session(
            geard, id,
            InteractiveExecRequest(exec: ExecRequest(cmd: ["/bin/sh", "-c", "cat; echo done >&2"]), stdin: true),
            [(nil, Self.line("one\n")), ("one", Self.line("two\n")), ("two", .closeStdin)])
        #expect(piped.exitCode == 0 && output.out == "one\ntwo\n" && output.err == "done\n", "\(piped) \(output.out) \(output.err)")
        // gear exec -i passes stdin on, and the exit code back.
        let cli = try sh("printf 'a\\nb\\n' | \(Sandbox.gearPath) exec --host 127.0.0.1:\(geard.port) -i \(id) -- /bin/sh -c 'wc -l; exit 9'")
        #expect(cli.status == 9 && cli.output.trimmingCharacters(in: .whitespaces) == "2\n", "\(cli)")
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func clientsThatGoAwayOrBreakTheProtocolLeaveNothingRunning() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("iexec-kill")
        #expect(
            try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "100000"], started: true), wait: 60).job.state
                == .succeeded)
        // A client that closes its socket: the command and what it started are killed, and reaped.
        var tty = ExecRequest(cmd: ["/bin/sh", "-c", "sleep 33.25 & sleep 34.5"])
        tty.tty = true
        let (input, feed) = AsyncStream<ExecInput>.makeStream()
        let session = Task {
            try await geard.client.execInteractive(id, InteractiveExecRequest(exec: tty, stdin: true), input: input) { _, _ in }
        }
        #expect(try await eventually { try sh("pgrep -f 'sleep 34[.]5'").status == 0 })
        feed.finish()
        _ = try? await session.value
        #expect(try await eventually(timeout: .seconds(5)) { try sh("pgrep -f 'sleep 3[34][.]'").status != 0 }, "the command outlived its client")
        let geardPID = geard.process.processIdentifier
        #expect(
            try await eventually(timeout: .seconds(5)) { try sh("ps --ppid \(geardPID) -o stat= | grep -c Z").output.hasPrefix("0") },
            "no zombie is left")
        // A peer that sends a text message, or a message on a channel that is not its own: closed with a reason,
        // and the command is killed.
        for (opcode, payload, code) in [(1, "hello", 1003), (2, "\u{01}stdout", 1008)] {
            let script = Self.hostilePeer(
                port: geard.port, path: "/container/\(id)/exec?cmd=/bin/sleep&cmd=35.75&stdin=true", opcode: opcode, payload: payload)
            let result = try sh("python3 -c \(Self.quoted(script))")
            #expect(result.output.contains("101") && result.output.contains("close \(code)"), "\(result.output)")
            #expect(try await eventually(timeout: .seconds(5)) { try sh("pgrep -f 'sleep 35[.]75'").status != 0 })
        }
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func aPodmanContainersCommandsDieWithTheirClient() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("iexec-podkill")
        #expect(
            try await geard.client.install(id, InstallRequest(image: "localhost/busybox", cmd: ["sleep", "100000"], started: true), wait: 60).job
                .state
                == .succeeded)
        // Killing `podman exec` alone would leave the command running inside the container.
        var tty = ExecRequest(cmd: ["sleep", "36.25"])
        tty.tty = true
        let (input, feed) = AsyncStream<ExecInput>.makeStream()
        let session = Task {
            try await geard.client.execInteractive(id, InteractiveExecRequest(exec: tty, stdin: true), input: input) { _, _ in }
        }
        #expect(try await eventually { try sh("pgrep -f 'sleep 36[.]25'").status == 0 })
        feed.finish()
        _ = try? await session.value
        #expect(try await eventually(timeout: .seconds(5)) { try sh("pgrep -f 'sleep 36[.]25'").status != 0 }, "the command outlived its client")
        // The same for the streamed form, for a client that goes away and for a timeout.
        _ = try sh("curl -s -m 1 -X POST -d '{\"Cmd\":[\"sleep\",\"37.75\"]}' http://127.0.0.1:\(geard.port)/container/\(id)/exec")
        #expect(try await eventually(timeout: .seconds(5)) { try sh("pgrep -f 'sleep 37[.]75'").status != 0 }, "the command outlived its client")
        let timedOut = try curl(
            "POST", "http://127.0.0.1:\(geard.port)/container/\(id)/exec", body: #"{"Cmd":["sleep","38.5"],"Timeout":1}"#, options: "-m 30")
        #expect(timedOut.body.contains("timeout"), "\(timedOut.body)")
        #expect(try await eventually(timeout: .seconds(5)) { try sh("pgrep -f 'sleep 38[.]5'").status != 0 }, "the command outlived its timeout")
        // The container itself runs on.
        #expect(try await geard.client.status(id).activeState == "active")
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func refusalsAreJSONErrorsBeforeTheUpgrade() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("iexec-bad")
        _ = try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "100000"], started: false), wait: 60)
        let upgrade =
            "-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='"
        let base = "http://127.0.0.1:\(geard.port)"
        for (path, status, message) in [
            ("/container/\(id)/exec?cmd=/bin/true", 409, "not running"),
            ("/container/nosuch-\(id)/exec?cmd=/bin/true", 404, "no container"),
            ("/container/\(id)/exec?cmd=/bin/true&bogus=1", 400, "bogus"),
            ("/container/\(id)/exec", 400, "Cmd"),
            ("/container/\(id)/exec?cmd=/bin/true&tty=maybe", 400, "tty"),
            ("/container/\(id)/exec?cmd=/bin/true&cols=80", 400, "cols and rows"),
            ("/container/\(id)/exec?cmd=ls%00x", 400, "forbidden character"),
            ("/container/\(id)/exec?cmd=/bin/true&timeout=100000", 400, "Timeout"),
            ("/container/bad%20id/exec?cmd=/bin/true", 400, "id"),
        ] {
            let answer = try curl("GET", base + path, options: upgrade)
            #expect(answer.status == status && answer.body.contains(message), "\(path): \(answer.status) \(answer.body)")
            #expect(answer.body.contains("\"error\""), "a JSON error: \(answer.body)")
        }
        // An incomplete upgrade (no key), and one to another protocol (curl --http2 over plain HTTP asks for h2c):
        // the first is refused, the second served as HTTP/1.1.
        let keyless = try curl("GET", base + "/container/\(id)/exec?cmd=/bin/true", options: "-H 'Connection: Upgrade' -H 'Upgrade: websocket'")
        #expect(keyless.status == 400 && keyless.body.contains("Sec-WebSocket-Key"), "\(keyless.body)")
        let h2c = try sh("curl -s -m 10 --http2 -o /dev/null -w '%{http_code}' \(base)/containers")
        #expect(h2c.output == "200", "\(h2c)")
        // Without the upgrade, and as the second request of a connection.
        // A plain GET is told to upgrade: 426 with Upgrade: websocket.
        #expect(try curl("GET", base + "/container/\(id)/exec?cmd=/bin/true").status == 426)
        let second = try sh(
            "curl -s -o /dev/null -w '%{http_code} ' \(base)/healthz --next -s -o /dev/null \(upgrade) -w '%{http_code}' '\(base)/container/\(id)/exec?cmd=/bin/true'"
        )
        #expect(second.output.hasSuffix(" 400"), "\(second.output)")
        // gear tells what geard said.
        let cli = try sh("\(Sandbox.gearPath) exec --host 127.0.0.1:\(geard.port) -it \(id) -- sh")
        #expect(cli.status == 1 && cli.output.contains("not running"), "\(cli.output)")
        _ = try await geard.client.delete(id, wait: 60)
    }

    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// A WebSocket client (raw sockets) that upgrades, sends one masked frame of `opcode`, and prints the status
    /// line and the close code it gets back.
    static func hostilePeer(port: Int, path: String, opcode: Int, payload: String) -> String {
        """
        import socket, struct, os
        s = socket.create_connection(("127.0.0.1", \(port)), timeout=10)
        s.sendall(b"GET \(path) HTTP/1.1\\r\\nHost: x\\r\\nConnection: Upgrade\\r\\nUpgrade: websocket\\r\\n"
                  b"Sec-WebSocket-Version: 13\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n\\r\\n")
        head = b""
        while b"\\r\\n\\r\\n" not in head:
            head += s.recv(1)
        print(head.split(b"\\r\\n")[0].decode())
        data = \(Self.pythonBytes(payload))
        mask = os.urandom(4)
        s.sendall(bytes([0x80 | \(opcode), 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
        buf = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + (buf[1] & 0x7f):
                op, n = buf[0] & 0x0f, buf[1] & 0x7f
                frame, buf = buf[2:2 + n], buf[2 + n:]
                if op == 8:
                    print("close", struct.unpack(">H", frame[:2])[0], frame[2:].decode())
                    raise SystemExit(0)
        print("no close")
        """
    }

    static func pythonBytes(_ text: String) -> String {
        "bytes([" + text.utf8.map(String.init).joined(separator: ",") + "])"
    }
}

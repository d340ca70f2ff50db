import Foundation
import GearAPI
import GearClient
import Testing

/// Clients that hold connections as long as they like: thousands of half-open connections trickling header bytes
/// (slowloris) from one address, against the connection limits and the header timeout of a live geard.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct HostileClientTests {
    @Test func twoThousandSlowConnectionsCostBoundedDescriptorsAndAWellBehavedClientIsServed() async throws {
        let geard = try await GeardProcess.start(arguments: ["--max-connections-per-client", "100", "--header-timeout", "3"])
        defer { Task { await geard.stop() } }
        let pid = geard.process.processIdentifier
        func descriptors() throws -> Int { Int(try sh("ls /proc/\(pid)/fd | wc -l").output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }
        let before = try descriptors()
        // 2,000 connections from 127.0.0.2, each sending half a request head and then a byte every 0.5 s.
        let script = """
            import socket, time, sys
            socks, refused = [], 0
            for i in range(2000):
                s = socket.socket(); s.bind(("127.0.0.2", 0))
                try:
                    s.connect(("127.0.0.1", \(geard.port))); s.sendall(b"GET /containers HTTP/1.1\\r\\nHost: x\\r\\nX-Slow: ")
                    s.setblocking(False); socks.append(s)
                except OSError:
                    refused += 1
            def alive():
                n = 0
                for s in socks:
                    try:
                        s.send(b"a")
                        if s.recv(1) == b"": continue
                    except BlockingIOError:
                        pass
                    except OSError:
                        continue
                    n += 1
                return n
            time.sleep(1); print("alive-1s", alive(), flush=True)
            open("/tmp/slow-ready", "w").close()
            for _ in range(8):
                time.sleep(0.5); alive()
            print("alive-5s", alive(), "refused", refused, flush=True)
            """
        try? FileManager.default.removeItem(atPath: "/tmp/slow-ready")
        try script.write(toFile: "/tmp/slowloris.py", atomically: true, encoding: .utf8)
        let abuser = Task.detached { try sh("python3 /tmp/slowloris.py") }
        #expect(try await eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: "/tmp/slow-ready") })
        let during = try descriptors()
        // A well-behaved client from another address: 100 status calls, one at a time.
        let id = uniqueID("hostile")
        #expect(try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"]), wait: 30).job.state == .succeeded)
        var times: [Double] = []
        for _ in 0..<100 {
            let answer = try sh("curl -s -o /dev/null -w '%{http_code} %{time_total}' http://127.0.0.1:\(geard.port)/container/\(id)/status").output
            let parts = answer.split(separator: " ")
            #expect(parts.first == "200")
            times.append(Double(parts.last ?? "") ?? 99)
        }
        times.sort()
        let p99 = times[98]
        let result = try await abuser.value.output
        #expect(p99 < 0.05, "status p99 \(p99) s while 2,000 slow connections were held")
        #expect(during - before <= 110, "descriptors: \(before) before, \(during) with 2,000 slow connections open")
        let alive1 = Int(result.split(separator: "\n").first { $0.hasPrefix("alive-1s") }?.split(separator: " ").last ?? "") ?? -1
        #expect(alive1 <= 100, "at most 100 connections of one address stay open: \(result)")
        #expect(result.contains("alive-5s 0 "), "the header timeout closed the rest: \(result)")
        let metrics = try sh("curl -s http://127.0.0.1:\(geard.port)/metrics").output
        #expect(metrics.contains("gear_connections_refused_total") && metrics.contains("gear_header_timeouts_total"))
        _ = try await geard.client.delete(id, wait: 30)
    }

    @Test func aKeepAliveConnectionWaitingForItsNextRequestIsNotCutByTheHeaderTimeout() async throws {
        let geard = try await GeardProcess.start(arguments: ["--header-timeout", "1"])
        defer { Task { await geard.stop() } }
        let script = """
            import socket, time
            s = socket.create_connection(("127.0.0.1", \(geard.port)))
            def ask():
                s.sendall(b"GET /containers HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
                data = b""
                while b"\\r\\n\\r\\n" not in data: data += s.recv(4096)
                head, _, body = data.partition(b"\\r\\n\\r\\n")
                length = int([l for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
                while len(body) < length: body += s.recv(4096)
                return head.split(b" ")[1]
            print(ask().decode(), flush=True)
            time.sleep(2.5)
            print(ask().decode(), flush=True)
            """
        try script.write(toFile: "/tmp/keepalive.py", atomically: true, encoding: .utf8)
        let output = try sh("python3 /tmp/keepalive.py 2>&1").output
        #expect(output == "200\n200\n", "\(output)")
    }
}

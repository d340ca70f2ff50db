import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Long-lived streams against a live geard over HTTPS: each certificate identity holds at most
/// `--max-streams-per-client` log follows, event follows and job waits (429 with `Retry-After` past it, its place back
/// when one ends), idle server-sent event follows send keep-alive comments, and a long job wait ends when geard
/// shuts down instead of holding its exit.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct StreamLimitTests {
    static func pki() throws -> String {
        let pki = "/tmp/gear-streams-pki-\(UUID().uuidString.prefix(8))"
        for command in [
            "certs init --out \(pki)", "certs issue node node1 --ip 127.0.0.1 --out \(pki)", "certs issue client a --role admin --out \(pki)",
            "certs issue client b --role admin --out \(pki)",
        ] {
            let result = try sh("\(Sandbox.gearPath) \(command)")
            guard result.status == 0 else { throw TestFailure("gear \(command): \(result.output)") }
        }
        return pki
    }

    static func https(_ pki: String, _ user: String, _ https: Int, _ rest: String) -> String {
        "curl -s --cacert \(pki)/ca.crt --cert \(pki)/\(user).crt --key \(pki)/\(user).key \(rest) 'https://127.0.0.1:\(https)"
    }

    @Test func eachIdentityHoldsAtMostItsStreamsAndIdleSSEFollowsKeepAlive() async throws {
        let pki = try Self.pki()
        let https = GeardProcess.freePort()
        let geard = try await GeardProcess.start(arguments: [
            "--https", "127.0.0.1:\(https)", "--tls-cert", "\(pki)/node1.crt", "--tls-key", "\(pki)/node1.key", "--tls-ca", "\(pki)/ca.crt",
            "--max-streams-per-client", "3", "--sse-keepalive", "1",
        ])
        defer { Task { await geard.stop() } }
        let dir = NSTemporaryDirectory() + "streams-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // a holds three event follows (SSE), quiet: nothing happens on this node.
        var followers: [Process] = []
        for i in 0..<3 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "exec " + Self.https(pki, "a", https, "-N -H 'Accept: text/event-stream' -o \(dir)/follow-\(i)") + "/events'"]
            try process.run()
            followers.append(process)
        }
        try await Task.sleep(for: .milliseconds(2500))
        #expect(followers.allSatisfy { $0.isRunning })
        // Idle, each got keep-alive comments (one a second).
        let first = (try? String(contentsOfFile: "\(dir)/follow-0", encoding: .utf8)) ?? ""
        #expect(first.components(separatedBy: ": keep-alive\n\n").count - 1 >= 2, "\(first)")

        // A fourth long-lived stream of a: 429 with Retry-After, for a follow of either kind and for a job wait.
        for path in ["/events", "/container/nosuch/log?follow=1", "/jobs/\(String(repeating: "0", count: 32))/wait?timeout=5"] {
            let answer = try sh(Self.https(pki, "a", https, "-m 10 -D - -o \(dir)/body") + "\(path)'").output
            #expect(answer.hasPrefix("HTTP/2 429") || answer.hasPrefix("HTTP/1.1 429"), "\(path): \(answer)")
            #expect(answer.lowercased().contains("retry-after: 1"), "\(answer)")
            let body = (try? String(contentsOfFile: "\(dir)/body", encoding: .utf8)) ?? ""
            #expect(body.contains(#""error":"too_many_streams""#) && body.contains("3 log follows"), "\(body)")
        }
        // Calls that end at once are not limited, nor is another identity.
        #expect(try sh(Self.https(pki, "a", https, "-m 10 -o /dev/null -w '%{http_code}'") + "/events?follow=0'").output == "200")
        #expect(try sh(Self.https(pki, "a", https, "-m 10 -o /dev/null -w '%{http_code}'") + "/node'").output == "200")
        #expect(try sh(Self.https(pki, "b", https, "-o /dev/null -w '%{http_code}' -m 2") + "/events'").output == "200")
        // One follow ends: its place comes back.
        kill(followers[0].processIdentifier, SIGKILL)
        followers[0].waitUntilExit()
        #expect(
            try await eventually {
                try sh(Self.https(pki, "a", https, "-o /dev/null -w '%{http_code}' -m 2") + "/events'").output == "200"
            })
        for process in followers.dropFirst() { kill(process.processIdentifier, SIGKILL) }
    }

    @Test func aLongJobWaitEndsWhenGeardShutsDown() async throws {
        let geard = try await GeardProcess.start()
        let id = uniqueID("slowstop")
        // A program that ignores SIGTERM: its stop takes until systemd's stop timeout.
        let install = try curl(
            "PUT", "http://127.0.0.1:\(geard.port)/container/\(id)?wait=30",
            body: #"{"Runtime":"exec","Cmd":["/bin/sh","-c","trap '' TERM; while true; do sleep 1; done"],"Started":true}"#)
        #expect(install.status == 200, "\(install.body)")
        let stop = try curl("PUT", "http://127.0.0.1:\(geard.port)/container/\(id)/stopped")
        let job = try #require(stop.headers["location"]).replacingOccurrences(of: "/jobs/", with: "")
        let waiter = Process()
        waiter.executableURL = URL(fileURLWithPath: "/bin/sh")
        let out = NSTemporaryDirectory() + "wait-\(id)"
        waiter.arguments = [
            "-c", "curl -s -m 60 -o \(out) -w '%{http_code}' 'http://127.0.0.1:\(geard.port)/jobs/\(job)/wait?timeout=600' > \(out).code",
        ]
        try waiter.run()
        try await Task.sleep(for: .seconds(1))
        #expect(waiter.isRunning)
        let stopping = ContinuousClock.now
        kill(geard.process.processIdentifier, SIGTERM)
        #expect(try await eventually(timeout: .seconds(10)) { !waiter.isRunning })
        let waited = ContinuousClock.now - stopping
        #expect(waited < .seconds(5), "the wait answered \(waited) after SIGTERM")
        #expect(((try? String(contentsOfFile: "\(out).code", encoding: .utf8)) ?? "") == "202")
        #expect(((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains(#""state":"running""#))
        // The stop job itself goes on until systemd's stop timeout: end it.
        try sh("systemctl kill --signal=SIGKILL ctr-\(id).service")
        await geard.stop()
        try await geard.restart()
        _ = try curl("DELETE", "http://127.0.0.1:\(geard.port)/container/\(id)?wait=120")
        await geard.stop()
    }

    @Test func aStalledUploadIsCutAndLeavesNothingWhileAsteadyOneGoesThrough() async throws {
        let geard = try await GeardProcess.start(arguments: ["--min-upload-rate", "2000", "--upload-rate-window", "1"])
        defer { Task { await geard.stop() } }
        let id = uniqueID("slowup")
        let body = #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"Volumes":[{"Name":"data","Path":"/data"}]}"#
        #expect(try curl("PUT", "http://127.0.0.1:\(geard.port)/container/\(id)?wait=30", body: body).status == 200)
        // 100 bytes of a promised 1 MB, then nothing: cut within the window (and a little), with a 408.
        let script = """
            import socket, time, sys
            s = socket.create_connection(("127.0.0.1", \(geard.port)))
            s.sendall(b"PUT /container/\(id)/files/data/stalled.bin HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 1000000\\r\\n\\r\\n" + b"x" * 100)
            start = time.time(); s.settimeout(10); answer = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk: break
                    answer += chunk
            except OSError:
                pass
            print(round(time.time() - start, 2)); print(answer.decode(errors="replace"))
            """
        let run = try sh("python3 -c '\(script.replacingOccurrences(of: "'", with: "'\\''"))'")
        let lines = run.output.split(separator: "\n", maxSplits: 1)
        let seconds = Double(lines.first ?? "") ?? 99
        #expect(seconds < 4, "cut after \(seconds) s: \(run.output)")
        #expect(run.output.contains("408") && run.output.contains("upload_too_slow"), "\(run.output)")
        let volume = "\(geard.stateDir)/volumes/\(id)/data"
        let left = (try? FileManager.default.contentsOfDirectory(atPath: volume)) ?? []
        #expect(left.isEmpty, "\(left)")
        // A steady upload (curl, 4 MiB at 1 MiB/s, over the minimum in every window) is stored whole.
        #expect(try sh("head -c 4194304 /dev/urandom > /tmp/\(id).bin").status == 0)
        let steady = try sh(
            "curl -s -o /dev/null -w '%{http_code}' --limit-rate 1M -T /tmp/\(id).bin http://127.0.0.1:\(geard.port)/container/\(id)/files/data/steady.bin"
        ).output
        #expect(steady == "201", "\(steady)")
        #expect(try sh("cmp /tmp/\(id).bin \(volume)/steady.bin").status == 0)
        _ = try curl("DELETE", "http://127.0.0.1:\(geard.port)/container/\(id)?wait=30")
    }
}

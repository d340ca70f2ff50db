import Foundation
import GearAPI
import GearClient
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `GET /container/{id}/log` against the real journal: tails, formats, cursors, follows, many followers, bad input.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct LogTests {
    struct Line: Decodable {
        var timestamp: String
        var cursor: String
        var priority: Int?
        var pid: Int?
        var message: String
        var messageBase64: String?
    }

    static func ndjson(_ body: String) throws -> [Line] {
        try body.split(separator: "\n").map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
    }

    /// Installs an exec container running `script` and waits until `marker` is in its journal.
    static func container(_ geard: GeardProcess, _ prefix: String, script: String, marker: String) async throws -> String {
        let id = uniqueID(prefix)
        let answer = try await geard.client.install(
            id, InstallRequest(runtime: "exec", cmd: ["/bin/sh", "-c", script], started: true, restart: "no"), wait: 60)
        #expect(answer.job.state == .succeeded)
        let found = try await eventually(timeout: .seconds(30)) {
            try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/log?lines=all").body.contains(marker)
        }
        #expect(found, "\(marker) never reached the journal")
        return id
    }

    @Test func tailFormatsAndCursorsReturnExactlyWhatTheJournalHolds() async throws {
        let geard = try await SharedGeard.get()
        let script =
            #"for i in $(seq 1 300); do echo line-$i; done; printf 'bin\377\376ary\n'; echo; printf 'quote " back \\ tab\tend\n'; echo done-marker; exec sleep 1000"#
        let id = try await Self.container(geard, "logs", script: script, marker: "done-marker")
        let base = "http://127.0.0.1:\(geard.port)/container/\(id)/log"

        // Default: the last 100 entries as text, and the answer ends.
        let tail = try curl("GET", base)
        #expect(tail.body.contains("bin\u{FFFD}\u{FFFD}ary\n"))
        #expect(tail.status == 200 && tail.headers["content-type"]?.hasPrefix("text/plain") == true)
        let lines = tail.body.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == 100)
        #expect(lines.contains("line-300") && !lines.contains("line-150"))

        // NDJSON: every field; invalid UTF-8 comes with the exact bytes. (journald drops empty stdout lines.)
        let all = try Self.ndjson(try curl("GET", base + "?lines=all", headers: [("Accept", "application/x-ndjson")]).body)
        let messages = all.map(\.message)
        // systemd's own "Started …" entry for the unit may land anywhere among the first lines (it is written
        // after the process runs); the container's lines come in order, each once.
        let first = try #require(messages.firstIndex(of: "line-1"))
        #expect(messages.filter { $0.hasPrefix("line-") } == (1...300).map { "line-\($0)" })
        let binary = try #require(all.first { $0.messageBase64 != nil })
        #expect(Data(base64Encoded: binary.messageBase64!) == Data([0x62, 0x69, 0x6E, 0xFF, 0xFE, 0x61, 0x72, 0x79]))
        #expect(messages.contains("quote \" back \\ tab\tend"))
        let line1 = all[first]
        #expect(line1.priority == 6 && (line1.pid ?? 0) > 0 && line1.timestamp.hasSuffix("Z") && line1.cursor.contains("s="))

        // A cursor resumes right after its entry: nothing lost, nothing repeated.
        let atIndex = try #require(messages.firstIndex(of: "line-150"))
        let at = all[atIndex]
        let resumed = try Self.ndjson(try curl("GET", base + "?format=ndjson&cursor=" + at.cursor).body)
        #expect(resumed.map(\.cursor) == Array(all[(atIndex + 1)...]).map(\.cursor))
        #expect(resumed.first { $0.message.hasPrefix("line-") }?.message == "line-151")

        // lines=N, and since/until bound by time.
        #expect(try Self.ndjson(try curl("GET", base + "?format=ndjson&lines=3").body).map(\.message) == messages.suffix(3))
        #expect(try curl("GET", base + "?lines=0").body.isEmpty)
        #expect(try curl("GET", base + "?since=-1h&lines=all").body.contains("line-1\n"))
        #expect(try curl("GET", base + "?since=%2B1h").body.isEmpty)
        #expect(try curl("GET", base + "?until=-1d").body.isEmpty)

        // Bad input: 400 or 404 with a JSON message.
        for (query, status) in [
            ("?lines=abc", 400), ("?lines=-5", 400), ("?since=yesterday", 400), ("?until=2026-13-40T99:00:00Z", 400),
            ("?cursor=garbage", 400), ("?cursor=%0Aevil", 400), ("?format=xml", 400), ("?follow=maybe", 400),
            ("?since=-1m&until=-1h", 400),
        ] {
            let answer = try curl("GET", base + query)
            #expect(answer.status == status, "\(query): \(answer.status) \(answer.body)")
            #expect(try answer.decode(APIError.self).message.isEmpty == false)
        }
        #expect(try curl("GET", base + "?lines=99999999999999999999999").status == 200)
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/container/nosuch-\(id)/log").status == 404)
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/container/..%2Fetc/log").status == 400)
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func longLinesArriveWhole() async throws {
        let geard = try await SharedGeard.get()
        // journald splits stdout lines at LineMax (48K by default); every byte must still arrive.
        let script = #"head -c 1048576 /dev/zero | tr '\0' a; echo; echo long-done; exec sleep 1000"#
        let id = try await Self.container(geard, "longlog", script: script, marker: "long-done")
        let body = try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/log?lines=all").body
        #expect(body.utf8.count(where: { $0 == UInt8(ascii: "a") }) >= 1_048_576)
        let json = try Self.ndjson(try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/log?lines=all&format=ndjson").body)
        #expect(json.map(\.message).joined().utf8.count(where: { $0 == UInt8(ascii: "a") }) >= 1_048_576)
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func followDeliversNewLinesAcrossRotationAndEndsOnDelete() async throws {
        let geard = try await SharedGeard.get()
        let script = #"i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.1; done"#
        let id = try await Self.container(geard, "follow", script: script, marker: "tick-2")
        let base = "http://127.0.0.1:\(geard.port)/container/\(id)/log"

        // geard's own style: Accept ...;stream=true follows. Rotate and vacuum the journal meanwhile.
        let output = NSTemporaryDirectory() + "follow-\(id)"
        let follower = try Self.background(
            "curl -sN -H 'Accept: application/json;stream=true' '\(base)?lines=1' > \(output)")
        try await Task.sleep(for: .seconds(1))
        try sh("journalctl --rotate && journalctl --vacuum-files=1 >/dev/null 2>&1")
        // 25 ticks: 1.5 s of them after the rotation, on a quiet machine; a loaded one may be slower, so wait for them
        // rather than for a fixed time.
        var numbers: [Int] = []
        _ = try await eventually(timeout: .seconds(30)) {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            // Only whole lines: the follower may be in the middle of writing the last one.
            var lines = text.split(separator: "\n")
            if !text.hasSuffix("\n") { lines = lines.dropLast() }
            numbers = try lines.map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)).message }.filter { $0.hasPrefix("tick-") }
                .compactMap { Int($0.dropFirst(5)) }
            return numbers.count >= 25
        }
        #expect(numbers.count >= 25, "\(numbers)")
        #expect(numbers == Array((numbers.first ?? 0)..<((numbers.first ?? 0) + numbers.count)), "gaps or repeats: \(numbers)")
        #expect(follower.isRunning)

        // SSE: id is the cursor; Last-Event-ID resumes right after it.
        let sse = try curl("GET", base + "?lines=5", headers: [("Accept", "text/event-stream")])
        #expect(sse.headers["content-type"] == "text/event-stream")
        let events = sse.body.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(events.count == 5)
        let third = events[2].split(separator: "\n")
        let cursor = String(third[0].dropFirst("id: ".count))
        let thirdData = try JSONDecoder().decode(Line.self, from: Data(third[1].dropFirst("data: ".count).utf8))
        let resumed = try curl("GET", base + "?lines=5", headers: [("Accept", "text/event-stream"), ("Last-Event-ID", cursor)])
        let next = try #require(resumed.body.components(separatedBy: "\n\n").first?.split(separator: "\n"))
        let nextData = try JSONDecoder().decode(Line.self, from: Data(next[1].dropFirst("data: ".count).utf8))
        #expect(Int(nextData.message.dropFirst(5)) == Int(thirdData.message.dropFirst(5))! + 1)

        // Deleting the container ends the follow.
        _ = try await geard.client.delete(id, wait: 60)
        #expect(try await eventually(timeout: .seconds(10)) { !follower.isRunning }, "the follow did not end after delete")
    }

    /// A follow reopens its journal reader every `LogStream.reopenAfterEntries` entries (to unmap what it read): the
    /// lines go on in order, none lost, none twice, whether they came in the first batch or one by one.
    @Test func aLongFollowGetsEveryLineOnceAcrossReopenings() async throws {
        let geard = try await SharedGeard.get()
        let script = #"i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo n-$i; [ $((i % 4)) = 0 ] && sleep 0.02; done; sleep 100000"#
        let id = try await Self.container(geard, "reopen", script: script, marker: "n-2")
        let output = NSTemporaryDirectory() + "reopen-\(id)"
        let follower = try Self.background(
            "curl -sN 'http://127.0.0.1:\(geard.port)/container/\(id)/log?lines=all&follow=1&format=ndjson' > \(output)")
        let complete = try await eventually(timeout: .seconds(30)) {
            (try? String(contentsOfFile: output, encoding: .utf8))?.contains(#""message":"n-400""#) == true
        }
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        let numbers = text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
            .map(\.message).filter { $0.hasPrefix("n-") }.compactMap { Int($0.dropFirst(2)) }
        #expect(complete && numbers == Array(1...400), "gaps or repeats: \(numbers.count) lines, last \(numbers.suffix(3))")
        #expect(follower.isRunning)
        _ = try await geard.client.delete(id, wait: 60)
        #expect(try await eventually(timeout: .seconds(10)) { !follower.isRunning })
        if follower.isRunning { follower.terminate() }
    }

    @Test func twoHundredFollowersBlockNothingAndDisconnectsLeakNothing() async throws {
        let geard = try await SharedGeard.get()
        // The marker comes half a second after systemd's own "Started" line, so that it is the last line (`lines=1`).
        let id = try await Self.container(geard, "many", script: #"sleep 0.5; echo many-start; exec sleep 1000"#, marker: "many-start")
        let pid = geard.process.processIdentifier
        let request = "GET /container/\(id)/log?follow=1&lines=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        let before = (fds: Self.count(fds: pid), threads: Self.threads(pid))

        var sockets: [Int32] = []
        for _ in 0..<200 { sockets.append(try Self.connectAndSend(port: geard.port, request)) }
        // Every follower got its answer head and first line.
        for fd in sockets { #expect(Self.read(fd, until: "many-start").contains("200 OK")) }

        // The API keeps answering while they are held open.
        var slowest = 0.0
        for _ in 0..<20 {
            let time = try sh("curl -s -o /dev/null -w '%{time_total}' http://127.0.0.1:\(geard.port)/container/\(id)/status").output
            slowest = max(slowest, Double(time) ?? 99)
        }
        #expect(slowest < 0.25, "status took \(slowest) s with 200 followers")
        let other = uniqueID("many-other")
        let install = try await geard.client.install(
            other, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true), wait: 30)
        #expect(install.job.state == .succeeded)
        _ = try await geard.client.delete(other, wait: 30)
        for fd in sockets { close(fd) }

        // 1,000 more open/close cycles.
        for _ in 0..<20 {
            var batch: [Int32] = []
            for _ in 0..<50 { batch.append(try Self.connectAndSend(port: geard.port, request)) }
            for fd in batch { _ = Self.read(fd, until: "many-start") }
            for fd in batch { close(fd) }
        }
        let settled = try await eventually(timeout: .seconds(10)) {
            Self.count(fds: pid) <= before.fds + 10 && Self.threads(pid) <= before.threads + 4
        }
        #expect(settled, "fds \(before.fds) -> \(Self.count(fds: pid)), threads \(before.threads) -> \(Self.threads(pid))")
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func aSlowReaderGetsBackpressureNotBuffering() async throws {
        let geard = try await SharedGeard.get()
        let script = #"echo flood-start; exec yes 'a line of log that repeats and repeats, filling the journal quickly'"#
        let id = try await Self.container(geard, "flood", script: script, marker: "flood-start")
        let pid = geard.process.processIdentifier
        let before = Self.rssKiB(pid)
        // A follower that reads nothing for a while.
        let fd = try Self.connectAndSend(port: geard.port, "GET /container/\(id)/log?follow=1&lines=all HTTP/1.1\r\nHost: x\r\n\r\n")
        try await Task.sleep(for: .seconds(8))
        let during = Self.rssKiB(pid)
        // It can still read: the stream is alive, only paused.
        #expect(Self.read(fd, until: "a line of log").contains("200 OK"))
        close(fd)
        _ = try await geard.client.delete(id, wait: 60)
        #expect(during - before < 32 * 1024, "geard grew from \(before) KiB to \(during) KiB with a slow reader")
    }

    // MARK: helpers

    static func background(_ command: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec " + command]
        try process.run()
        return process
    }

    static func connectAndSend(port: Int, _ request: String) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect failed: \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = request.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, 0) }
        return fd
    }

    /// Reads until `marker` appears (or 10 s pass); returns what was read.
    /// Reads from `fd` until `marker` arrived, the peer closed, 1 MiB came, or nothing came for 30 s.
    static func read(_ fd: Int32, until marker: String) -> String {
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !String(decoding: data, as: UTF8.self).contains(marker) {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            data += chunk[0..<n]
            if data.count > 1 << 20 { break }
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func count(fds pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    static func status(_ pid: Int32, _ key: String) -> Int {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(key + ":") } ?? ""
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? -1
    }

    static func threads(_ pid: Int32) -> Int { status(pid, "Threads") }
    static func rssKiB(_ pid: Int32) -> Int { status(pid, "VmRSS") }
}

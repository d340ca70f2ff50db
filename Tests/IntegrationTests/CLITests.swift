import Foundation
import GearAPI
import GearClient
import NIOHTTP1
import Testing

/// The real `gear` binary against two real geards: fan-out, ordering, partial failure, exit codes.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct CLITests {
    func gear(_ arguments: String) throws -> (status: Int32, output: String) {
        try sh("\(Sandbox.gearPath) \(arguments)")
    }

    @Test func oneCommandDrivesTwoHostsAndReportsAPartialFailure() async throws {
        let a = try await GeardProcess.start()
        let b = try await GeardProcess.start()
        let hostA = "127.0.0.1:\(a.port)"
        let hostB = "127.0.0.1:\(b.port)"
        // Both geards share this sandbox's systemd, so each host gets its own container id.
        let id = uniqueID("cli")
        let idB = id + "b"

        let install = try gear("install --runtime exec --start --wait \(hostA)/\(id) \(hostB)/\(idB) -- /bin/sleep 1000")
        #expect(install.status == 0, "\(install.output)")
        #expect(install.output.contains("\(hostA)/\(id): install succeeded") && install.output.contains("\(hostB)/\(idB): install succeeded"))
        #expect(try await a.client.status(id).activeState == "active")
        #expect(try await b.client.status(idB).activeState == "active")

        let status = try gear("status \(hostA)/\(id) \(hostB)/\(idB)")
        #expect(status.status == 0)
        #expect(status.output.split(separator: "\n").count == 3 && status.output.contains("active"))

        let json = try gear("status --output json \(hostA)/\(id)")
        let decoded = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]]
        #expect(decoded?.first?["ok"] as? Bool == true)

        // One host down: the other still does its part, the exit status says something failed, and which.
        await b.stop()
        let started = ContinuousClock.now
        let stop = try gear("stop --wait \(hostA)/\(id) \(hostB)/\(idB)")
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(stop.status == 1)
        #expect(stop.output.contains("\(hostA)/\(id): stop succeeded"))
        #expect(stop.output.contains("cannot reach geard at \(hostB)"))
        #expect(stop.output.contains("1 of 2 failed: \(hostB)/\(idB)"))
        #expect(try await a.client.status(id).activeState == "inactive")

        // Calls to one host run in the order given.
        let ids = (0..<4).map { _ in uniqueID("clio") }
        #expect(try gear("install --runtime exec --wait " + ids.map { "\(hostA)/\($0)" }.joined(separator: " ") + " -- /bin/sleep 1000").status == 0)
        let jobs = try await a.client.send(.GET, "/jobs?limit=100").decode(JobList.self).jobs.filter { ids.contains($0.container) }
        let finished = jobs.sorted { $0.createdAt < $1.createdAt }.map(\.container)
        #expect(finished == ids)

        let unknown = try gear("status \(hostA)/nosuch")
        #expect(unknown.status == 1 && unknown.output.contains("no container nosuch is installed"))
        let usage = try gear("status bad/locator/x")
        #expect(usage.status == 64)

        try await b.restart()
        #expect(try gear("delete --wait \(hostA)/\(id) \(hostB)/\(idB) " + ids.map { "\(hostA)/\($0)" }.joined(separator: " ")).status == 0)
        await a.stop()
        await b.stop()
    }

    @Test func aConfigFileNamesHostsAndGroups() async throws {
        let a = try await GeardProcess.start()
        let b = try await GeardProcess.start()
        let id = uniqueID("cfg")
        let dir = "/var/tmp/gear-config-\(id)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let config = "\(dir)/config.json"
        try #"{"host":"a","hosts":{"a":"127.0.0.1:\#(a.port)","b":"127.0.0.1:\#(b.port)"},"groups":{"both":["a","b"]}}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        // A bare locator goes to the file's default host, an alias to its address.
        #expect(try gear("install --config \(config) --runtime exec --start --wait \(id) -- /bin/sleep 1000").status == 0)
        #expect(try await a.client.status(id).activeState == "active")
        let aliased = try sh("GEAR_CONFIG=\(config) \(Sandbox.gearPath) status a/\(id)")
        #expect(aliased.status == 0 && aliased.output.contains("active"), "\(aliased.output)")
        // A group fans out to each of its hosts: the container is on a only, so b's part fails and says so.
        let group = try gear("status --config \(config) @both/\(id)")
        #expect(group.status == 1, "\(group.output)")
        #expect(
            group.output.contains("127.0.0.1:\(a.port)/\(id)") && group.output.contains("1 of 2 failed: 127.0.0.1:\(b.port)/\(id)"), "\(group.output)"
        )
        let lists = try gear("list --config \(config) @both --output json")
        #expect(lists.status == 0 && lists.output.contains("127.0.0.1:\(a.port)") && lists.output.contains("127.0.0.1:\(b.port)"), "\(lists.output)")
        let unknown = try gear("status --config \(config) @nope/\(id)")
        #expect(unknown.status == 64 && unknown.output.contains("no host group '@nope'"), "\(unknown.output)")
        try #"{"hosts":{"a":"127.0.0.1:\#(a.port)"},"colour":"yes"}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let bad = try gear("status --config \(config) a/\(id)")
        #expect(bad.status == 64 && bad.output.contains("unknown key 'colour'"), "\(bad.output)")
        _ = try await a.client.delete(id, wait: 60)
        await a.stop()
        await b.stop()
    }

    @Test func logsInterleaveSeveralHostsAndFollow() async throws {
        let a = try await GeardProcess.start()
        let b = try await GeardProcess.start()
        let hostA = "127.0.0.1:\(a.port)"
        let hostB = "127.0.0.1:\(b.port)"
        let id = uniqueID("clilog")
        let idB = id + "b"
        let script = #"echo hello from $0; i=0; while true; do i=$((i+1)); echo beat-$i; sleep 0.2; done"#
        #expect(try gear("install --runtime exec --start --wait \(hostA)/\(id) -- /bin/sh -c '\(script)' A").status == 0)
        #expect(try gear("install --runtime exec --start --wait \(hostB)/\(idB) -- /bin/sh -c '\(script)' B").status == 0)
        try await Task.sleep(for: .seconds(1))

        let tail = try gear("logs --lines all \(hostA)/\(id) \(hostB)/\(idB)")
        #expect(tail.status == 0, "\(tail.output)")
        #expect(tail.output.contains("\(hostA)/\(id): hello from A") && tail.output.contains("\(hostB)/\(idB): hello from B"))

        // -f keeps streaming new entries (timeout ends gear after 2 s).
        let followed = try sh("timeout 2 \(Sandbox.gearPath) logs -f --lines 1 --output json \(hostA)/\(id)").output
        let beats = followed.split(separator: "\n").compactMap { line -> String? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            #expect(object["host"] as? String == hostA && object["id"] as? String == id && object["cursor"] != nil)
            return object["message"] as? String
        }
        #expect(beats.count >= 5, "\(followed)")

        let bad = try gear("logs --since yesterday \(hostA)/\(id)")
        #expect(bad.status == 1 && bad.output.contains("since must be"))
        #expect(try gear("delete --wait \(hostA)/\(id) \(hostB)/\(idB)").status == 0)
        await a.stop()
        await b.stop()
    }
}

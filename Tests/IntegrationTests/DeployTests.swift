import Foundation
import GearAPI
import GearClient
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Three test hosts in network namespaces of the sandbox (contrib/sandbox/test-hosts.sh), each with its own address,
/// its own geard (HTTPS with client certificates, as anything remote must be) and its containers' units and
/// published ports in its own network.
final class TestHosts: @unchecked Sendable {
    // @unchecked Sendable: `processes` is replaced only by `restart`, which the serialized suite calls from one task.
    static let count = 3
    static let pki = "/tmp/gear-deploy-pki"
    var processes: [Process] = []

    static let shared = Task { try await TestHosts() }

    static func address(_ n: Int) -> String { "10.77.0.\(n)" }

    private init() async throws {
        let up = try sh("contrib/sandbox/test-hosts.sh up \(Self.count)")
        guard up.status == 0 else { throw TestFailure("test hosts: \(up.output)") }
        if !FileManager.default.fileExists(atPath: "\(Self.pki)/ca.crt") {
            var commands = ["certs init --out \(Self.pki)", "certs issue client deployer --role admin --out \(Self.pki)"]
            for n in 1...Self.count { commands.append("certs issue node h\(n) --ip \(Self.address(n)) --out \(Self.pki)") }
            for command in commands {
                let result = try sh("\(Sandbox.gearPath) \(command)")
                guard result.status == 0 else { throw TestFailure("gear \(command): \(result.output)") }
            }
        }
        // geards of an earlier run in this sandbox (the bracket keeps pkill from matching its own shell).
        try sh("pkill -f 'state-dir /var/lib/gear-deploy-h[0-9]'; sleep 0.5")
        for n in 1...Self.count { processes.append(try Self.launch(n)) }
        for n in 1...Self.count { try await waitUntilServing(n) }
    }

    static func launch(_ n: Int) throws -> Process {
        let process = Process()
        // nsenter, not `ip netns exec`: that also remounts /sys for the namespace, without the cgroup file system
        // under it, where `podman exec` (exec, command health checks) cannot run; a real host has it.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = [
            "--net=/run/netns/gear-h\(n)", Sandbox.geardPath, "--listen", "none", "--socket", "none", "--state-dir", "/var/lib/gear-deploy-h\(n)",
            "--https", "\(address(n)):43274", "--tls-cert", "\(pki)/h\(n).crt", "--tls-key", "\(pki)/h\(n).key", "--tls-ca", "\(pki)/ca.crt",
            "--network-namespace", "/run/netns/gear-h\(n)", "--label", "zone=\(n == 3 ? "b" : "a")", "--label", "host=h\(n)",
        ]
        let log = "/tmp/geard-deploy-h\(n).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    func waitUntilServing(_ n: Int) async throws {
        let ok = try await eventually(timeout: .seconds(30)) {
            guard processes[n - 1].isRunning else { return false }
            return (try? Self.gear("list \(Self.address(n))").status) == 0
        }
        guard ok else { throw TestFailure("geard on h\(n) did not serve: \(Self.log(n))") }
    }

    static func log(_ n: Int) -> String { (try? String(contentsOfFile: "/tmp/geard-deploy-h\(n).log", encoding: .utf8)) ?? "" }

    /// Stops host n's geard (its containers keep running), or starts it again.
    func stop(_ n: Int) async {
        let process = processes[n - 1]
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }

    func start(_ n: Int) async throws {
        processes[n - 1] = try Self.launch(n)
        try await waitUntilServing(n)
    }

    /// The gear CLI with the deployer's certificate.
    @discardableResult
    static func gear(_ arguments: String, timeout: Int = 120) throws -> (status: Int32, output: String) {
        try sh(gearCommand(arguments, timeout: timeout) + " 2>&1")
    }

    /// `gear COMMAND --ca .. --cert .. --key .. REST` (options follow the subcommand).
    static func gearCommand(_ arguments: String, timeout: Int) -> String {
        let command = arguments.prefix { $0 != " " }
        let rest = arguments.dropFirst(command.count)
        return "\(Sandbox.gearPath) \(command) --ca \(pki)/ca.crt --cert \(pki)/deployer.crt --key \(pki)/deployer.key --timeout \(timeout)\(rest)"
    }

    static var all: String { (1...count).map(address).joined(separator: " ") }

    /// Every container of the deployment on every host: id -> (host number, status).
    static func instances(_ deployment: String) throws -> [String: (host: Int, status: ContainerStatus)] {
        var result: [String: (Int, ContainerStatus)] = [:]
        for n in 1...count {
            let answer = try sh(gearCommand("list --output json \(address(n))", timeout: 10) + " 2>/dev/null")
            struct Entry: Decodable { var value: ContainerList? }
            let entries = try GearJSON.decoder().decode([Entry].self, from: Data(answer.output.utf8))
            for status in entries.first?.value?.containers ?? [] where status.labels?["gear.deployment"] == deployment {
                result[status.id] = (n, status)
            }
        }
        return result
    }

    /// Jobs each host ran so far.
    static func jobCount() throws -> Int {
        var total = 0
        for n in 1...count {
            let answer = try sh(
                "curl -s --cacert \(pki)/ca.crt --cert \(pki)/deployer.crt --key \(pki)/deployer.key https://\(address(n)):43274/jobs")
            total += (try? JSONDecoder().decode(JobList.self, from: Data(answer.output.utf8)).jobs.count) ?? -1000
        }
        return total
    }
}

/// `gear deploy` on three hosts: geard's link_alias.json adapted to the busybox image (web links to both db instances
/// through alias port 8080; the db instances serve their host name on 3000).
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct DeployTests {
    static func descriptor(name: String, dbCount: Int = 2, dbVersion: String = "v1", extra: String = "") -> String {
        """
        {"Name":"\(name)","IdPrefix":"\(name)-","Containers":[
          {"Name":"web","Count":1,"Image":"localhost/busybox","Cmd":["sleep","100000"],
           "Links":[{"To":"db","AliasPorts":[{"Internal":3000,"External":8080}]}]},
          {"Name":"db","Count":\(dbCount),"Image":"localhost/busybox",
           "Cmd":["sh","-c","mkdir -p /w && echo \(dbVersion) $(hostname) > /w/index.html && exec httpd -f -p 3000 -h /w"],
           "PublicPorts":[{"Internal":3000}]\(extra)}
        ]}
        """
    }

    static func write(_ text: String, _ name: String) throws -> String {
        let path = "/tmp/\(name).json"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Deletes what a deployment runs (a descriptor without instances), as a failed earlier run may have left it.
    static func clear(_ name: String) throws {
        let empty = try write(#"{"Name":"\#(name)","Containers":[{"Name":"none","Count":0,"Image":"x"}]}"#, "clear-\(name)")
        let result = try TestHosts.gear("deploy \(empty) \(TestHosts.all)")
        guard result.status == 0 else { throw TestFailure("clearing \(name): \(result.output)") }
    }

    /// What web reaches at an alias address inside its container.
    static func fetch(_ deployment: String, _ alias: String) throws -> String {
        let output = try sh("podman exec ctr-\(deployment)-web-1 sh -c \"printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc -w 5 \(alias) 8080\"")
            .output
        return output.split(whereSeparator: \.isNewline).last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
    }

    @Test func aTopologyIsMaterialisedAcrossHostsAndTrafficReachesBothDbInstances() async throws {
        let hosts = try await TestHosts.shared.value
        _ = hosts
        try Self.clear("la")
        let file = try Self.write(Self.descriptor(name: "la"), "la")
        let dry = try TestHosts.gear("deploy \(file) \(TestHosts.all) --dry-run")
        #expect(dry.status == 0, "\(dry.output)")
        #expect(dry.output.contains("la-db-2") && dry.output.contains("create"))
        #expect(try TestHosts.instances("la").isEmpty, "a dry run changes nothing")

        let deploy = try TestHosts.gear("deploy \(file) \(TestHosts.all)")
        #expect(deploy.status == 0, "\(deploy.output)")
        let instances = try TestHosts.instances("la")
        #expect(Set(instances.keys) == ["la-web-1", "la-db-1", "la-db-2"])
        let listed = try TestHosts.gear("list --deployment la \(TestHosts.all)")
        #expect(listed.status == 0 && listed.output.contains("la-db-2") && listed.output.contains("OF"), "\(listed.output)")
        // Spread: each instance on its own host.
        #expect(Set(instances.values.map(\.host)).count == 3)
        #expect(instances.values.allSatisfy { $0.status.activeState == "active" }, "\(instances.mapValues(\.status.activeState))")
        let web = try #require(instances["la-web-1"]?.status)
        let links = try #require(web.networkLinks)
        #expect(links.count == 2 && links.allSatisfy { $0.fromPort == 8080 })
        #expect(Set(links.map { $0.fromHost ?? "" }) == ["127.0.0.1", "127.0.0.2"])
        for link in links {
            let target = try #require(
                instances.values.first { $0.status.ports.contains { $0.externalPort == link.toPort } && TestHosts.address($0.host) == link.toHost })
            #expect(target.host != instances["la-web-1"]!.host, "the link leads to another host")
        }
        let env = try sh("podman exec ctr-la-web-1 sh -c 'echo $DB_HOST $DB_PORT $DB_ADDRS'").output
        #expect(env.contains("127.0.0.1 8080 127.0.0.1:8080,127.0.0.2:8080"), "\(env)")
        let first = try Self.fetch("la", "127.0.0.1")
        let second = try Self.fetch("la", "127.0.0.2")
        #expect(first.hasPrefix("v1 ") && second.hasPrefix("v1 ") && first != second, "\(first) / \(second)")

        // Again: nothing to do, no job anywhere.
        let jobs = try TestHosts.jobCount()
        let again = try TestHosts.gear("deploy \(file) \(TestHosts.all)")
        #expect(again.status == 0 && again.output.contains("0 jobs"), "\(again.output)")
        #expect(try TestHosts.jobCount() == jobs)
        #expect(try TestHosts.instances("la").mapValues(\.status.mainPID) == instances.mapValues(\.status.mainPID))

        // A changed command rolls the db instances one at a time; web's links and variables stay.
        let rolled = try TestHosts.gear("deploy \(try Self.write(Self.descriptor(name: "la", dbVersion: "v2"), "la")) \(TestHosts.all)")
        #expect(rolled.status == 0, "\(rolled.output)")
        let replaces = rolled.output.split(separator: "\n").filter { $0.contains("\treplace") }
        #expect(replaces.count == 2 && replaces.allSatisfy { $0.contains("-db-") }, "\(rolled.output)")
        #expect(!rolled.output.contains("la-web-1\treplace"))
        #expect(
            try await eventually(timeout: .seconds(20)) {
                try Self.fetch("la", "127.0.0.1").hasPrefix("v2 ") && Self.fetch("la", "127.0.0.2").hasPrefix("v2 ")
            })

        // Scale down: db-2 goes, web keeps one link (it is replaced, since its DB_ADDRS changes).
        let down = try TestHosts.gear("deploy \(try Self.write(Self.descriptor(name: "la", dbCount: 1, dbVersion: "v2"), "la")) \(TestHosts.all)")
        #expect(down.status == 0, "\(down.output)")
        let after = try TestHosts.instances("la")
        #expect(Set(after.keys) == ["la-web-1", "la-db-1"])
        #expect(after["la-web-1"]?.status.networkLinks?.count == 1)
        #expect(try await eventually { try Self.fetch("la", "127.0.0.1").hasPrefix("v2 ") })

        #expect(
            try TestHosts.gear(
                "deploy \(try Self.write(#"{"Name":"la","Containers":[{"Name":"web","Count":0,"Image":"localhost/busybox"}]}"#, "la")) \(TestHosts.all)"
            ).status == 0)
        #expect(try TestHosts.instances("la").isEmpty)
    }

    /// A rolling update of instances with a health check: each replacement's job ends once it is healthy, and the
    /// first one that never gets there stops the rollout with the rest still on the old version.
    @Test func aRollingUpdateWaitsForHealthAndStopsAtTheFirstUnhealthyReplacement() async throws {
        _ = try await TestHosts.shared.value
        try Self.clear("hc")
        func descriptor(_ version: String) -> String {
            #"""
            {"Name":"hc","IdPrefix":"hc-","Containers":[{"Name":"api","Count":3,"Image":"localhost/busybox",
              "Cmd":["sh","-c","echo \#(version) > /tmp/v; exec sleep 100000"],
              "HealthCmd":["sh","-c","grep -q ok /tmp/v && cat /tmp/v"],"HealthInterval":"1s","HealthRetries":2}]}
            """#
        }
        func versions() throws -> [String: String] {
            try TestHosts.instances("hc").mapValues { $0.status.cmd.last?.split(separator: " ")[1].description ?? "?" }
        }
        let first = try TestHosts.gear("deploy \(try Self.write(descriptor("ok1"), "hc")) \(TestHosts.all)")
        #expect(first.status == 0, "\(first.output)")
        let started = try TestHosts.instances("hc")
        #expect(started.count == 3 && started.values.allSatisfy { $0.status.health?.status == "healthy" }, "\(started.mapValues(\.status.health))")

        // v2 never passes its check: the first replacement fails with the check's output, the others are not touched.
        let bad = try TestHosts.gear("deploy \(try Self.write(descriptor("bad2"), "hc")) \(TestHosts.all)")
        #expect(bad.status != 0, "\(bad.output)")
        #expect(bad.output.contains("unhealthy") && bad.output.contains("the rollout stopped"), "\(bad.output)")
        let mixed = try versions()
        #expect(mixed.values.filter { $0 == "bad2" }.count == 1 && mixed.values.filter { $0 == "ok1" }.count == 2, "\(mixed)")
        let old = try TestHosts.instances("hc").values.filter { $0.status.cmd.last?.contains("ok1") == true }
        #expect(old.allSatisfy { $0.status.activeState == "active" && $0.status.health?.status == "healthy" })

        // A good version completes the rollout from where it is.
        let fixed = try TestHosts.gear("deploy \(try Self.write(descriptor("ok3"), "hc")) \(TestHosts.all)")
        #expect(fixed.status == 0, "\(fixed.output)")
        let final = try versions()
        #expect(final.count == 3 && final.values.allSatisfy { $0 == "ok3" }, "\(final)")
        try Self.clear("hc")
    }

    @Test func aPlacementThatDoesNotFitAndABadDescriptorChangeNothing() async throws {
        _ = try await TestHosts.shared.value
        let jobs = try TestHosts.jobCount()
        let huge = try Self.write(Self.descriptor(name: "big", extra: #","Memory":"100T""#), "big")
        let refused = try TestHosts.gear("deploy \(huge) \(TestHosts.all)")
        #expect(refused.status == 1)
        #expect(
            refused.output.contains("instance 1 of 'db' (big-db-1) fits on no host") && refused.output.contains("memory: needs 100 TiB"),
            "\(refused.output)")
        let pinned = try Self.write(Self.descriptor(name: "pin", extra: #","Affinity":{"NodeLabels":{"zone":"b"},"Apart":["db"]}"#), "pin")
        let apart = try TestHosts.gear("deploy \(pinned) \(TestHosts.all)")
        #expect(apart.status == 1 && apart.output.contains("(pin-db-2) fits on no host"), "\(apart.output)")
        let typo = try Self.write(#"{"Name":"t","Containers":[{"Name":"a","Image":"localhost/busybox","Cuont":2}]}"#, "typo")
        let bad = try TestHosts.gear("deploy \(typo) \(TestHosts.all)")
        #expect(bad.status == 1 && bad.output.contains("Containers[0].Cuont: unknown field"), "\(bad.output)")
        let unknownLink = try Self.write(#"{"Name":"t","Containers":[{"Name":"a","Image":"localhost/busybox","Links":[{"To":"b"}]}]}"#, "typo")
        #expect(try TestHosts.gear("deploy \(unknownLink) \(TestHosts.all)").output.contains("Containers[0].Links[0].To: no container 'b'"))
        #expect(try TestHosts.jobCount() == jobs, "no job anywhere")
        #expect(try TestHosts.instances("big").isEmpty && TestHosts.instances("pin").isEmpty)
    }

    @Test func aSecondDeployOfTheSameDeploymentIsRefusedWhileOneHoldsItsLease() async throws {
        _ = try await TestHosts.shared.value
        try Self.clear("cc")
        let tls = "--cacert \(TestHosts.pki)/ca.crt --cert \(TestHosts.pki)/deployer.crt --key \(TestHosts.pki)/deployer.key"
        func lease(_ method: String, _ n: Int, _ suffix: String = "", body: String? = nil) throws -> String {
            let data = body.map { " -H 'Content-Type: application/json' -d '\($0)'" } ?? ""
            return try sh(
                "curl -s -o /dev/null -w '%{http_code}' \(tls) -X \(method)\(data) 'https://\(TestHosts.address(n)):43274/lease/deploy.cc\(suffix)'"
            ).output
        }
        // Another deploy (here: curl, as any client may) holds the lease on h2.
        #expect(try lease("PUT", 2, body: #"{"Holder":"someone else","Seconds":120}"#) == "200")
        let file = try Self.write(Self.descriptor(name: "cc"), "cc")
        let jobs = try TestHosts.jobCount()
        let refused = try TestHosts.gear("deploy \(file) \(TestHosts.all)")
        #expect(
            refused.status == 1 && refused.output.contains("deployment cc is being deployed already") && refused.output.contains("someone else"),
            "\(refused.output)")
        #expect(try TestHosts.jobCount() == jobs && TestHosts.instances("cc").isEmpty, "nothing changed")
        #expect(try lease("GET", 1) == "404", "the lease taken on h1 before h2 refused was let go")
        #expect(try lease("DELETE", 2, "?holder=gear") == "409", "only its holder lets it go")
        #expect(try lease("DELETE", 2, "?holder=someone%20else") == "204")
        let deploy = try TestHosts.gear("deploy \(file) \(TestHosts.all)")
        #expect(deploy.status == 0, "\(deploy.output)")
        #expect(try lease("GET", 3) == "404", "the deploy let its leases go")
        #expect(try lease("PUT", 1, body: #"{"Holder":"x","Seconds":0}"#) == "400")
        #expect(try lease("PUT", 1, body: #"{"Holder":"x"}"#) == "400")
        #expect(try lease("DELETE", 1) == "400")
        #expect(
            try sh("curl -s -o /dev/null -w '%{http_code}' \(tls) -X PUT -d '{}' 'https://\(TestHosts.address(1)):43274/lease/.hidden'").output
                == "400")
        try Self.clear("cc")
    }

    @Test func aHostThatIsDownMidDeployGivesAPartialResultAndARetryCompletesIt() async throws {
        let hosts = try await TestHosts.shared.value
        try Self.clear("pd")
        let file = try Self.write(Self.descriptor(name: "pd"), "pd")
        // A host that is down before anything happens: refused, nothing changed.
        await hosts.stop(3)
        let refused = try TestHosts.gear("deploy \(file) \(TestHosts.all)")
        #expect(
            refused.status == 1 && refused.output.contains("host \(TestHosts.address(3)) cannot be read, nothing was changed"), "\(refused.output)")
        #expect(try TestHosts.instances("pd").isEmpty)
        try await hosts.start(3)

        // Down mid-deploy: h3's geard stops answering (SIGSTOP) as soon as the first install is reported, so its
        // start, which comes after every install and the links, cannot succeed.
        let h3 = hosts.processes[2].processIdentifier
        let script = """
            rm -f /tmp/pd.out; timeout 120 \(TestHosts.gearCommand("deploy \(file) \(TestHosts.all)", timeout: 5)) > /tmp/pd.out 2>&1 & g=$!
            while kill -0 $g 2>/dev/null && ! grep -q "$(printf '\\tinstall')" /tmp/pd.out 2>/dev/null; do sleep 0.002; done
            kill -STOP \(h3); wait $g; rc=$?; kill -CONT \(h3); exit $rc
            """
        let run = try sh(script)
        let partial = (try? String(contentsOfFile: "/tmp/pd.out", encoding: .utf8)) ?? ""
        #expect(run.status == 1, "\(partial)")
        #expect(partial.contains("\(TestHosts.address(3))\t") && partial.contains("FAILED"), "\(partial)")
        #expect(partial.contains("partly applied") && partial.contains("deploy again to complete it"), "\(partial)")
        let retry = try TestHosts.gear("deploy \(file) \(TestHosts.all)")
        #expect(retry.status == 0, "\(retry.output)")
        let instances = try TestHosts.instances("pd")
        #expect(Set(instances.keys) == ["pd-web-1", "pd-db-1", "pd-db-2"])
        #expect(instances.values.allSatisfy { $0.status.activeState == "active" })
        #expect(try Self.fetch("pd", "127.0.0.1").hasPrefix("v1 ") && Self.fetch("pd", "127.0.0.2").hasPrefix("v1 "))
        #expect(try TestHosts.gear("deploy \(file) \(TestHosts.all)").output.contains("0 jobs"))
        #expect(
            try TestHosts.gear("deploy \(try Self.write(#"{"Name":"pd","Containers":[{"Name":"x","Count":0,"Image":"a"}]}"#, "pd")) \(TestHosts.all)")
                .status == 0)
    }
}

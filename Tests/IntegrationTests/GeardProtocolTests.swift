import Foundation
import GearAPI
import GearClient
import Testing

/// openshift/geard's own client against geard: `contrib/geard-client/replay.py` sends its requests byte for byte
/// (22-character base64url request ids, `X-Api-Version: 1`, chunked bodies with every field of geard's install
/// request) and reads the answers as its `ExecuteRemote` does. Each test has a geard of its own (purge deletes
/// everything its geard holds).
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct GeardProtocolTests {
    /// What geard's client made of one exchange.
    struct Verdict: Decodable {
        var ok: Bool
        var status: Int
        var contentType: String?
        var output: String?
        var error: String?
        var ports: [[Int]]?
        var containers: [Unit]?

        struct Unit: Decodable {
            var Id: String
            var ActiveState: String
            var SubState: String
            var LoadState: String
        }
    }

    func client(_ geard: GeardProcess, _ arguments: String) throws -> Verdict {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let result = try sh("python3 \(root)/contrib/geard-client/replay.py 127.0.0.1:\(geard.port) \(arguments)")
        guard result.status == 0, let line = result.output.split(separator: "\n").last else {
            throw GearError("replay.py \(arguments) failed: \(result.output)")
        }
        return try JSONDecoder().decode(Verdict.self, from: Data(line.utf8))
    }

    struct GearError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    @Test func theLifecycleIsAnsweredAsGeardsClientReadsIt() async throws {
        let geard = try await GeardProcess.start()
        defer { Task { await geard.stop() } }
        let id = uniqueID("gpl")

        let install = try client(geard, "install \(id) localhost/geard-web --start --ports 8080:0")
        #expect(install.ok && install.status == 202 && install.contentType != "application/json", "\(install)")
        #expect(install.output?.hasSuffix("Container \(id) is starting\n") == true)
        let port = try #require(install.ports?.first)
        #expect(port[0] == 8080 && (4000...4999).contains(port[1]))
        #expect(install.output?.hasPrefix("PortMapping: 8080 -> \(port[1])\n") == true)
        #expect(try await eventually { try sh("curl -sf 127.0.0.1:\(port[1])/").output == "geard-web\n" })

        let status = try client(geard, "status \(id)")
        #expect(status.ok && status.status == 202, "\(status)")
        #expect(status.output?.contains("● ctr-\(id).service") == true && status.output?.contains("active (running)") == true)

        for all in ["", "-a"] {
            let list = try client(geard, "list \(all)")
            #expect(list.ok && list.status == 200 && list.contentType == "application/json", "\(list)")
            let unit = try #require(list.containers?.first { $0.Id == id })
            #expect(unit.ActiveState == "active" && unit.SubState == "running" && unit.LoadState == "loaded")
        }

        let stop = try client(geard, "stop \(id)")
        #expect(stop.ok && stop.output == "Container \(id) is stopped\n", "\(stop)")
        #expect(try unitProperty("ctr-\(id).service", "ActiveState") == "inactive")
        let start = try client(geard, "start \(id)")
        #expect(start.ok && start.output == "Container \(id) starting\n", "\(start)")
        let pid = try unitProperty("ctr-\(id).service", "MainPID")
        let restart = try client(geard, "restart \(id)")
        #expect(restart.ok && restart.output == "Container \(id) restarting\n", "\(restart)")
        #expect(try unitProperty("ctr-\(id).service", "MainPID") != pid)

        let delete = try client(geard, "delete \(id)")
        #expect(delete.ok && delete.status == 204, "\(delete)")
        #expect(!FileManager.default.fileExists(atPath: "\(geard.stateDir)/containers/\(id).json"))
        #expect(try client(geard, "delete \(id)").status == 204)
        // Errors are {"Message":..}: the client prints "Error: <Message>".
        let gone = try client(geard, "status \(id)")
        #expect(!gone.ok && gone.status == 404 && gone.contentType == "application/json" && gone.error?.contains(id) == true, "\(gone)")
        #expect(try client(geard, "start \(id)").status == 404)
    }

    @Test func environmentsAreSetAndReadAsGeardDid() async throws {
        let geard = try await GeardProcess.start()
        defer { Task { await geard.stop() } }
        let env = uniqueID("gpe")
        let patch = try client(geard, "set-env \(env) A=1 'B=two words'")
        #expect(patch.ok && patch.status == 204, "\(patch)")
        #expect(try client(geard, "set-env \(env) C=3").status == 204)
        let read = try client(geard, "env \(env)")
        #expect(read.ok && read.status == 202 && read.output == "A=\"1\"\nB=\"two words\"\nC=\"3\"\n", "\(read)")
        // PUT replaces.
        #expect(try client(geard, "reset-env \(env) 'Q=say \"hi\"'").status == 204)
        #expect(try client(geard, "env \(env)").output == "Q=\"say \\\"hi\\\"\"\n")

        // Inline variables make the named environment the client gave an id for (it may start with - or _), and
        // the container reads them.
        let id = uniqueID("gpv")
        let envID = "-_" + uniqueID("x")
        let install = try client(geard, "install \(id) localhost/geard-web --start --env GREETING=hello --env-id \(envID)")
        #expect(install.ok, "\(install)")
        let named = try curl("GET", "http://127.0.0.1:\(geard.port)/environment/\(envID)")
        #expect(named.status == 200 && named.body.contains("GREETING"))
        #expect(try sh("podman exec ctr-\(id) sh -c 'echo $GREETING'").output == "hello\n")
        #expect(try client(geard, "delete \(id)").status == 204)
    }

    @Test func geardsFieldsKeepTheirMeaningAndWhatGearWillNotDoIsRefused() async throws {
        let root = "/srv/gear-host-\(UUID().uuidString.prefix(6))"
        try sh("mkdir -p \(root)/www && echo from-the-host > \(root)/www/index.html")
        let geard = try await GeardProcess.start(arguments: ["--allow-host-path", root])
        defer { Task { await geard.stop() } }

        // Ids with dots (geard's alphabet) reach unit names and state files.
        let dotted = "gp.\(UUID().uuidString.prefix(4).lowercased()).web"
        let install = try client(geard, "install \(dotted) localhost/geard-web --start --volumes /data --ports 8080:0")
        #expect(install.ok, "\(install)")
        #expect(try unitProperty("ctr-\(dotted).service", "ActiveState") == "active")
        #expect(try unitProperty("ctr-\(dotted).service", "Slice") == "gear-container-small.slice")
        #expect(FileManager.default.fileExists(atPath: "\(geard.stateDir)/containers/\(dotted).json"))
        let status = try await geard.client.status(dotted)
        #expect(status.volumes.contains { $0.name == "data" && $0.path == "/data" })

        // A host directory from an allowed root is mounted; one outside is refused with nothing installed.
        let mounted = uniqueID("gpm")
        let bind = try client(geard, "install \(mounted) localhost/geard-web --start --volumes /www:\(root)/www:ro --ports 8080:0")
        #expect(bind.ok, "\(bind)")
        let port = try #require(bind.ports?.first?[1])
        #expect(try await eventually { try sh("curl -sf 127.0.0.1:\(port)/").output == "from-the-host\n" })
        let outside = uniqueID("gpo")
        let refused = try client(geard, "install \(outside) localhost/geard-web --volumes /www:/etc")
        #expect(!refused.ok && refused.status == 403 && refused.error?.contains("outside the host paths") == true, "\(refused)")
        for (field, value, message) in [
            ("Isolate", "true", "Isolate is not supported"), ("SocketActivation", "true", "SocketActivation is not supported"),
            ("Id", "\"someone-else\"", "is not the container of the path"),
            ("SystemdSlice", "\"../x\"", "invalid SystemdSlice"),
        ] {
            let answer = try client(geard, "install \(outside) localhost/geard-web --set '\(field)=\(value)'")
            #expect(!answer.ok && answer.status == 400 && answer.error?.contains(message) == true, "\(field): \(answer)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(geard.stateDir)/containers/\(outside).json"))
        #expect(try sh("systemctl cat ctr-\(outside).service").status != 0)

        // Purge deletes what this geard holds.
        let purge = try client(geard, "purge")
        #expect(purge.ok && purge.status == 204, "\(purge)")
        #expect(try client(geard, "list").containers?.isEmpty == true)
        try sh("rm -rf \(root)")
    }

    @Test func linksLeadFromInsideTheContainerAndFollowItsRestarts() async throws {
        let geard = try await GeardProcess.start()
        defer { Task { await geard.stop() } }
        let db = uniqueID("gpd")
        let app = uniqueID("gpa")
        // geard's deploy: delete, install (with links), links, start.
        _ = try client(geard, "delete \(db)")
        let target = try client(geard, "install \(db) localhost/geard-web --start --ports 8080:0")
        let dbPort = try #require(target.ports?.first?[1])
        let linked = try client(geard, "install \(app) localhost/geard-web --ports 8080:0 --links 127.0.0.1:8081:127.0.0.1:\(dbPort)")
        #expect(linked.ok && linked.output?.hasSuffix("Container \(app) is installed\n") == true, "\(linked)")
        let links = try client(geard, "link \(app) --net 127.0.0.2:5432:localhost:\(dbPort),127.0.0.1:8081:127.0.0.1:\(dbPort)")
        #expect(links.ok && links.status == 204, "\(links)")
        #expect(try client(geard, "start \(app)").ok)

        // busybox's nc (its static wget crashes on this machine): a plain HTTP/1.0 request, the page at the end.
        func fetch(_ address: String) throws -> String {
            let (host, port) = (address.split(separator: ":")[0], address.split(separator: ":")[1])
            let answer = try sh(#"podman exec ctr-\#(app) sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | nc -w 5 \#(host) \#(port)'"#).output
            return answer.hasSuffix("\r\n\r\ngeard-web\n") ? "geard-web\n" : answer
        }
        #expect(try await eventually { try fetch("127.0.0.1:8081") == "geard-web\n" })
        #expect(try fetch("127.0.0.2:5432") == "geard-web\n")
        // The link listens in the container's namespace only.
        #expect(try sh("curl -s -m 2 127.0.0.1:8081/").status != 0)

        // A restart is a new namespace: the links follow it.
        #expect(try client(geard, "restart \(app)").ok)
        #expect(try await eventually { try fetch("127.0.0.1:8081") == "geard-web\n" })
        // ... and so do they after a restart of geard.
        try await geard.restart()
        #expect(try await eventually { try fetch("127.0.0.2:5432") == "geard-web\n" })

        // A container that opens connections without end costs geard a bounded number of descriptors: each link
        // carries at most 256 at once (two descriptors each), and serves again once they are gone.
        let pid = geard.process.processIdentifier
        func descriptors() throws -> Int { Int(try sh("ls /proc/\(pid)/fd | wc -l").output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }
        let before = try descriptors()
        // The flood runs in the foreground of its exec session (as long as its clients live), beside the checks.
        let flood = Task.detached {
            try sh(#"podman exec ctr-\#(app) sh -c 'for i in $(seq 1 400); do sleep 8 | nc 127.0.0.1 8081 & done; wait'"#)
        }
        // The connections do arrive (a cap of nothing proves nothing), and no more than the cap's worth is held.
        var during = before
        #expect(
            try await eventually {
                during = try descriptors()
                return during - before >= 2 * 250
            }, "geard held \(during - before) more descriptors")
        try await Task.sleep(for: .seconds(1))
        during = try descriptors()
        #expect(during - before <= 2 * 256 + 16, "geard held \(during - before) more descriptors")
        _ = try await flood.value
        #expect(try await eventually(timeout: .seconds(30)) { try fetch("127.0.0.1:8081") == "geard-web\n" })

        // Links are replaced by the next POST; a bad one is refused with nothing changed.
        let bad = try client(geard, "link \(app) --net 127.0.0.1:0:localhost:80")
        #expect(!bad.ok && bad.status == 400 && bad.error?.contains("from port") == true, "\(bad)")
        let unknown = try client(geard, "link nobody-here --net 127.0.0.1:9000:localhost:80")
        #expect(!unknown.ok && unknown.status == 404, "\(unknown)")
        #expect(try client(geard, "link \(app)").status == 204)
        #expect(try await eventually { try fetch("127.0.0.1:8081") != "geard-web\n" })
        #expect(try client(geard, "purge").status == 204)
    }

    /// What a container answers inside `container` at `host:port`: busybox's nc (its static wget crashes on this
    /// machine), a plain HTTP/1.0 request, the page at the end.
    func fetch(from container: String, _ host: String, _ port: Int) throws -> String {
        let answer = try sh(#"podman exec ctr-\#(container) sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | nc -w 5 \#(host) \#(port)'"#).output
        return answer.hasSuffix("\r\n\r\ngeard-web\n") ? "geard-web\n" : answer
    }

    /// geard's client's `gear deploy` of a descriptor shaped like geard's fixtures (`link_alias.json`: web x1 linked to
    /// db x2 by `AliasPorts`, no `Environment`): each instance installed with `"Environment": {"Variables": null,
    /// "Source": "", "Id": <instance id>}`, which geard made as an empty environment, then the links, then the
    /// starts. It failed with "no environment ...; create it first" for every instance.
    @Test func geardsDeployFlowInstallsLinksAndStartsItsInstances() async throws {
        let geard = try await GeardProcess.start()
        defer { Task { await geard.stop() } }
        let name = uniqueID("dp")
        let dbs = ["\(name)-db-1", "\(name)-db-2"]
        let web = "\(name)-web-1"
        var ports: [Int] = []
        for db in dbs {
            let install = try client(geard, "install \(db) localhost/geard-web --ports 8080:0 --env-id \(db)")
            #expect(install.ok && install.output?.hasSuffix("Container \(db) is installed\n") == true, "\(install)")
            ports.append(try #require(install.ports?.first?[1]))
        }
        let webInstall = try client(geard, "install \(web) localhost/geard-web --ports 8080:0 --env-id \(web)")
        #expect(webInstall.ok, "\(webInstall)")
        // Each instance's own environment exists now, empty, as geard wrote it.
        for id in dbs + [web] {
            let environment = try client(geard, "env \(id)")
            #expect(environment.ok && environment.output == "", "\(id): \(environment)")
        }
        let links = try client(geard, "link \(web) --net 127.0.0.1:8081:127.0.0.1:\(ports[0]),127.0.0.2:8081:127.0.0.1:\(ports[1])")
        #expect(links.ok && links.status == 204, "\(links)")
        for id in dbs + [web] {
            let start = try client(geard, "start \(id)")
            #expect(start.ok, "\(id): \(start)")
        }
        #expect(
            try await eventually(timeout: .seconds(30)) {
                try fetch(from: web, "127.0.0.1", 8081) == "geard-web\n" && fetch(from: web, "127.0.0.2", 8081) == "geard-web\n"
            }, "web reaches both db instances through its links")
        // An environment that exists is named, not emptied (gear differs from geard there: docs/api.md).
        #expect(try client(geard, "set-env \(dbs[0]) A=1").ok)
        #expect(try client(geard, "install \(dbs[0]) localhost/geard-web --ports 8080:\(ports[0]) --env-id \(dbs[0])").ok)
        #expect(try client(geard, "env \(dbs[0])").output == "A=\"1\"\n")
        #expect(try client(geard, "purge").status == 204)
    }

    /// A re-install through geard's protocol leaves a running container running, with the same process (geard
    /// rewrote the unit and left it so; gear's own install replaces), and `Started` does not restart one that already
    /// runs; the new definition takes effect at its next start. gear's API keeps replacing.
    @Test func aReinstallLeavesARunningContainerRunning() async throws {
        let geard = try await GeardProcess.start()
        defer { Task { await geard.stop() } }
        let id = uniqueID("gpr")
        let unit = "ctr-\(id).service"
        let first = try client(geard, "install \(id) localhost/geard-web --start --ports 8080:0")
        let port = try #require(first.ports?.first?[1])
        #expect(try await eventually { try unitProperty(unit, "ActiveState") == "active" })
        let pid = try unitProperty(unit, "MainPID")
        let again = try client(geard, "install \(id) localhost/geard-web --ports 8080:\(port)")
        #expect(again.ok && again.output?.hasSuffix("Container \(id) is installed\n") == true, "\(again)")
        #expect(try unitProperty(unit, "ActiveState") == "active" && unitProperty(unit, "MainPID") == pid, "not stopped, not restarted")
        #expect(try client(geard, "install \(id) localhost/geard-web --start --ports 8080:\(port)").ok)
        #expect(try unitProperty(unit, "MainPID") == pid, "Started does not restart what already runs")
        // A changed definition (a variable) is installed and waits for the next start.
        #expect(try client(geard, "install \(id) localhost/geard-web --ports 8080:\(port) --env GEAR_REINSTALL=1").ok)
        #expect(try unitProperty(unit, "MainPID") == pid)
        #expect(try client(geard, "restart \(id)").ok)
        #expect(
            try await eventually {
                try sh("podman inspect ctr-\(id) --format '{{range .Config.Env}}{{println .}}{{end}}'").output.contains("GEAR_REINSTALL=1\n")
            })
        // A stopped one stays stopped; its status says how it stopped (a stop's SIGTERM, not a bare 143).
        #expect(try client(geard, "stop \(id)").ok)
        #expect(try client(geard, "install \(id) localhost/geard-web --ports 8080:\(port)").ok)
        #expect(try unitProperty(unit, "ActiveState") == "inactive")
        let status = try client(geard, "status \(id)")
        let text = status.output ?? ""
        #expect(status.ok && (!text.contains("exit status 143") || text.contains("stopped by SIGTERM (exit status 143)")), "\(status)")
        // geard's log answer: the journal as text, streamed (202), which its client prints.
        #expect(try client(geard, "start \(id)").ok)
        let logs = try client(geard, "logs \(id) --for 2")
        #expect(logs.ok && logs.status == 202 && logs.contentType?.hasPrefix("text/plain") == true, "\(logs)")
        #expect(logs.output?.isEmpty == false, "the journal's lines: \(logs)")
        // gear's own API still replaces: an install without Started stops the container.
        let replaced = try await geard.client.install(id, InstallRequest(image: "localhost/geard-web", started: false), wait: 60)
        #expect(replaced.job.state == .succeeded)
        #expect(try unitProperty(unit, "ActiveState") == "inactive")
        #expect(try client(geard, "purge").status == 204)
    }
}

import ArgumentParser
import Foundation
import GearAPI
import GearClient
import Testing

@testable import gear

@Suite struct ArgumentTests {
    @Test func installParsesImageLocatorsOptionsAndCommand() throws {
        try CommandTail.$arguments.withValue(["httpd", "-f"]) {
            let command = try Gear.parseAsRoot([
                "install", "localhost/busybox", "web", "node2:4000/web", "--start", "-p", "8080", "-p", "9090:4001", "-e", "A=1=2",
                "--volume", "data:/data:ro", "--memory", "64M", "--cpus", "0.5", "--restart", "always",
            ])
            let install = try #require(command as? Install)
            try check(install)
        }
    }

    @Test func natsConfigNeedsUsersAndAListenAddress() throws {
        let files = ["--broker-cert", "b.crt", "--broker-key", "b.key", "--ca", "ca.crt"]
        let config = try #require(try Gear.parseAsRoot(["nats", "config"] + files + ["--node", "n1.crt", "--caller", "o.crt"]) as? NATSConfig)
        #expect(config.node == ["n1.crt"] && config.caller == ["o.crt"] && config.listen == "127.0.0.1:4222")
        for bad in [
            ["nats", "config"] + files, ["nats", "config"] + files + ["--node", "n.crt", "--listen", "4222"],
            ["nats", "config"] + files + ["--node", "n.crt", "--listen", "a b:1"],
            ["nats", "config"] + files + ["--node", "n.crt", "--max-payload", "10"],
            ["nats", "config", "--node", "n.crt"],
        ] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try Gear.parseAsRoot(bad) }
        }
    }

    @Test func waitTakesJobLocatorsAndItsOwnTimeout() throws {
        let wait = try #require(try Gear.parseAsRoot(["wait", "--wait-timeout", "5", "--timeout", "9", "node1/abc"]) as? Wait)
        #expect(wait.jobs == ["node1/abc"] && wait.waitTimeout == 5 && wait.global.timeout == 9)
    }

    @Test func imageImportAndListTakeAFileAndHosts() throws {
        let file = NSTemporaryDirectory() + "gear-image-\(UUID().uuidString).tar"
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let command = try #require(
            try Gear.parseAsRoot(["image", "import", "--wait", "--name", "localhost/a:1", file, "node1", "node2:43274"]) as? ImageImport)
        #expect(command.hosts == ["node1", "node2:43274"] && command.name == "localhost/a:1" && command.job.wait)
        #expect(try Gear.parseAsRoot(["image", "list", "node1"]) is ImageListing)
        for bad in [["image", "import", "/no/such/file"], ["image", "import", "--name", "bad name", file], ["image", "import"]] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try Gear.parseAsRoot(bad) }
        }
    }

    @Test func copyTakesOneLocalAndOneContainerSide() throws {
        let up = try #require(try Gear.parseAsRoot(["cp", "--mode", "0600", "--parents", "./a:/b.txt", "node1:4000/web:/data/x/a.txt"]) as? Copy)
        #expect(up.mode == "0600" && up.parents)
        let remote = try #require(try Copy.remote(up.target))
        #expect(remote.locator.host == "node1" && remote.locator.port == 4000 && remote.locator.id == "web" && remote.path == "/data/x/a.txt")
        #expect(try Copy.remote(up.source) == nil)
        #expect(try Copy.remote("/abs/path") == nil && Copy.remote("plain.txt") == nil && Copy.remote("web:/data").map(\.path) == "/data")
        for bad in [
            ["cp", "a.txt", "b.txt"],  // both local
            ["cp", "web:/data/a", "node2/web:/data/b"],  // both remote
            ["cp", "a.txt", "web:/data/../etc/passwd"],
            ["cp", "a.txt", "bad id:/data/a"],
            ["cp", "--mode", "4755", "a.txt", "web:/data/a"],
            ["cp", "--parents", "web:/data/a", "a.txt"],  // --parents is for uploads
        ] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try Gear.parseAsRoot(bad) }
        }
    }

    /// `gear deploy --etcd` hands placement to the orchestrator: what only a client-side placement would use is
    /// refused before etcd is asked, and --delete names one deployment, instead of a descriptor.
    @Test func deployThroughEtcdRefusesWhatTheOrchestratorDecides() throws {
        let etcd = ["--etcd", "https://10.0.0.9:2379"]
        #expect(try Gear.parseAsRoot(["deploy", "--delete", "shop"] + etcd) is Deploy)
        #expect(try Gear.parseAsRoot(["deploy", "app.json", "--no-wait"] + etcd) is Deploy)
        for bad in [
            ["deploy"] + etcd, ["deploy", "app.json", "--delete", "shop"] + etcd, ["deploy", "--delete", "a/b"] + etcd,
            ["deploy", "--delete", "shop", "--dry-run"] + etcd, ["deploy", "app.json", "node1"] + etcd,
            ["deploy", "app.json", "--max-unavailable", "2"] + etcd, ["deploy", "app.json", "--max-unavailable", "0"],
        ] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try Gear.parseAsRoot(bad) }
        }
        if ProcessInfo.processInfo.environment["GEAR_ETCD"] == nil {
            #expect(throws: (any Error).self) { _ = try Gear.parseAsRoot(["deploy", "--delete", "shop"]) }
            #expect(throws: (any Error).self) { _ = try Gear.parseAsRoot(["deploy", "app.json", "--no-wait"]) }
        }
    }

    @Test func theProgressLineShowsBarPercentSizesAndRate() {
        #expect(
            ProgressBar.line(done: 450_000_000, total: 1_000_000_000, elapsed: .seconds(1), width: 10)
                == "[####      ]  45%  450 MB of 1.0 GB  450 MB/s")
        #expect(ProgressBar.line(done: 1_234_567, total: nil, elapsed: .zero) == "1.2 MB")
        #expect(ProgressBar.size(999) == "999 B" && ProgressBar.size(2_500_000_000) == "2.5 GB")
    }

    /// argument-parser checks a command's option names (no two alike) only when it parses that command.
    @Test(arguments: Gear.configuration.subcommands.map { $0._commandName })
    func everyCommandParsesItsHelp(_ name: String) throws {
        #expect(throws: Never.self) { _ = try Gear.parseAsRoot([name, "--help"]) }
        let command = try #require(Gear.configuration.subcommands.first { $0._commandName == name })
        #expect(Gear.helpMessage(for: command).contains("USAGE: gear \(name)"))
    }

    @Test func certsAndTokensParseAndValidate() throws {
        let issue = try #require(
            try Gear.parseAsRoot(["certs", "issue", "node", "node1", "--ip", "10.0.0.1", "--ip", "::1", "--dns", "n1.example.org", "--out", "pki"])
                as? CertsIssue)
        #expect(issue.kind == .node && issue.name == "node1" && issue.ip == ["10.0.0.1", "::1"] && issue.out == "pki")
        #expect(CertsIssue.address("10.0.0.1") == [10, 0, 0, 1] && CertsIssue.address("::1")?.count == 16 && CertsIssue.address("x") == nil)
        for bad in [
            ["certs", "issue", "node", "n", "--role", "admin", "--out", "d"],  // a role is for clients
            ["certs", "issue", "client", "c", "--ip", "10.0.0.1", "--out", "d"],  // addresses are for nodes
            ["certs", "issue", "client", "../c", "--out", "d"],  // the name is a file name
            ["certs", "issue", "client", "c", "--role", "a b", "--out", "d"],
            ["certs", "issue", "node", "n", "--ip", "300.1.1.1", "--out", "d"],
            ["certs", "issue", "client", "c", "--not-before", "yesterday", "--out", "d"],
            ["certs", "init", "--out", "d", "--days", "0"],
            ["token", "issue", "--cert", "c", "--key", "k", "--holder", "cn:n1", "--audience", "n2"],  // no --op
            ["token", "issue", "--cert", "c", "--key", "k", "--holder", "cn:n1", "--audience", "n2", "--op", "container.read", "--ttl", "7200"],
            ["token", "issue", "--cert", "c", "--key", "k", "--holder", "*", "--audience", "n2", "--op", "container.read"],
            ["status", "--ca", "ca.crt", "web"],  // HTTPS needs all three
        ] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try Gear.parseAsRoot(bad) }
        }
        let token = try #require(
            try Gear.parseAsRoot([
                "token", "issue", "--cert", "c", "--key", "k", "--holder", "cn:n1", "--audience", "n2", "--op", "container.read", "--op",
                "container.restart", "--container", "web-*", "--once",
            ]) as? TokenIssue)
        #expect(token.operations == ["container.read", "container.restart"] && token.containers == ["web-*"] && token.once && token.ttl == 300)
    }

    @Test func shellCompletionsNameEveryCommand() {
        for shell in [CompletionShell.bash, .zsh, .fish] {
            let script = Gear.completionScript(for: shell)
            for command in ["install", "logs", "certs", "token"] { #expect(script.contains(command), "\(shell) lacks \(command)") }
        }
    }

    func check(_ install: Install) throws {
        let request = try install.request()
        #expect(install.locatorTexts == ["web", "node2:4000/web"])
        #expect(request.image == "localhost/busybox" && request.cmd == ["httpd", "-f"] && request.started == true)
        #expect(request.ports == [PortRequest(internal: 8080), PortRequest(internal: 9090, external: 4001)])
        #expect(request.environment == [EnvironmentVariable(name: "A", value: "1=2")])
        #expect(request.volumes == [VolumeRequest(name: "data", path: "/data", readOnly: true)])
        #expect(request.memory == MemoryLimit("64M") && request.cpus == 0.5 && request.restart == "always")
    }

    @Test func execInstallTakesOnlyLocatorsAndAProgram() throws {
        try CommandTail.$arguments.withValue(["/usr/bin/worker", "-v"]) {
            let install = try #require(try Gear.parseAsRoot(["install", "--runtime", "exec", "--start", "node1/job"]) as? Install)
            #expect(install.locatorTexts == ["node1/job"])
            #expect(try install.request().image == nil && install.command == ["/usr/bin/worker", "-v"])
        }
    }

    @Test func installTakesAHealthCheck() throws {
        try CommandTail.$arguments.withValue(["httpd", "-f"]) {
            let install = try #require(
                try Gear.parseAsRoot([
                    "install", "img", "web", "-p", "8080", "--health-http", "8080/up", "--health-interval", "5s", "--health-retries", "2",
                    "--health-on-failure", "restart",
                ]) as? Install)
            let request = try install.request()
            #expect(request.healthHTTP == HealthHTTPCheck(port: 8080, path: "/up") && request.healthInterval?.milliseconds == 5000)
            #expect(request.healthRetries == 2 && request.healthOnFailure == "restart")
            let command = try #require(try Gear.parseAsRoot(["install", "img", "web", "--health-cmd", "test -f /ok"]) as? Install)
            #expect(try command.request().healthCmd == ["/bin/sh", "-c", "test -f /ok"])
            let plain = try #require(try Gear.parseAsRoot(["install", "img", "web", "--health-http", "80"]) as? Install)
            #expect(try plain.request().healthHTTP == HealthHTTPCheck(port: 80))
        }
    }

    @Test(arguments: [
        ["install", "img", "web", "--health-http", "web/up"],
        ["install", "localhost/busybox"],
        ["install", "--runtime", "exec", "job"],
        ["install", "img", "web", "-p", "http"],
        ["install", "img", "web", "-e", "NOVALUE"],
        ["install", "img", "web", "--volume", "justaname"],
        ["start", "web", "--request-id", "nope"],
        ["start", "web", "--timeout", "0"],
        ["status", "web", "--output", "yaml"],
    ])
    func badArgumentsAreUsageErrors(_ arguments: [String]) {
        #expect(throws: (any Error).self) { try Gear.parseAsRoot(arguments) }
    }

    @Test(
        arguments: [
            ("web", nil, nil, "web"), ("node1/web", "node1", nil, "web"), ("node1:43274/web", "node1", 43274, "web"),
            ("10.0.0.2:80/db", "10.0.0.2", 80, "db"), ("[::1]:8080/x", "::1", 8080, "x"), ("[fe80::1]/x", "fe80::1", nil, "x"),
        ] as [(String, String?, Int?, String)])
    func locators(_ text: String, _ host: String?, _ port: Int?, _ id: String) throws {
        let locator = try Locator(parsing: text)
        #expect(locator.host == host && locator.port == port && locator.id == id)
        // Written back, it reads as the same locator (`[::1]/x` was written `::1/x`, which reads as host ":", port 1).
        #expect(try Locator(parsing: locator.description) == locator)
    }

    @Test(arguments: ["", "/web", "a/b/c", "node:99999/web", "node:x/web", "node/", "no de/web"])
    func malformedLocators(_ text: String) {
        #expect(throws: LocatorError.self) { try Locator(parsing: text) }
    }
}

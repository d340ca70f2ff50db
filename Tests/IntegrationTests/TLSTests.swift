import Foundation
import GearAPI
import GearClient
import NIOHTTP1
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// HTTPS with client certificates against the real geard, with curl and openssl as the clients and `gear certs`
/// making every certificate: who gets in, what each role may do, revocation, HTTP/2, TLS versions, the audit
/// trail in the journal, and reloading on SIGHUP without dropping a live stream.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct TLSTests {
    /// The PKI and the geard serving HTTPS, made once for the suite.
    struct Setup: Sendable {
        let pki: String
        let geard: GeardProcess
        let httpsPort: Int
        var base: String { "https://127.0.0.1:\(httpsPort)" }
    }

    static let shared = Task { try await makeSetup() }

    static func gear(_ arguments: String) throws -> (status: Int32, output: String) {
        try sh("\(Sandbox.gearPath) \(arguments)")
    }

    static func makeSetup() async throws -> Setup {
        let pki = "/tmp/gear-pki-\(UUID().uuidString.prefix(8))"
        let other = pki + "/other"
        let commands = [
            "certs init --out \(pki)",
            "certs issue node node1 --ip 127.0.0.1 --out \(pki)",
            "certs issue client root --role admin --out \(pki)",
            "certs issue node node2 --out \(pki)",
            "certs issue client orchestrator --role operator --out \(pki)",
            "certs issue client ci --role reader --out \(pki)",
            "certs issue client tenant-a --out \(pki)",
            "certs issue client lost --role admin --out \(pki)",
            "certs issue client old --role admin --not-before 2020-01-01T00:00:00Z --not-after 2020-02-01T00:00:00Z --out \(pki)",
            "certs issue client future --role admin --not-before 2099-01-01T00:00:00Z --out \(pki)",
            "certs init --out \(other)",
            "certs issue client stranger --role admin --out \(other)",
        ]
        for command in commands {
            let result = try gear(command)
            guard result.status == 0 else { throw TestFailure("gear \(command): \(result.output)") }
        }
        // A certificate from the right CA whose extended key usage is server only: openssl as an outside tool.
        let eku = try sh(
            """
            cd \(pki) && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=serveronly/OU=admin' \
              -keyout serveronly.key -out serveronly.csr 2>&1 && printf 'extendedKeyUsage=serverAuth\\n' > eku.ext && \
            openssl x509 -req -in serveronly.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile eku.ext -out serveronly.crt 2>&1
            """)
        guard eku.status == 0 else { throw TestFailure("openssl: \(eku.output)") }
        let lost = try sh("\(Sandbox.gearPath) certs show --output json \(pki)/lost.crt").output
        let serial = try #require((try JSONSerialization.jsonObject(with: Data(lost.utf8)) as? [String: Any])?["serial"] as? String)
        try "# revoked in a test\nserial:\(serial)\n".write(toFile: "\(pki)/deny", atomically: true, encoding: .utf8)
        try #"{"grants": [{"identity": "cn:tenant-a", "role": "operator", "containers": ["tls-a-*"]}]}"#
            .write(toFile: "\(pki)/policy.json", atomically: true, encoding: .utf8)
        let httpsPort = GeardProcess.freePort()
        let geard = try await GeardProcess.start(arguments: [
            "--https", "127.0.0.1:\(httpsPort)", "--tls-cert", "\(pki)/node1.crt", "--tls-key", "\(pki)/node1.key", "--tls-ca", "\(pki)/ca.crt",
            "--tls-deny", "\(pki)/deny", "--policy", "\(pki)/policy.json",
        ])
        return Setup(pki: pki, geard: geard, httpsPort: httpsPort)
    }

    /// curl over HTTPS as `client` (a certificate name in the PKI, or nil for none).
    static func call(
        _ setup: Setup, _ method: String, _ path: String, as client: String?, body: String? = nil, pki: String? = nil, token: String? = nil
    ) throws -> CurlAnswer {
        let dir = pki ?? setup.pki
        var options = "--cacert \(setup.pki)/ca.crt"
        if let client { options += " --cert \(dir)/\(client).crt --key \(dir)/\(client).key" }
        return try curl(method, setup.base + path, body: body, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [], options: options)
    }

    /// A token from the orchestrator (an operator) for node2 to call node1.
    static func token(_ setup: Setup, _ arguments: String) throws -> String {
        let result = try gear(
            "token issue --cert \(setup.pki)/orchestrator.crt --key \(setup.pki)/orchestrator.key --holder cn:node2 \(arguments)")
        guard result.status == 0 else { throw TestFailure("gear token issue: \(result.output)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static let sleeper = #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"Started":true}"#

    @Test func anAdminCertificateDrivesTheLifecycleOverHTTPS() async throws {
        let setup = try await Self.shared.value
        let id = uniqueID("tls-admin")
        let install = try Self.call(setup, "PUT", "/container/\(id)?wait=30", as: "root", body: Self.sleeper)
        #expect(install.status == 200, "\(install.body)")
        let status = try Self.call(setup, "GET", "/container/\(id)/status", as: "root")
        #expect(status.status == 200 && status.body.contains("\"active\""))
        #expect(try Self.call(setup, "DELETE", "/container/\(id)?wait=30", as: "root").status == 200)
    }

    @Test(arguments: [nil, "stranger", "old", "future", "serveronly"] as [String?])
    func aClientWithoutAnAcceptableCertificateIsRefusedInTheHandshake(client: String?) async throws {
        let setup = try await Self.shared.value
        let answer = try Self.call(setup, "GET", "/containers", as: client, pki: client == "stranger" ? setup.pki + "/other" : nil)
        #expect(answer.status == 0, "\(client ?? "no certificate") got \(answer.status): \(answer.body)")
    }

    @Test func aRevokedCertificateGets401AndTheRefusalIsInTheJournal() async throws {
        let setup = try await Self.shared.value
        let answer = try Self.call(setup, "GET", "/containers", as: "lost")
        #expect(answer.status == 401)
        #expect(answer.body.contains("revoked") && answer.body.contains("\"unauthenticated\""))
        #expect(
            try await eventually {
                try sh("journalctl --no-pager -o cat GEAR_AUDIT=1 GEAR_AUTH_DECISION=deny 'GEAR_AUTH_IDENTITY=CN=lost, OU=admin'").output.contains(
                    "revoked")
            })
    }

    @Test func aReaderReadsButCannotInstallOrStopAndNothingChanges() async throws {
        let setup = try await Self.shared.value
        let id = uniqueID("tls-read")
        #expect(try Self.call(setup, "PUT", "/container/\(id)?wait=30", as: "root", body: Self.sleeper).status == 200)
        let jobsBefore = try await setup.geard.client.send(.GET, "/jobs?container=\(id)").decode(JobList.self).jobs.count

        let install = try Self.call(setup, "PUT", "/container/\(id)-2", as: "ci", body: Self.sleeper)
        #expect(install.status == 403 && install.body.contains("\"forbidden\""))
        #expect(try Self.call(setup, "PUT", "/container/\(id)/stopped", as: "ci").status == 403)
        #expect(try Self.call(setup, "DELETE", "/container/\(id)", as: "ci").status == 403)
        #expect(try Self.call(setup, "GET", "/container/\(id)/status", as: "ci").status == 200)
        #expect(try Self.call(setup, "GET", "/container/\(id)/log?lines=1", as: "ci").status == 200)

        #expect(try await setup.geard.client.status(id).activeState == "active")
        #expect(try await setup.geard.client.send(.GET, "/jobs?container=\(id)").decode(JobList.self).jobs.count == jobsBefore)
        #expect(try sh("systemctl cat ctr-\(id)-2.service").status != 0)
        #expect(
            try await eventually {
                try sh("journalctl --no-pager -o cat GEAR_AUDIT=1 GEAR_AUTH_DECISION=deny GEAR_CONTAINER=\(id) GEAR_AUTH_OPERATION=container.stop")
                    .output.contains("reader may not container.stop")
            })
        _ = try await setup.geard.client.delete(id, wait: 30)
    }

    @Test func aScopedOperatorCannotTouchAnotherTenantsContainers() async throws {
        let setup = try await Self.shared.value
        let mine = "tls-a-\(UUID().uuidString.prefix(6).lowercased())"
        let theirs = uniqueID("tls-b")
        #expect(try Self.call(setup, "PUT", "/container/\(theirs)?wait=30", as: "root", body: Self.sleeper).status == 200)
        #expect(try Self.call(setup, "PUT", "/container/\(mine)?wait=30", as: "tenant-a", body: Self.sleeper).status == 200)
        #expect(try Self.call(setup, "PUT", "/container/\(theirs)/stopped", as: "tenant-a").status == 403)
        #expect(try Self.call(setup, "POST", "/container/\(mine)/restart?wait=30", as: "tenant-a").status == 200)
        let list = try GearJSON.decoder().decode(ContainerList.self, from: Data(Self.call(setup, "GET", "/containers", as: "tenant-a").body.utf8))
        #expect(list.containers.map(\.id).allSatisfy { $0.hasPrefix("tls-a-") } && list.containers.contains { $0.id == mine })
        #expect(try await setup.geard.client.status(theirs).activeState == "active")
        _ = try await setup.geard.client.delete(mine, wait: 30)
        _ = try await setup.geard.client.delete(theirs, wait: 30)
    }

    @Test func http2IsNegotiatedAndOldTLSIsRefused() async throws {
        let setup = try await Self.shared.value
        let version = try sh(
            "curl -s -o /dev/null -w '%{http_version} %{http_code}' --http2 --cacert \(setup.pki)/ca.crt --cert \(setup.pki)/ci.crt "
                + "--key \(setup.pki)/ci.key \(setup.base)/node")
        #expect(version.output == "2 200")
        let http1 = try sh(
            "curl -s -o /dev/null -w '%{http_version} %{http_code}' --http1.1 --cacert \(setup.pki)/ca.crt --cert \(setup.pki)/ci.crt "
                + "--key \(setup.pki)/ci.key \(setup.base)/node")
        #expect(http1.output == "1.1 200")
        _ = try Self.call(setup, "GET", "/node", as: nil)  // a handshake without a certificate fails
        let metrics = try curl("GET", "http://127.0.0.1:\(setup.geard.port)/metrics").body
        #expect(metrics.contains(#"gear_tls_handshakes_total{result="http2"}"#) && metrics.contains(#"gear_tls_handshakes_total{result="failed"}"#))
        let connect =
            "openssl s_client -connect 127.0.0.1:\(setup.httpsPort) -cert \(setup.pki)/ci.crt -key \(setup.pki)/ci.key -CAfile \(setup.pki)/ca.crt"
        for old in ["-tls1", "-tls1_1"] {
            let refused = try sh("\(connect) \(old) -cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1")
            #expect(refused.status != 0 && refused.output.contains("alert protocol version"), "\(old): \(refused.output)")
        }
        let ok = try sh("\(connect) -tls1_2 </dev/null 2>&1")
        #expect(ok.output.contains("Verify return code: 0 (ok)"), "\(ok.output)")
    }

    @Test func http2UploadsOfManyWindowsArriveWholeAndAStoppingGeardClosesItsHTTP2Connections() async throws {
        let setup = try await Self.shared.value
        let id = uniqueID("tls-h2")
        let body = #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"Started":true,"Volumes":[{"Name":"data","Path":"/data"}]}"#
        #expect(try Self.call(setup, "PUT", "/container/\(id)?wait=30", as: "root", body: body).status == 200)
        // 24 MiB over one h2 stream: many times geard's stream and connection windows, checked by its digest.
        let source = "\(setup.pki)/h2-upload-\(id)"
        #expect(try sh("head -c 25165824 /dev/urandom > \(source)").status == 0)
        let digest = try sh("openssl dgst -sha256 -binary \(source) | base64 -w0").output
        let tls = "--cacert \(setup.pki)/ca.crt --cert \(setup.pki)/root.crt --key \(setup.pki)/root.key"
        let upload = try sh(
            "curl -s -o /dev/null -w '%{http_version} %{http_code}' --http2 \(tls) -H 'Content-Digest: sha-256=:\(digest):' "
                + "-T \(source) \(setup.base)/container/\(id)/files/data/big")
        #expect(upload.output == "2 201")
        #expect(try sh("cmp \(source) \(setup.geard.stateDir)/volumes/\(id)/data/big").status == 0)
        _ = try await setup.geard.client.delete(id, wait: 30)

        // A geard of its own, stopped while an h2 client follows /events: the follow ends, the connection is told
        // GOAWAY and closed, and geard exits instead of waiting for it.
        let port = GeardProcess.freePort()
        let geard = try await GeardProcess.start(arguments: [
            "--https", "127.0.0.1:\(port)", "--tls-cert", "\(setup.pki)/node1.crt", "--tls-key", "\(setup.pki)/node1.key",
            "--tls-ca", "\(setup.pki)/ca.crt",
        ])
        let out = "\(setup.pki)/h2-events-\(id)"
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        follower.arguments =
            ["-s", "-N", "--http2", "-w", "%{http_version}\n", "-o", out, "https://127.0.0.1:\(port)/events?follow=1"]
            + tls.split(separator: " ").map(String.init)
        let written = Pipe()
        follower.standardOutput = written
        try follower.run()
        defer { follower.terminate() }
        #expect(
            try await eventually {
                (try? sh("curl -s 127.0.0.1:\(geard.port)/metrics").output.contains("gear_event_streams_open 1")) == true
            })
        kill(geard.process.processIdentifier, SIGTERM)
        #expect(try await eventually(timeout: .seconds(20)) { !geard.process.isRunning }, "geard did not exit")
        #expect(try await eventually { !follower.isRunning }, "the h2 follow was left open")
        let version = follower.isRunning ? "still running" : String(decoding: written.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(version.hasPrefix("2"), "\(version)")
        await geard.stop(signal: SIGKILL)
    }

    @Test func theGearCLIUsesHTTPSWithAClientCertificate() async throws {
        let setup = try await Self.shared.value
        let id = uniqueID("tls-cli")
        let tls = "--ca \(setup.pki)/ca.crt --cert \(setup.pki)/root.crt --key \(setup.pki)/root.key"
        let host = "127.0.0.1:\(setup.httpsPort)"
        let install = try Self.gear("install \(tls) --runtime exec --start --wait \(host)/\(id) -- /bin/sleep 1000")
        #expect(install.status == 0, "\(install.output)")
        let status = try Self.gear("status \(tls) \(host)/\(id)")
        #expect(status.status == 0 && status.output.contains("active"))
        let denied = try Self.gear("stop --ca \(setup.pki)/ca.crt --cert \(setup.pki)/ci.crt --key \(setup.pki)/ci.key \(host)/\(id)")
        #expect(denied.status == 1 && denied.output.contains("403"), "\(denied.output)")
        // The interactive exec over HTTPS (http/1.1 for the WebSocket): an admin's, and a reader's refused.
        let echoed = try sh("printf 'over tls\\n' | \(Sandbox.gearPath) exec \(tls) -i \(host)/\(id) -- /bin/cat")
        #expect(echoed.status == 0 && echoed.output == "over tls\n", "\(echoed)")
        let reader = try Self.gear("exec --ca \(setup.pki)/ca.crt --cert \(setup.pki)/ci.crt --key \(setup.pki)/ci.key -i \(host)/\(id) -- /bin/true")
        #expect(reader.status == 1 && reader.output.contains("403") && reader.output.contains("container.exec"), "\(reader.output)")
        // Over HTTP/2 (curl's choice over TLS) there is no upgrade: a clear 400.
        let h2 = try Self.call(setup, "GET", "/container/\(id)/exec?cmd=/bin/true", as: "root")
        #expect(h2.status == 400 && h2.body.contains("WebSocket"), "\(h2.body)")
        #expect(try Self.gear("delete \(tls) --wait \(host)/\(id)").status == 0)
    }

    @Test func sighupLoadsANewCertificateWithoutDroppingALiveStream() async throws {
        let setup = try await Self.shared.value
        let id = uniqueID("tls-hup")
        let ticker = #"{"Runtime":"exec","Cmd":["/bin/sh","-c","while true; do echo tick; sleep 0.2; done"],"Started":true}"#
        #expect(try Self.call(setup, "PUT", "/container/\(id)?wait=30", as: "root", body: ticker).status == 200)
        let out = "\(setup.pki)/follow-\(id)"
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        follower.arguments = [
            "-s", "-N", "--cacert", "\(setup.pki)/ca.crt", "--cert", "\(setup.pki)/root.crt", "--key", "\(setup.pki)/root.key", "-o", out,
            "\(setup.base)/container/\(id)/log?follow=1&lines=0",
        ]
        try follower.run()
        defer { follower.terminate() }
        #expect(try await eventually { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("tick") })

        let serial = { () throws -> String in
            try sh(
                "openssl s_client -connect 127.0.0.1:\(setup.httpsPort) -cert \(setup.pki)/ci.crt -key \(setup.pki)/ci.key </dev/null 2>/dev/null | openssl x509 -noout -serial"
            )
            .output
        }
        let before = try serial()
        #expect(try Self.gear("certs issue node node1 --ip 127.0.0.1 --force --out \(setup.pki)").status == 0)
        kill(setup.geard.process.processIdentifier, SIGHUP)
        #expect(try await eventually { try serial() != before }, "the new certificate was not served")

        let size = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").count
        #expect(try await eventually { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").count > size }, "the follow stopped")
        #expect(follower.isRunning)
        _ = try await setup.geard.client.delete(id, wait: 30)
    }

    @Test func aDelegationTokenLetsOneNodeCallAnotherAndNothingMore() async throws {
        let setup = try await Self.shared.value
        let id = uniqueID("tls-tok")
        #expect(try Self.call(setup, "PUT", "/container/\(id)?wait=30", as: "root", body: Self.sleeper).status == 200)
        let pid = try await setup.geard.client.status(id).mainPID

        // node2's own certificate names no role: alone it may do nothing.
        #expect(try Self.call(setup, "GET", "/container/\(id)/status", as: "node2").status == 403)

        let grant = "--op container.read --op container.restart --container 'tls-tok-*' --ttl 120"
        let once = try Self.token(setup, "--audience node1 \(grant) --once")
        let restart = try Self.call(setup, "POST", "/container/\(id)/restart?wait=30", as: "node2", token: once)
        #expect(restart.status == 200, "\(restart.body)")
        #expect(try await setup.geard.client.status(id).mainPID != pid)
        let replay = try Self.call(setup, "POST", "/container/\(id)/restart", as: "node2", token: once)
        #expect(replay.status == 401 && replay.body.contains("already used"), "\(replay.body)")

        let reusable = try Self.token(setup, "--audience node1 \(grant)")
        #expect(try Self.call(setup, "GET", "/container/\(id)/status", as: "node2", token: reusable).status == 200)
        // Beyond the token: another operation, another container.
        #expect(try Self.call(setup, "PUT", "/container/\(id)/stopped", as: "node2", token: reusable).status == 403)
        #expect(try Self.call(setup, "GET", "/container/other/status", as: "node2", token: reusable).status == 403)

        var tampered = Array(reusable)
        tampered[tampered.count - 3] = tampered[tampered.count - 3] == "A" ? "B" : "A"
        let refusals: [(String, String, String)] = [
            (String(tampered), "node2", "signature"),
            (reusable, "ci", "another holder"),
            (try Self.token(setup, "--audience node9 \(grant)"), "node2", "not this node"),
            (try Self.token(setup, "--audience node1 \(grant) --not-before \(Self.rfc3339(Date().addingTimeInterval(-3000)))"), "node2", "expired"),
        ]
        for (token, client, reason) in refusals {
            let answer = try Self.call(setup, "GET", "/container/\(id)/status", as: client, token: token)
            #expect(answer.status == 401 && answer.body.contains(reason), "\(reason): \(answer.status) \(answer.body)")
        }

        // The holder uses gear, as a node's tooling would.
        let cli = try Self.gear(
            "restart --wait --ca \(setup.pki)/ca.crt --cert \(setup.pki)/node2.crt --key \(setup.pki)/node2.key --token \(reusable) "
                + "127.0.0.1:\(setup.httpsPort)/\(id)")
        #expect(cli.status == 0, "\(cli.output)")
        #expect(
            try await eventually {
                try sh(
                    "journalctl --no-pager -o cat GEAR_AUDIT=1 GEAR_AUTH_DECISION=allow GEAR_CONTAINER=\(id) GEAR_AUTH_OPERATION=container.restart"
                )
                .output.contains("with token")
            })
        _ = try await setup.geard.client.delete(id, wait: 30)
    }

    static func rfc3339(_ date: Date) -> String { date.formatted(.iso8601) }

    /// Bad TLS, policy, socket and size flags stop geard at once with a clear message, before it creates its state directory
    /// or listens.
    @Test func badTLSAndPolicyFlagsAreRefusedAtStart() async throws {
        let setup = try await Self.shared.value
        let pki = setup.pki
        try #"{"grants": [{"identity": "cn:x", "role": "admin", "contianers": ["a-*"]}]}"#
            .write(toFile: "\(pki)/typo.json", atomically: true, encoding: .utf8)
        let tls = "--tls-cert \(pki)/node1.crt --tls-key \(pki)/node1.key --tls-ca \(pki)/ca.crt"
        let cases: [(String, String)] = [
            ("--https 127.0.0.1:1", "--https and --tls-deny need"),
            ("--tls-cert \(pki)/node1.crt", "needs all of --tls-cert, --tls-key and --tls-ca"),
            ("--tls-cert \(pki)/node1.crt --tls-key \(pki)/ca.crt --tls-ca \(pki)/ca.crt", "cannot load the key"),
            ("--tls-cert \(pki)/node1.crt --tls-key \(pki)/root.key --tls-ca \(pki)/ca.crt", "node1.crt"),
            ("\(tls) --tls-deny \(pki)/policy.json", "deny list"),
            ("--policy \(pki)/typo.json", "unknown key 'contianers'"),
            ("--audit loud", "--audit must be all, changes or denials"),
            ("--socket-mode 999", "--socket-mode must be octal"),
            ("--max-upload-size 0", "--max-upload-size must be a size like 512M or 16G"),
            ("--volume-size-limit 12X", "--volume-size-limit must be a size like 512M or 16G"),
            ("--allow-host-path /", "--allow-host-path / must be an absolute directory other than /"),
            ("--allow-host-path srv", "must be an absolute directory"),
            ("--allow-host-path /nonexistent-gear-dir", "must be an existing directory reached without symlinks"),
            ("--allow-host-path /srv/../etc", "must be an absolute directory"),
            ("--allow-host-path /bin", "reached without symlinks"),
            ("--label zone", "--label zone: must be KEY=VALUE"),
            ("--label 'a b=c'", "Labels: key 'a b'"),
            ("--label zone=a --label zone=b", "the key is given twice"),
            ("--network-namespace /run/netns/none-such", "--network-namespace must be an existing absolute path"),
            ("--network-namespace netns", "--network-namespace must be an existing absolute path"),
            ("--max-connections 0", "connection limits must be positive"),
            ("--max-connections-per-client 0", "connection limits must be positive"),
            ("--header-timeout 0", "--header-timeout must be more than 0"),
        ]
        for (flags, message) in cases {
            let state = "/var/lib/gear-badflags-\(UUID().uuidString.prefix(8))"
            let port = GeardProcess.freePort()
            let result = try sh("\(Sandbox.geardPath) --listen 127.0.0.1:\(port) --socket none --state-dir \(state) \(flags) 2>&1")
            #expect(result.status != 0 && result.output.contains(message), "\(flags): \(result.status) \(result.output)")
            #expect(!FileManager.default.fileExists(atPath: state), "\(flags) created \(state)")
        }
    }
}

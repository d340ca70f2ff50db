import Foundation
import GearAPI
import GearAuthorization
import GearCore
import GearTestSupport
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import GearHTTP

/// geard's protocol in process: what a request with `X-Api-Version: 1` is answered, as geard's client reads it.
@Suite struct GeardDialectTests {
    let root: String
    let systemd: MemorySystemd

    init() throws {
        root = NSTemporaryDirectory() + "gear-geard-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/systemd", withIntermediateDirectories: true)
        systemd = MemorySystemd(unitDirectory: root + "/systemd")
    }

    func withApp(_ test: @escaping @Sendable (any TestClientProtocol, NodeAgent) async throws -> Void) async throws {
        let agent = try await makeTestAgent(root: root, systemd: systemd)
        let app = Application(responder: CallerResponder(caller: .local(listener: "test"), router: GearHTTPServer.makeRouter(agent: agent)))
        try await app.test(.router) { try await test($0, agent) }
    }

    static let geard: HTTPFields = [
        .init("X-Api-Version")!: "1", .init("X-Request-Id")!: "-sF3yxGNFLDjxZeer_fP0A", .accept: "application/json;stream=true",
    ]

    /// geard's client's whole install body (cmd/gear install, with -p 8080:0), in its field order; `with` replaces
    /// fields' values (raw JSON).
    static func install(_ id: String, with changes: [String: String] = [:]) -> ByteBuffer {
        let fields: [(String, String)] = [
            ("Id", "\"\(id)\""), ("Image", "\"localhost/busybox\""), ("Simple", "false"), ("Isolate", "false"), ("SocketActivation", "false"),
            ("SkipSocketProxy", "false"), ("Ports", #"[{"Internal":8080}]"#), ("Environment", #"{"Variables":null,"Source":"","Id":""}"#),
            ("NetworkLinks", "null"), ("VolumeConfig", "null"), ("Started", "true"), ("SystemdSlice", "\"container-small\""),
        ]
        let body = fields.map { "\"\($0.0)\":\(changes[$0.0] ?? $0.1)" }.joined(separator: ",")
        return ByteBuffer(string: "{\(body)}\n")
    }

    @Test func anInstallIsAnswered202InTextWithItsPortMappingOnceItRan() async throws {
        try await withApp { client, agent in
            try await client.execute(uri: "/container/web1", method: .put, headers: Self.geard, body: Self.install("web1")) { response in
                #expect(response.status == .accepted)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                #expect(response.headers[.init("X-PortMapping")!] == "8080:4000")
                #expect(String(buffer: response.body) == "Container web1 is starting\n")
                // The base64url request id is the job's, in its canonical hex form.
                #expect(response.headers[.init("X-Request-Id")!] == "fac177cb118d14b0e3c5979eaff7cfd0")
            }
            #expect(await agent.job("fac177cb118d14b0e3c5979eaff7cfd0")?.state == .succeeded)
            #expect(try agent.ports(ContainerID("web1")) == [PortMapping(internal: 8080, external: 4000)])
            let definition = try String(contentsOfFile: "\(root)/state/units/ctr-web1.service", encoding: .utf8)
            #expect(definition.contains("Slice=gear-container-small.slice"))
        }
    }

    @Test func theOtherCallsAnswerAsGeardDid() async throws {
        try await withApp { client, _ in
            var headers = Self.geard
            headers[.init("X-Request-Id")!] = nil
            try await client.execute(uri: "/container/web1", method: .put, headers: headers, body: Self.install("web1")) { _ in }
            for (uri, method, text) in [
                ("/container/web1/stopped", HTTPRequest.Method.put, "Container web1 is stopped\n"),
                ("/container/web1/started", .put, "Container web1 starting\n"),
                ("/container/web1/restart", .post, "Container web1 restarting\n"),
            ] {
                try await client.execute(uri: uri, method: method, headers: headers) { response in
                    #expect(response.status == .accepted && String(buffer: response.body) == text, "\(uri)")
                }
            }
            try await client.execute(uri: "/container/web1/status", method: .get, headers: headers) { response in
                #expect(response.status == .accepted && response.headers[.contentType]?.hasPrefix("text/plain") == true)
                #expect(String(buffer: response.body).hasPrefix("● ctr-web1.service - gear container web1 (podman)\n"))
            }
            try await client.execute(uri: "/containers", method: .get, headers: headers) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "application/json")
                #expect(
                    String(buffer: response.body)
                        == #"{"Containers":[{"Id":"web1","ActiveState":"active","SubState":"running","LoadState":"loaded"}]}"# + "\n")
            }
            let env = ByteBuffer(string: #"{"Variables":[{"Name":"A","Value":"x \"y\""}],"Source":"","Id":"ignored"}"# + "\n")
            try await client.execute(uri: "/environment/env1", method: .patch, headers: headers, body: env) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/environment/env1", method: .get, headers: headers) { response in
                #expect(response.status == .accepted && String(buffer: response.body) == "A=\"x \\\"y\\\"\"\n")
            }
            let links = ByteBuffer(
                string: #"{"Links":[{"Id":"web1","NetworkLinks":[{"FromHost":"127.0.0.1","FromPort":8081,"ToHost":"10.0.0.1","ToPort":80}]}]}"#)
            try await client.execute(uri: "/containers/links", method: .post, headers: headers, body: links) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/container/web1", method: .delete, headers: headers) { response in
                #expect(response.status == .noContent && response.body.readableBytes == 0)
            }
            try await client.execute(uri: "/containers", method: .delete, headers: headers) { response in
                #expect(response.status == .noContent)
            }
        }
    }

    @Test func errorsAreGeardsMessageBodiesAndChangeNothing() async throws {
        try await withApp { client, agent in
            func failure(_ response: TestResponse) throws -> [String: String] {
                #expect(response.headers[.contentType] == "application/json")
                return try JSONDecoder().decode([String: String].self, from: Data(response.body.readableBytesView))
            }
            for (field, value, message) in [
                ("Isolate", "true", "Isolate is not supported"), ("SocketActivation", "true", "SocketActivation is not supported"),
                ("NetworkLinks", #"[{"FromPort":0}]"#, "the from port must be between 1 and 65535"),
                ("VolumeConfig", #"{"VolumeMounts":[{"Path":"/srv","HostPath":"/www"}]}"#, "mounts no host directories"),
                ("Environment", #"{"Variables":null,"Source":"http://x/env","Id":""}"#, "not fetched"),
            ] {
                let body = Self.install("bad1", with: [field: value])
                try await client.execute(uri: "/container/bad1", method: .put, headers: Self.geard, body: body) { response in
                    #expect([400, 403].contains(response.status.code), "\(field)")
                    let body = try failure(response)
                    #expect(body["Message"]?.contains(message) == true, "\(field): \(body)")
                }
            }
            try await client.execute(uri: "/container/other", method: .put, headers: Self.geard, body: Self.install("web1")) { response in
                #expect(response.status == .badRequest)
                let body = try failure(response)
                #expect(body["Message"]?.contains("is not the container of the path") == true)
            }
            try await client.execute(uri: "/container/nothere/status", method: .get, headers: Self.geard) { response in
                let body = try failure(response)
                #expect(response.status == .notFound && body["Error"] == "not_found")
            }
            var two = Self.geard
            two[.init("X-Api-Version")!] = "2"
            try await client.execute(uri: "/containers", method: .get, headers: two) { response in
                let body = try failure(response)
                #expect(response.status == .badRequest && body["Message"]?.contains("X-Api-Version") == true)
            }
            #expect(await agent.jobs().isEmpty)
            #expect(agent.installedIDs().isEmpty)
        }
    }

    /// The journal lines of a status as `systemctl status` shows them: receive time, who, pid, the message without
    /// podman's trailing line break, later lines of a message indented.
    @Test func statusJournalLinesAreSystemctls() throws {
        let utc = try #require(TimeZone(identifier: "UTC"))
        // 2026-12-07T07:01:48.238576Z
        let at: UInt64 = 1_796_626_908_238_576
        let podman = LogRecord(realtime: at, cursor: "", message: Array("line 1\n".utf8), pid: 682, identifier: "ctr-dt1")
        #expect(GeardDialect.journalLine(podman, timeZone: utc) == "Dec 07 07:01:48 ctr-dt1[682]: line 1")
        let systemd = LogRecord(realtime: at + 86_400_000_000 * 30, cursor: "", message: Array("a\nb".utf8), pid: 1, identifier: "systemd")
        #expect(GeardDialect.journalLine(systemd, timeZone: utc) == "Jan 06 07:01:48 systemd[1]: a\n                            b")
        let bare = LogRecord(realtime: at, cursor: "", message: Array("x".utf8))
        #expect(GeardDialect.journalLine(bare, timeZone: utc) == "Dec 07 07:01:48 x")
    }

    @Test func goQuotingIsStrconvQuote() {
        #expect(GeardDialect.goQuoted("plain") == #""plain""#)
        #expect(GeardDialect.goQuoted("a\"b\\c\td\u{1}é") == #""a\"b\\c\td\x01é""#)
    }
}

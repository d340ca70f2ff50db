import Foundation
import GearAPI
import GearAuthorization
import GearCore
import GearTestSupport
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import GearHTTP

/// The HTTP layer in process (HummingbirdTesting), over an agent with an in-memory systemd: status codes,
/// headers, JSON error bodies and content negotiation.
@Suite struct RoutesTests {
    let root: String
    let systemd: MemorySystemd

    init() throws {
        root = NSTemporaryDirectory() + "gear-http-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/systemd", withIntermediateDirectories: true)
        systemd = MemorySystemd(unitDirectory: root + "/systemd")
    }

    func withApp(_ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let agent = try await makeTestAgent(root: root, systemd: systemd)
        let app = Application(responder: CallerResponder(caller: .local(listener: "test"), router: GearHTTPServer.makeRouter(agent: agent)))
        try await app.test(.router, test)
    }

    static let body = ByteBuffer(string: #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"Started":true}"#)

    @Test func installAnswers202WithJobLocationAndEchoedRequestID() async throws {
        try await withApp { client in
            let id = "0123456789abcdef0123456789abcdef"
            try await client.execute(uri: "/container/web", method: .put, headers: [.init("X-Request-Id")!: id], body: Self.body) { response in
                #expect(response.status == .accepted)
                #expect(response.headers[.location] == "/jobs/\(id)")
                #expect(response.headers[.init("X-Request-Id")!] == id)
                #expect(response.headers[.contentType] == "application/json")
                let job = try GearJSON.decoder().decode(Job.self, from: Data(response.body.readableBytesView))
                #expect(job.id == id && job.kind == .install && job.container == "web")
            }
            try await client.execute(uri: "/jobs/\(id)/wait?timeout=10", method: .get) { response in
                #expect(response.status == .ok)
                let job = try GearJSON.decoder().decode(Job.self, from: Data(response.body.readableBytesView))
                #expect(job.state == .succeeded)
            }
        }
    }

    @Test func waitingInstallAnswersWithTheResultAndPortMapping() async throws {
        try await withApp { client in
            let body = ByteBuffer(string: #"{"Image":"localhost/busybox","Ports":[{"Internal":8080}],"Started":true}"#)
            try await client.execute(uri: "/container/web", method: .put, headers: [.init("Prefer")!: "wait=10"], body: body) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.init("X-PortMapping")!] == "8080:4000")
                #expect(response.headers[.init("Preference-Applied")!] == "wait=10")
            }
            try await client.execute(uri: "/container/web/ports", method: .get, headers: [.accept: "text/plain"]) { response in
                #expect(String(buffer: response.body) == "8080:4000\n")
            }
            try await client.execute(uri: "/containers", method: .get, headers: [.accept: "text/plain"]) { response in
                let text = String(buffer: response.body)
                #expect(text.hasPrefix("ID   RUNTIME  STARTED  STATE   SUB      PORTS\nweb  podman   yes      active  running  8080:4000"))
            }
            try await client.execute(uri: "/container/web/status?format=text", method: .get) { response in
                #expect(String(buffer: response.body).contains("state: active (running), loaded"))
            }
        }
    }

    @Test func listAndStatusAreWhatTheEncoderWritesAndFollowChanges() async throws {
        let agent = try await makeTestAgent(root: root, systemd: systemd)
        let app = Application(responder: CallerResponder(caller: .local(listener: "test"), router: GearHTTPServer.makeRouter(agent: agent)))
        _ = FileManager.default.createFile(atPath: root + "/systemd/ctr-orphan.service", contents: Data())
        try await app.test(.router) { client in
            for id in ["web", "db"] {
                try await client.execute(uri: "/container/\(id)?wait=10", method: .put, body: Self.body) { #expect($0.status == .ok) }
            }
            func check(_ running: String) async throws {
                let encoder = GearJSON.encoder()
                let list = try await agent.list(includeOrphans: true)
                #expect(list.orphanUnits == ["ctr-orphan.service"])
                #expect(list.containers.map(\.id) == ["db", "web"])
                #expect(list.containers.first { $0.id == "web" }?.activeState == running)
                let withOrphans = String(decoding: try encoder.encode(list), as: UTF8.self) + "\n"
                try await client.execute(uri: "/containers?all=1", method: .get) { response in
                    #expect(String(buffer: response.body) == withOrphans)
                }
                let plain = String(decoding: try encoder.encode(ContainerList(containers: list.containers)), as: UTF8.self) + "\n"
                try await client.execute(uri: "/containers", method: .get) { response in
                    #expect(String(buffer: response.body) == plain)
                }
                let status = try #require(list.containers.first { $0.id == "web" })
                let single = String(decoding: try encoder.encode(status), as: UTF8.self) + "\n"
                try await client.execute(uri: "/container/web/status", method: .get) { response in
                    #expect(String(buffer: response.body) == single)
                }
            }
            try await check("active")
            try await client.execute(uri: "/container/web/stopped?wait=10", method: .put) { #expect($0.status == .ok) }
            try await check("inactive")
        }
    }

    @Test(arguments: [
        ("/container/.ab/status", HTTPResponse.Status.badRequest, "invalid_id"),
        ("/container/nosuch/status", .notFound, "not_found"),
        ("/nowhere", .notFound, "not_found"),
        ("/jobs/xyz", .badRequest, "invalid_request_id"),
        ("/containers?all=perhaps", .badRequest, "invalid_request"),
    ])
    func errorsAreJSONWithACode(_ uri: String, _ status: HTTPResponse.Status, _ code: String) async throws {
        try await withApp { client in
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == status)
                #expect(response.headers[.contentType] == "application/json")
                let error = try JSONDecoder().decode(APIError.self, from: Data(response.body.readableBytesView))
                #expect(error.error == code)
                #expect(error.requestId == response.headers[.init("X-Request-Id")!])
            }
        }
    }

    @Test func anOversizedBodyIs413AndAnInvalidRequestIDIs400() async throws {
        try await withApp { client in
            let big = ByteBuffer(string: #"{"Image":""# + String(repeating: "a", count: 2 << 20) + #""}"#)
            try await client.execute(uri: "/container/big", method: .put, body: big) { response in
                #expect(response.status == .contentTooLarge)
            }
            try await client.execute(uri: "/container/web", method: .put, headers: [.init("X-Request-Id")!: "x"], body: Self.body) { response in
                #expect(response.status == .badRequest)
                let error = try JSONDecoder().decode(APIError.self, from: Data(response.body.readableBytesView))
                #expect(error.error == "invalid_request_id")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/state/containers/big.json"))
        #expect(!FileManager.default.fileExists(atPath: root + "/state/containers/web.json"))
    }

    @Test func anOversizedRunJobIs413AndQueuesNothing() async throws {
        try await withApp { client in
            let big = ByteBuffer(string: #"{"Runtime":"exec","Cmd":["/bin/echo",""# + String(repeating: "a", count: 2 << 20) + #""]}"#)
            try await client.execute(uri: "/jobs?wait=5", method: .post, body: big) { response in
                #expect(response.status == .contentTooLarge)
                let error = try JSONDecoder().decode(APIError.self, from: Data(response.body.readableBytesView))
                #expect(error.error == "too_large")
            }
            try await client.execute(uri: "/jobs", method: .get) { response in
                #expect(response.status == .ok)
                let list = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                #expect((list?["jobs"] as? [Any])?.isEmpty == true)
            }
        }
    }

    @Test func aFailedJobAnswersWithItsErrorStatusAndTheJob() async throws {
        systemd.failStarts(of: "ctr-bad.service")
        try await withApp { client in
            try await client.execute(uri: "/container/bad?wait=10", method: .put, body: Self.body) { response in
                #expect(response.status == .unprocessableContent)
                let error = try GearJSON.decoder().decode(APIError.self, from: Data(response.body.readableBytesView))
                #expect(error.error == "unit_failed" && error.job?.state == .failed)
            }
        }
    }

    /// A path parameter may come percent-encoded: the `==` of a base64url request id as `%3D%3D`.
    @Test func pathParametersArePercentDecoded() async throws {
        try await withApp { client in
            try await client.execute(
                uri: "/container/web?wait=10", method: .put, headers: [.init("X-Request-Id")!: "-sF3yxGNFLDjxZeer_fP0A=="], body: Self.body
            ) { #expect($0.status == .ok) }
            try await client.execute(uri: "/jobs/-sF3yxGNFLDjxZeer_fP0A%3D%3D", method: .get) { response in
                #expect(response.status == .ok, "\(String(buffer: response.body))")
                #expect(String(buffer: response.body).contains(#""id":"fac177cb118d14b0e3c5979eaff7cfd0""#))
            }
            try await client.execute(uri: "/container/w%65b/status", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/container/a%2Fb/status", method: .get) { #expect($0.status == .badRequest) }
        }
    }
}

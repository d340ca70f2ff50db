import Foundation
import GearAPI
import GearAuthorization
import GearCore
import GearTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import GearHTTP

/// Every operation answers what docs/openapi.json says, checked in process: each endpoint is called (the resources
/// it needs made first), and each answer's status must be documented for it, its content type listed, and its body
/// valid against the schema (each line of NDJSON alike). Schemathesis does the same from outside in the sandbox;
/// this runs with the unit tests, on every build.
@Suite struct OpenAPIConformanceTests {
    let root: String
    let systemd: MemorySystemd
    let schema: OpenAPISchema

    init() throws {
        root = NSTemporaryDirectory() + "gear-conformance-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/systemd", withIntermediateDirectories: true)
        systemd = MemorySystemd(unitDirectory: root + "/systemd")
        schema = OpenAPISchema(document: try JSONValue.parse(OpenAPIDocument.bytes))
    }

    /// One call: the endpoint it exercises (as the document writes it), what to send, and whether it must succeed.
    struct Call: Sendable {
        var endpoint: String
        var uri: String
        var headers: HTTPFields = [:]
        var body: String? = nil
        /// When set, the status the call must get; otherwise any documented one.
        var status: Int? = nil

        init(_ endpoint: String, _ uri: String? = nil, headers: HTTPFields = [:], body: String? = nil, status: Int? = nil) {
            self.endpoint = endpoint
            self.uri = uri ?? String(endpoint.split(separator: " ")[1])
            self.headers = headers
            self.body = body
            self.status = status
        }
    }

    static let jobID = "00000000000000000000000000000a01"
    static let install =
        #"{"Image":"localhost/busybox","Cmd":["sleep","1000"],"Volumes":[{"Name":"data","Path":"/data"}],"EnvironmentId":"shared","Ports":[{"Internal":8080}],"Started":true}"#

    /// In order: what later calls need is made by earlier ones.
    static let calls: [Call] = [
        Call("PUT /environment/{id}", "/environment/shared", body: #"{"A":"1"}"#, status: 200),
        Call("GET /environments", status: 200),
        Call("GET /environment/{id}", "/environment/shared", status: 200),
        Call("PATCH /environment/{id}", "/environment/shared", body: #"{"B":"2"}"#, status: 200),
        Call("GET /environment/{id}", "/environment/nope", status: 404),
        Call("PUT /container/{id}", "/container/web?wait=10", body: install, status: 200),
        Call(
            "PUT /container/{id}", "/container/web2", headers: [.init("X-Request-Id")!: jobID],
            body: install.replacingOccurrences(of: "8080", with: "8081"), status: 202),
        Call("PUT /container/{id}", "/container/-bad", body: install, status: 400),
        Call("PUT /container/{id}", "/container/web3", body: "{", status: 400),
        Call("GET /jobs/{id}/wait", "/jobs/\(jobID)/wait?timeout=10", status: 200),
        Call("GET /jobs/{id}", "/jobs/\(jobID)", status: 200),
        Call("GET /jobs/{id}", "/jobs/00000000000000000000000000000bad", status: 404),
        Call("GET /jobs", status: 200),
        Call("DELETE /jobs/{id}", "/jobs/\(jobID)"),
        Call("GET /container/{id}/status", "/container/web/status", status: 200),
        Call("GET /container/{id}/status", "/container/nope/status", status: 404),
        Call("GET /container/{id}/ports", "/container/web/ports", status: 200),
        Call("GET /containers", "/containers?all=1", status: 200),
        Call("PUT /container/{id}/stopped", "/container/web/stopped?wait=10", status: 200),
        Call("PUT /container/{id}/started", "/container/web/started?wait=10", status: 200),
        Call("POST /container/{id}/restart", "/container/web/restart?wait=10", status: 200),
        Call("POST /container/{id}/restart", "/container/nope/restart", status: 404),
        Call(
            "POST /containers/links", "/containers/links?wait=10",
            body: #"{"Links":[{"Id":"web","NetworkLinks":[{"FromHost":"127.0.0.1","FromPort":8081,"ToHost":"10.0.0.2","ToPort":80}]}]}"#, status: 200),
        Call("GET /container/{id}/log", "/container/web/log?lines=5"),
        Call("GET /container/{id}/log", "/container/web/log?lines=5", headers: [.accept: "application/x-ndjson"]),
        Call("PUT /container/{id}/files/{path}", "/container/web/files/data/a.txt", body: "hello\n", status: 201),
        Call("HEAD /container/{id}/files/{path}", "/container/web/files/data/a.txt", status: 200),
        Call("GET /container/{id}/files/{path}", "/container/web/files/data/a.txt", status: 200),
        Call("GET /container/{id}/files/{path}", "/container/web/files/data/a.txt", headers: [.range: "bytes=0-1"], status: 206),
        Call("GET /container/{id}/files/{path}", "/container/web/files/data/", status: 200),
        Call("GET /container/{id}/files/{path}", "/container/web/files/etc/passwd", status: 403),
        Call("GET /container/{id}/archive", "/container/web/archive?path=/data", status: 200),
        Call(
            "PUT /container/{id}/archive", "/container/web/archive?path=/data/copy", body: "not a tar archive, but long enough to be read",
            status: 400),
        Call("DELETE /container/{id}/files/{path}", "/container/web/files/data/a.txt", status: 200),
        Call("POST /container/{id}/exec", "/container/web/exec", body: #"{"Cmd":["/bin/true"]}"#),
        Call("GET /container/{id}/exec", "/container/web/exec?cmd=/bin/true"),
        Call("POST /jobs", "/jobs?wait=0", body: #"{"Cmd":["/bin/true"]}"#),
        Call("GET /jobs/{id}/log", "/jobs/\(jobID)/log?follow=0"),
        Call("GET /events", "/events?follow=0", status: 200),
        Call("GET /images"),
        Call("POST /images", "/images?name=x", body: "not an archive"),
        Call("GET /node", status: 200),
        Call("GET /healthz"),
        Call("GET /readyz"),
        Call("GET /openapi.json", status: 200),
        Call("GET /metrics", status: 200),
        Call("PUT /lease/{name}", "/lease/deploy.x", body: #"{"Holder":"test","Seconds":30}"#, status: 200),
        Call("GET /lease/{name}", "/lease/deploy.x", status: 200),
        Call("DELETE /lease/{name}", "/lease/deploy.x?holder=test"),
        Call("DELETE /container/{id}", "/container/web2?wait=10", status: 200),
        Call("DELETE /containers", "/containers?wait=10", status: 200),
        Call("DELETE /environment/{id}", "/environment/shared", status: 204),
    ]

    @Test func everyAnswerIsWhatTheDocumentSays() async throws {
        let agent = try await makeTestAgent(root: root, systemd: systemd)
        let (router, endpoints) = GearHTTPServer.makeRoutes(agent: agent)
        let app = Application(responder: CallerResponder(caller: .local(listener: "test"), router: router))
        let schema = self.schema
        try await app.test(.router) { client in
            for call in Self.calls {
                let method = HTTPRequest.Method(String(call.endpoint.split(separator: " ")[0]))!
                let body = call.body.map { ByteBuffer(string: $0) }
                try await client.execute(uri: call.uri, method: method, headers: call.headers, body: body) { response in
                    let problems = Self.check(response, of: call, method: method, schema: schema)
                    #expect(problems.isEmpty, "\(call.endpoint) \(call.uri) answered \(response.status.code): \(problems.joined(separator: "; "))")
                    if let status = call.status {
                        #expect(Int(response.status.code) == status, "\(call.uri): \(String(buffer: response.body).prefix(300))")
                    }
                }
            }
        }
        // Every operation was called.
        #expect(Set(endpoints.map(\.description)).subtracting(Self.calls.map(\.endpoint)).sorted() == [])
    }

    /// What is wrong with `response` by the document.
    static func check(_ response: TestResponse, of call: Call, method: HTTPRequest.Method, schema: OpenAPISchema) -> [String] {
        let path = String(call.endpoint.split(separator: " ")[1])
        guard let operation = schema.document["paths"]?[path]?[method.rawValue.lowercased()] else { return ["not in the document"] }
        let status = String(response.status.code)
        guard let documented = schema.dereferenced(operation["responses"]?[status]) else { return ["status \(status) is not documented"] }
        guard case .object(let content) = documented["content"] else {
            return response.body.readableBytes == 0 || method == .head ? [] : ["a body where the document has none"]
        }
        let type = response.headers[.contentType].map { String($0.split(separator: ";")[0]).trimmingCharacters(in: .whitespaces) } ?? ""
        guard let media = content[type] else { return ["content type '\(type)' is not one of \(content.keys.sorted())"] }
        guard method != .head, let bodySchema = media["schema"] else { return [] }
        switch type {
        case "application/json":
            guard let value = try? JSONValue.parse(response.body.readableBytesView) else { return ["the body is not JSON"] }
            return schema.problems(value, bodySchema)
        case "application/x-ndjson":
            return String(buffer: response.body).split(separator: "\n").enumerated().flatMap { i, line in
                guard let value = try? JSONValue.parse(Array(line.utf8)) else { return ["line \(i + 1) is not JSON"] }
                return schema.problems(value, bodySchema, at: "line \(i + 1)")
            }
        default:
            return []
        }
    }
}

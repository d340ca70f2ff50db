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

/// Named environments in process: bodies in every form, merges, the files units read, who uses one, and refusals
/// that change nothing.
@Suite struct EnvironmentRoutesTests {
    let root: String
    let systemd: MemorySystemd

    init() throws {
        root = NSTemporaryDirectory() + "gear-env-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/systemd", withIntermediateDirectories: true)
        systemd = MemorySystemd(unitDirectory: root + "/systemd")
    }

    func withApp(_ test: @escaping @Sendable (any TestClientProtocol, NodeAgent) async throws -> Void) async throws {
        let agent = try await makeTestAgent(root: root, systemd: systemd)
        let app = Application(responder: CallerResponder(caller: .local(listener: "test"), router: GearHTTPServer.makeRouter(agent: agent)))
        try await app.test(.router) { try await test($0, agent) }
    }

    static func decode(_ response: TestResponse) throws -> SharedEnvironment {
        if response.status != .ok { Issue.record("status \(response.status): \(String(buffer: response.body))") }
        return try GearJSON.decoder().decode(SharedEnvironment.self, from: Data(response.body.readableBytesView))
    }

    func file(_ name: String) -> String? {
        try? String(contentsOfFile: "\(root)/state/environments/\(name)", encoding: .utf8)
    }

    @Test func putPatchGetAndTheFilesUnitsRead() async throws {
        try await withApp { client, _ in
            // geard's body.
            let geard = ByteBuffer(string: #"{"env":[{"name":"DB","value":"postgres://db/1"},{"name":"MODE","value":"a $b \"c\" \\ `d`"}]}"#)
            try await client.execute(uri: "/environment/shared", method: .put, body: geard) { response in
                #expect(response.status == .ok)
                let environment = try Self.decode(response)
                #expect(environment.variables.map(\.name) == ["DB", "MODE"])
                #expect(environment.usedBy.isEmpty)
            }
            #expect(file("shared.env") == "DB=\"postgres://db/1\"\nMODE=\"a \\$b \\\"c\\\" \\\\ \\`d\\`\"\n")
            #expect(file("shared.podman.env") == "DB=postgres://db/1\nMODE=a $b \"c\" \\ `d`\n")
            // PATCH: set one, add one, remove one; a name given twice keeps the last value.
            let patch = ByteBuffer(string: #"{"DB":"postgres://db/2","NEW":"x","MODE":null}"#)
            try await client.execute(uri: "/environment/shared", method: .patch, body: patch) { response in
                let environment = try Self.decode(response)
                #expect(
                    environment.variables == [
                        EnvironmentVariable(name: "DB", value: "postgres://db/2"), EnvironmentVariable(name: "NEW", value: "x"),
                    ])
            }
            try await client.execute(uri: "/environment/shared", method: .patch, body: ByteBuffer(string: "# a file\nNEW=y\n\nNEW=z\r\nEMPTY=\n")) {
                response in
                let environment = try Self.decode(response)
                #expect(environment.variables.map { "\($0.name)=\($0.value)" } == ["DB=postgres://db/2", "EMPTY=", "NEW=z"])
            }
            try await client.execute(uri: "/environment/shared", method: .get, headers: [.accept: "text/plain"]) { response in
                #expect(String(buffer: response.body) == "DB=postgres://db/2\nEMPTY=\nNEW=z\n")
            }
            // PUT replaces.
            try await client.execute(uri: "/environment/shared", method: .put, body: ByteBuffer(string: #"["ONLY=1"]"#)) { response in
                let environment = try Self.decode(response)
                #expect(environment.variables == [EnvironmentVariable(name: "ONLY", value: "1")])
            }
            #expect(file("shared.env") == "ONLY=\"1\"\n")
            try await client.execute(uri: "/environments", method: .get) { response in
                let list = try GearJSON.decoder().decode(SharedEnvironmentList.self, from: Data(response.body.readableBytesView))
                #expect(list.environments.map(\.id) == ["shared"])
            }
        }
        // Another agent on the same state reads them back.
        let again = try await makeTestAgent(root: root, systemd: systemd)
        #expect(try await again.environment(EnvironmentID("shared")).variables == [EnvironmentVariable(name: "ONLY", value: "1")])
    }

    @Test func containersUseItAndItCannotBeRemovedUnderThem() async throws {
        try await withApp { client, agent in
            try await client.execute(uri: "/environment/shared", method: .put, body: ByteBuffer(string: "A=1")) { #expect($0.status == .ok) }
            let install = ByteBuffer(string: #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"EnvironmentId":"shared","Environment":{"B":"2"}}"#)
            try await client.execute(uri: "/container/web?wait=10", method: .put, body: install) { #expect($0.status == .ok) }
            let unit = try String(contentsOfFile: "\(root)/state/units/ctr-web.service", encoding: .utf8)
            #expect(unit.contains("EnvironmentFile=\(root)/state/environments/shared.env\nEnvironmentFile=\(root)/state/env/web.env\n"))
            try await client.execute(uri: "/environment/shared", method: .patch, body: ByteBuffer(string: "A=3")) { response in
                let environment = try Self.decode(response)
                #expect(environment.usedBy == ["web"])
            }
            try await client.execute(uri: "/environment/shared", method: .delete) { response in
                #expect(response.status == .conflict)
                #expect(String(buffer: response.body).contains("used by web"))
            }
            #expect(file("shared.json") != nil)
            try await client.execute(uri: "/container/web?wait=10", method: .delete) { #expect($0.status == .ok) }
            try await client.execute(uri: "/environment/shared", method: .delete) { #expect($0.status == .noContent) }
            #expect(file("shared.json") == nil && file("shared.env") == nil && file("shared.podman.env") == nil)
            try await client.execute(uri: "/environment/shared", method: .get) { #expect($0.status == .notFound) }
            // An install naming an environment that does not exist is refused, and nothing is queued.
            let jobs = await agent.jobs().count
            try await client.execute(uri: "/container/web2", method: .put, body: install) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("no environment shared"))
            }
            #expect(await agent.jobs().count == jobs)
        }
    }

    @Test(arguments: [
        ("/environment/..", "A=1", "invalid_id"), ("/environment/a%20b", "A=1", "invalid_id"),
        ("/environment/\(String(repeating: "x", count: 65))", "A=1", "invalid_id"),
        ("/environment/e", "1A=x", "invalid_request"), ("/environment/e", #"{"A B":"x"}"#, "invalid_request"),
        ("/environment/e", #"{"A":"x\nExecStartPre=/bin/evil"}"#, "invalid_request"), ("/environment/e", #"{"A":"x\u0000"}"#, "invalid_request"),
        ("/environment/e", "no equals sign", "invalid_request"), ("/environment/e", #"{"A":null}"#, "invalid_request"),
        ("/environment/e", #"{"A":1}"#, "invalid_request"), ("/environment/e", "", "invalid_request"), ("/environment/e", "{", "invalid_request"),
    ])
    func badPutsAreRefusedAndChangeNothing(_ uri: String, _ body: String, _ code: String) async throws {
        try await withApp { client, _ in
            try await client.execute(uri: uri, method: .put, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .badRequest)
                let error = try JSONDecoder().decode(APIError.self, from: Data(response.body.readableBytesView))
                #expect(error.error == code, "\(error.message)")
            }
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(root)/state/environments")) ?? []).isEmpty)
        }
    }

    @Test func anOversizedBodyIs413() async throws {
        try await withApp { client, _ in
            let big = ByteBuffer(string: "A=" + String(repeating: "x", count: 2 << 20))
            try await client.execute(uri: "/environment/e", method: .put, body: big) { #expect($0.status == .contentTooLarge) }
        }
    }
}

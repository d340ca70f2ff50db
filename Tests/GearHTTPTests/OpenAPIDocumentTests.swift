import Foundation
import GearAuthorization
import GearCore
import GearTestSupport
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import GearHTTP

/// docs/openapi.json tells the truth: it documents exactly the declared endpoints, with their operations, and geard
/// serves it as it is.
@Suite struct OpenAPIDocumentTests {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.json")

    func endpoints() throws -> [Endpoint] {
        let root = NSTemporaryDirectory() + "gear-openapi-\(UUID().uuidString)"
        let agent = NodeAgent(
            configuration: AgentConfiguration(layout: try StateLayout(root: root)), systemd: MemorySystemd(unitDirectory: root),
            logger: Logger(label: "test"))
        return GearHTTPServer.makeRoutes(agent: agent).endpoints
    }

    /// Each operation of the document is a declared endpoint, each endpoint is in the document, and its
    /// `x-gear-operation` is the operation the endpoint is authorized as: adding a route without its document
    /// entry (or the reverse) fails here.
    @Test func theDocumentDeclaresExactlyTheEndpointsWithTheirOperations() throws {
        let document = try JSONValue.parse(Data(contentsOf: Self.file))
        guard case .object(let paths) = document["paths"] else { Issue.record("no paths"); return }
        var documented: [String: String] = [:]
        for (path, item) in paths {
            guard case .object(let operations) = item else { continue }
            for (method, operation) in operations where method != "parameters" {
                documented["\(method.uppercased()) \(path)"] = operation["x-gear-operation"]?.string ?? "(none)"
            }
        }
        let declared = Dictionary(uniqueKeysWithValues: try endpoints().map { ($0.description, $0.operation.rawValue) })
        #expect(documented == declared)
    }

    /// geard serves docs/openapi.json byte for byte (the EmbedOpenAPI plugin embeds it at build time).
    @Test func theServedDocumentIsTheFile() async throws {
        let root = NSTemporaryDirectory() + "gear-openapi-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/systemd", withIntermediateDirectories: true)
        let agent = try await makeTestAgent(root: root, systemd: MemorySystemd(unitDirectory: root + "/systemd"))
        let app = Application(responder: CallerResponder(caller: .local(listener: "test"), router: GearHTTPServer.makeRouter(agent: agent)))
        let file = try Data(contentsOf: Self.file)
        try await app.test(.router) { client in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.headers[.contentType] == "application/json")
                #expect(Data(response.body.readableBytesView) == file)
            }
        }
    }
}

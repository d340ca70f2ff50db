import Foundation
import GearAuthorization
import GearCore
import GearTestSupport
import HTTPTypes
import Hummingbird
import Logging
import Testing

@testable import GearHTTP

/// docs/openapi.json tells the truth: it documents exactly the routes the router serves.
@Suite struct OpenAPIDocumentTests {
    @Test func theDocumentListsExactlyTheRoutes() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.json")
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any]
        let paths = try #require(document?["paths"] as? [String: [String: Any]])
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head"]
        let documented = Set(paths.flatMap { path, operations in operations.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" } })

        let root = NSTemporaryDirectory() + "gear-openapi-\(UUID().uuidString)"
        let agent = NodeAgent(
            configuration: AgentConfiguration(layout: try StateLayout(root: root)), systemd: MemorySystemd(unitDirectory: root),
            logger: Logger(label: "test"))
        let served = Set(
            GearHTTPServer.makeRouter(agent: agent).routes.map { route in
                let path = "\(route.path)".split(separator: "/").map {
                    $0.hasPrefix(":") ? "{\($0.dropFirst())}" : $0 == "**" ? "{path}" : String($0)
                }.joined(separator: "/")
                return "\(route.method.rawValue) /\(path)"
            })
        #expect(documented == served)
    }

    /// geard serves docs/openapi.json as it is (`make openapi` embeds it).
    @Test func theServedDocumentIsTheFile() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.json")
        #expect(try String(contentsOf: file, encoding: .utf8) == OpenAPIDocument.json + "\n", "run make openapi")
    }

    /// Each operation's `x-gear-operation` is the operation authorization uses for its route.
    @Test func theDocumentNamesEachRoutesOperation() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.json")
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any]
        let paths = try #require(document?["paths"] as? [String: [String: Any]])
        for (path, operations) in paths {
            for (method, value) in operations {
                guard let operation = value as? [String: Any], let name = HTTPRequest.Method(method.uppercased()) else { continue }
                let documented = operation["x-gear-operation"] as? String
                let routed = path.replacingOccurrences(of: "{path}", with: "**")
                #expect(documented == Operation.of(method: name, path: routed)?.rawValue, "\(method) \(path)")
            }
        }
    }
}

import GearAPI
import GearAuthorization
import GearCore
import Hummingbird
import NIOCore

/// `/node`, `/healthz`, `/readyz`: the node's capacity and geard's health, for schedulers and supervisors; and
/// `/openapi.json`, the API's description.
struct NodeRoutes {
    let agent: NodeAgent

    func register(on routes: EndpointRegistrar) {
        routes.on(.get, "/node", .nodeRead, use: node)
        routes.on(.get, "/healthz", .nodeRead, use: healthz)
        routes.on(.get, "/readyz", .nodeRead, use: readyz)
        routes.on(.get, "/openapi.json", .nodeRead, use: openAPI)
    }

    @Sendable func openAPI(_ request: Request, context: GearRequestContext) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.bytes)))
    }

    @Sendable func node(_ request: Request, context: GearRequestContext) async throws -> Response {
        var writer = JSONWriter(capacity: 1024)
        try await agent.nodeInfo().write(to: &writer)
        return JSONResponse.json(writer)
    }

    /// 200 when every check passes, else 503 with the report (and `Retry-After`).
    @Sendable func healthz(_ request: Request, context: GearRequestContext) async throws -> Response {
        Self.report(await agent.health())
    }

    @Sendable func readyz(_ request: Request, context: GearRequestContext) async throws -> Response {
        Self.report(await agent.readiness())
    }

    static func report(_ report: HealthReport) -> Response {
        report.ok ? JSONResponse.make(report) : JSONResponse.make(report, status: .serviceUnavailable, headers: [.retryAfter: "5"])
    }
}

import Foundation
import GearAPI
import GearAuthorization
import GearCore
import Hummingbird

/// `/lease/{name}`: named leases on this node, which clients use to keep from stepping on each other (gear deploy
/// holds `deploy.{deployment}` on every host while it deploys).
struct LeaseRoutes {
    let agent: NodeAgent

    func register(on routes: EndpointRegistrar) {
        routes.on(.get, "/lease/{name}", .nodeRead, use: get)
        routes.on(.put, "/lease/{name}", .containerInstall, use: acquire)
        routes.on(.delete, "/lease/{name}", .containerInstall, use: release)
    }

    @Sendable func get(_ request: Request, context: GearRequestContext) async throws -> Response {
        JSONResponse.make(try agent.leases.current(context.pathParameter("name")))
    }

    /// 200 with the lease when it was free, expired or the caller's (renewed); 409 when another holder has it.
    @Sendable func acquire(_ request: Request, context: GearRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: 4096)
        guard body.readableBytes > 0 else { throw GearError(.invalidRequest, "a JSON body is required: {\"Holder\":..,\"Seconds\":..}") }
        let lease = try GearJSON.decoder().decode(LeaseRequest.self, from: Data(body.readableBytesView))
        return JSONResponse.make(try agent.leases.acquire(context.pathParameter("name"), holder: lease.holder, seconds: lease.seconds))
    }

    /// 204 (also when the lease is free already); 409 when another holder has it.
    @Sendable func release(_ request: Request, context: GearRequestContext) async throws -> Response {
        guard let holder = request.uri.queryParameters.get("holder"), !holder.isEmpty else {
            throw GearError(.invalidRequest, "?holder= names who lets the lease go")
        }
        try agent.leases.release(context.pathParameter("name"), holder: holder)
        return Response(status: .noContent)
    }
}

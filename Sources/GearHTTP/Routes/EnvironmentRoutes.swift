import Foundation
import GearAPI
import GearAuthorization
import GearCore
import Hummingbird
import NIOCore

/// `/environment/{id}` and `/environments`: named environments (geard's environment files) that containers use
/// with `EnvironmentId`.
struct EnvironmentRoutes {
    let agent: NodeAgent

    func register(on routes: EndpointRegistrar) {
        routes.on(.get, "/environments", .environmentRead, use: list)
        routes.on(.get, "/environment/{id}", .environmentRead, target: .environment, use: get)
        routes.on(.put, "/environment/{id}", .environmentWrite, target: .environment, use: put)
        routes.on(.patch, "/environment/{id}", .environmentWrite, target: .environment, use: patch)
        routes.on(.delete, "/environment/{id}", .environmentWrite, target: .environment, use: delete)
    }

    private func environmentID(_ context: GearRequestContext) throws -> EnvironmentID {
        try EnvironmentID(context.pathParameter("id"))
    }

    @Sendable func list(_ request: Request, context: GearRequestContext) async throws -> Response {
        var environments = await agent.environments()
        environments = context.authorization.filter(environments) { $0.id }
        return JSONResponse.make(SharedEnvironmentList(environments: environments))
    }

    @Sendable func get(_ request: Request, context: GearRequestContext) async throws -> Response {
        let environment = try await agent.environment(try environmentID(context))
        if context.geard { return JSONResponse.text(GeardDialect.environment(environment), status: .accepted) }
        return Self.answer(environment, request)
    }

    @Sendable func put(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try environmentID(context)
        let change = try await Self.change(request, context)
        let environment = try await agent.putEnvironment(id, change)
        return context.geard ? Response(status: .noContent) : Self.answer(environment, request)
    }

    @Sendable func patch(_ request: Request, context: GearRequestContext) async throws -> Response {
        let id = try environmentID(context)
        let change = try await Self.change(request, context)
        let environment = try await agent.patchEnvironment(id, change)
        return context.geard ? Response(status: .noContent) : Self.answer(environment, request)
    }

    @Sendable func delete(_ request: Request, context: GearRequestContext) async throws -> Response {
        try await agent.deleteEnvironment(try environmentID(context))
        return Response(status: .noContent)
    }

    /// The body as JSON or as `KEY=VALUE` lines (at most 1 MiB, like every JSON body).
    static func change(_ request: Request, _ context: GearRequestContext) async throws -> EnvironmentChange {
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        guard body.readableBytes > 0 else {
            throw GearError(
                .invalidRequest, "a body is required: {\"KEY\":\"VALUE\"}, geard's {\"env\":[{\"name\":..,\"value\":..}]}, or KEY=VALUE lines")
        }
        do {
            return try EnvironmentChange.parse(Array(body.readableBytesView))
        } catch let error as EnvironmentBodyError {
            throw GearError(.invalidRequest, error.description)
        }
    }

    /// JSON, or the variables as an environment file for `Accept: text/plain` / `?format=text`.
    static func answer(_ environment: SharedEnvironment, _ request: Request) -> Response {
        JSONResponse.wantsText(request) ? JSONResponse.text(environment.text) : JSONResponse.make(environment)
    }
}

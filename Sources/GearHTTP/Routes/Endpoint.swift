import GearAPI
import GearAuthorization
import HTTPTypes
import Hummingbird

/// One operation of the HTTP API, declared once, beside its handler: the method, the path as the OpenAPI document
/// writes it, the operation the authorizer decides on, and what it acts on. The authorization of a route, the
/// table of operations (`GearHTTPServer.endpoints`) and the check of `docs/openapi.json` all come from these
/// declarations (`EndpointRegistrar`).
struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// What an endpoint's operation acts on: how the authorizer's container patterns apply to it.
    enum Target: Sendable, Hashable {
        /// The node, or a list whose answer is filtered by the caller's scope.
        case node
        /// The container of the `{id}` path parameter.
        case container
        /// The named environment of the `{id}` path parameter (grants' patterns match environment ids alike).
        case environment
    }

    let method: HTTPRequest.Method
    /// The path as the OpenAPI document writes it: `/container/{id}`; `{path}` last takes the rest of the path.
    let path: String
    let operation: GearAuthorization.Operation
    let target: Target

    var description: String { "\(method.rawValue) \(path)" }

    /// Hummingbird's pattern for the path: `{name}` is `:name`, a last `{path}` is `**`.
    var routerPath: RouterPath {
        let components = path.split(separator: "/").map { component -> String in
            guard component.hasPrefix("{"), component.hasSuffix("}") else { return String(component) }
            let name = component.dropFirst().dropLast()
            return name == "path" ? "**" : ":\(name)"
        }
        return RouterPath("/" + components.joined(separator: "/"))
    }
}

/// Where route groups add their routes: the only way they have to add one, so that no route exists without its
/// operation. Each handler runs once the `Authorizer` allowed the endpoint's operation for the request's caller (so
/// a refused request has read no body and queued no job), with what it allowed in `context.authorization`.
/// Requests that match no route are only authenticated (`AuthorizationMiddleware`).
final class EndpointRegistrar {
    typealias Handler = @Sendable (Request, GearRequestContext) async throws -> Response

    private let router: Router<GearRequestContext>
    private let authorizer: Authorizer
    /// Every endpoint added, in order.
    private(set) var endpoints: [Endpoint] = []

    init(router: Router<GearRequestContext>, authorizer: Authorizer) {
        self.router = router
        self.authorizer = authorizer
    }

    /// Adds the route of `endpoint`, authorized before `handler` runs.
    func on(_ endpoint: Endpoint, use handler: @escaping Handler) {
        precondition(!endpoints.contains { $0.method == endpoint.method && $0.path == endpoint.path }, "\(endpoint) is declared twice")
        endpoints.append(endpoint)
        let authorizer = self.authorizer
        router.on(endpoint.routerPath, method: endpoint.method) { request, context in
            if let carried = context.carried, carried.operation != endpoint.operation {
                throw GearError(
                    .invalidRequest, "\(endpoint) is \(endpoint.operation), not \(carried.operation) as the \(carried.transport) request says")
            }
            guard case .local = context.caller else {
                var context = context
                context.authorization = try await authorizer.authorize(Self.question(endpoint, request, context))
                return try await handler(request, context)
            }
            return try await handler(request, context)
        }
    }

    /// Adds `method path`, the operation `operation` on `target`.
    func on(
        _ method: HTTPRequest.Method, _ path: String, _ operation: GearAuthorization.Operation, target: Endpoint.Target = .node,
        use handler: @escaping Handler
    ) {
        on(Endpoint(method: method, path: path, operation: operation, target: target), use: handler)
    }

    /// What the authorizer is asked for a request of `endpoint`.
    static func question(_ endpoint: Endpoint, _ request: Request, _ context: GearRequestContext) -> AccessRequest {
        let target: String? =
            switch endpoint.target {
            case .node: nil
            case .container, .environment: context.pathParameter("id")
            }
        return AccessRequest(
            caller: context.caller, operation: endpoint.operation, target: target, token: AuthorizationMiddleware.bearerToken(request),
            requestID: context.requestID.rawValue,
            origin: RequestOrigin(transport: context.carried?.transport ?? "http", request: "\(request.method.rawValue) \(request.uri.path)")
        )
    }
}

import GearAPI
import GearCertificates
import GearCore
import HTTPTypes
import Hummingbird

/// Decides every request from a certificate caller before its handler runs, so a refused request has read no
/// body and queued no job: 401 without a valid identity, 403 when the identity may not do this (to this
/// container). Runs after route matching (the route's pattern names the operation, `:id` the container) and
/// fails closed on a route that names no operation. Callers of trusted local listeners pass through.
struct AuthorizationMiddleware: RouterMiddleware {
    typealias Context = GearRequestContext

    let policy: PolicyStore
    let audit: any AuditSink

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let identity: PeerIdentity
        switch context.caller {
        case .local:
            return try await next(request, context)
        case .unauthenticated:
            throw AuthorizationError.unauthenticated("a verified client certificate is required")
        case .rejected(let peer, let reason):
            record(peer, operation: nil, container: nil, allowed: false, reason: reason, roles: [], request: request, context: context)
            throw AuthorizationError.unauthenticated(reason)
        case .certificate(let peer):
            identity = peer
        }
        guard let path = context.endpointPath else {
            // No route matched: the not-found answer tells nothing a caller may not know.
            return try await next(request, context)
        }
        let access = policy.policy.access(for: identity)
        guard let operation = Operation.of(method: request.method, path: path) else {
            record(
                identity, operation: nil, container: nil, allowed: false, reason: "route has no operation", roles: access.roles, request: request,
                context: context)
            throw AuthorizationError.forbidden("\(request.method) \(path) is not open to certificate callers")
        }
        let container = path.hasPrefix("/container/{id}") ? context.parameters.get("id") : nil
        guard access.allows(operation, container: container) else {
            let reason: String
            if access.entries.isEmpty {
                reason = "\(identity) has no role"
            } else if let container, access.scope(of: operation) != .none {
                reason = "\(operation) on \(container) is outside what \(access.roles.joined(separator: ", ")) allows"
            } else {
                reason = "\(access.roles.joined(separator: ", ")) may not \(operation)"
            }
            record(
                identity, operation: operation, container: container, allowed: false, reason: reason, roles: access.roles, request: request,
                context: context)
            throw AuthorizationError.forbidden("\(identity): \(reason)")
        }
        record(
            identity, operation: operation, container: container, allowed: true, reason: "granted", roles: access.roles, request: request,
            context: context)
        var context = context
        context.containerScope = access.scope(of: operation)
        return try await next(request, context)
    }

    private func record(
        _ identity: PeerIdentity, operation: Operation?, container: String?, allowed: Bool, reason: String, roles: [String], request: Request,
        context: Context
    ) {
        audit.record(
            AuditRecord(
                identity: identity.description, fingerprint: identity.fingerprint, operation: operation?.rawValue ?? "-", container: container,
                requestID: context.requestID.rawValue, allowed: allowed, reason: reason, roles: roles, method: request.method.rawValue,
                path: request.uri.path))
    }
}

/// A refusal: 401 (no valid identity) or 403 (not allowed).
enum AuthorizationError: Error {
    case unauthenticated(String)
    case forbidden(String)
}

import Foundation
import GearAPI
import GearCertificates
import GearCore
import HTTPTypes
import Hummingbird

/// Decides every request from a certificate caller before its handler runs, so a refused request has read no
/// body and queued no job: 401 without a valid identity (or with a bad delegation token), 403 when the identity
/// may not do this (to this container). Runs after route matching (the route's pattern names the operation, `:id`
/// the container) and fails closed on a route that names no operation. Callers of trusted local listeners pass
/// through.
struct AuthorizationMiddleware: RouterMiddleware {
    typealias Context = GearRequestContext

    let policy: PolicyStore
    let audit: any AuditSink
    let delegation: DelegationVerifier?
    var level: AuditLevel = .all

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let identity: PeerIdentity
        switch context.caller {
        case .local:
            return try await next(request, context)
        case .unauthenticated:
            throw AuthorizationError.unauthenticated("a verified client certificate is required")
        case .rejected(let peer, let reason):
            record(Decision(identity: peer.description, fingerprint: peer.fingerprint, allowed: false, reason: reason), request, context)
            throw AuthorizationError.unauthenticated(reason)
        case .certificate(let peer):
            identity = peer
        }
        guard let path = context.endpointPath else {
            // No route matched: the not-found answer tells nothing a caller may not know.
            return try await next(request, context)
        }
        let operation = Operation.of(method: request.method, path: path)
        // The container (or named environment: grants' patterns match its id alike) the request acts on.
        let container = path.hasPrefix("/container/{id}") || path.hasPrefix("/environment/{id}") ? context.parameters.get("id") : nil
        var decision = Decision(identity: identity.description, fingerprint: identity.fingerprint, operation: operation, container: container)

        var access: Access
        var token: DelegationToken.Claims?
        if let bearer = Self.bearerToken(request) {
            guard let delegation, identity.unixUser == nil else {
                decision.reason = identity.unixUser == nil ? "this node accepts no delegation tokens" : "delegation tokens are presented over HTTPS"
                record(decision, request, context)
                throw AuthorizationError.unauthenticated(decision.reason)
            }
            do {
                let verified = try await delegation.verify(bearer, holder: identity, policy: policy.policy)
                access = verified.access
                token = verified.claims
                decision.identity = "\(identity) with token \(verified.claims.jti) from \(verified.issuer)"
            } catch {
                decision.reason = "\(error.message)"
                record(decision, request, context)
                throw error
            }
        } else {
            access = policy.policy.access(for: identity)
        }
        decision.roles = access.roles
        guard let operation else {
            decision.reason = "the route has no operation"
            record(decision, request, context)
            throw AuthorizationError.forbidden("\(request.method) \(path) is not open to certificate callers")
        }
        guard access.allows(operation, container: container) else {
            if access.entries.isEmpty {
                decision.reason = "\(identity) has no role"
            } else if let container, !access.scope(of: operation).isEmpty {
                decision.reason = "\(operation) on \(container) is outside what \(access.roles.joined(separator: ", ")) allows"
            } else {
                decision.reason = "\(access.roles.joined(separator: ", ")) may not \(operation)"
            }
            record(decision, request, context)
            throw AuthorizationError.forbidden("\(identity): \(decision.reason)")
        }
        if let token, let delegation {
            do {
                try delegation.consume(token)
            } catch {
                decision.reason = "\(error)"
                record(decision, request, context)
                throw error
            }
        }
        decision.allowed = true
        decision.reason = token == nil ? "granted" : "granted by token"
        record(decision, request, context)
        var context = context
        context.containerScope = access.scope(of: operation)
        return try await next(request, context)
    }

    /// The token of `Authorization: Bearer TOKEN`.
    static func bearerToken(_ request: Request) -> String? {
        guard let value = request.headers[.authorization] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }

    /// What the audit trail records of one decision.
    struct Decision {
        var identity: String
        var fingerprint: String
        var operation: Operation? = nil
        var container: String? = nil
        var allowed = false
        var reason = ""
        var roles: [String] = []
    }

    private func record(_ decision: Decision, _ request: Request, _ context: Context) {
        guard level.records(allowed: decision.allowed, operation: decision.operation) else { return }
        audit.record(
            AuditRecord(
                identity: decision.identity, fingerprint: decision.fingerprint, operation: decision.operation?.rawValue ?? "-",
                container: decision.container, requestID: context.requestID.rawValue, allowed: decision.allowed, reason: decision.reason,
                roles: decision.roles, method: request.method.rawValue, path: request.uri.path))
    }
}

/// A refusal: 401 (no valid identity) or 403 (not allowed).
enum AuthorizationError: Error, CustomStringConvertible {
    case unauthenticated(String)
    case forbidden(String)

    var message: String {
        switch self {
        case .unauthenticated(let message), .forbidden(let message): message
        }
    }

    var description: String { message }
}

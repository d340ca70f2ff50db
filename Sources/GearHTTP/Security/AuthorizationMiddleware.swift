import Foundation
import GearAuthorization
import GearCore
import HTTPTypes
import Hummingbird

/// Asks the `Authorizer` about every request before its handler runs, so a refused request has read no body and
/// queued no job. Runs after route matching: the route's pattern names the operation (`Operation.route`), `:id`
/// the container; a route that names no operation is refused to certificate callers. The allowed scope goes into
/// the context, for the handlers' lists.
struct AuthorizationMiddleware: RouterMiddleware {
    typealias Context = GearRequestContext

    let authorizer: Authorizer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if case .local = context.caller { return try await next(request, context) }
        var question = AccessRequest(
            caller: context.caller, operation: nil, token: Self.bearerToken(request), requestID: context.requestID.rawValue,
            method: request.method.rawValue, path: request.uri.path)
        guard let path = context.endpointPath else {
            // No route matched: the not-found answer tells nothing a caller with an identity may not know.
            try authorizer.authenticate(question)
            return try await next(request, context)
        }
        question.operation = Operation.of(method: request.method, path: path)
        question.container = path.hasPrefix("/container/{id}") || path.hasPrefix("/environment/{id}") ? context.parameters.get("id") : nil
        var context = context
        context.authorization = try await authorizer.authorize(question)
        return try await next(request, context)
    }

    /// The token of `Authorization: Bearer TOKEN`.
    static func bearerToken(_ request: Request) -> String? {
        guard let value = request.headers[.authorization] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }
}

import Foundation
import GearAPI
import GearAuthorization
import HTTPTypes
import Hummingbird

/// Authenticates the requests that match no route before they are told so: the not-found answer tells nothing a
/// caller with an identity may not know, and nothing to anyone else. Matched routes are authorized by their own
/// endpoint's declaration (`EndpointRegistrar`), which is the only way a route is added, so that there is no route
/// without an operation to decide on.
struct AuthorizationMiddleware: RouterMiddleware {
    typealias Context = GearRequestContext

    let authorizer: Authorizer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if case .local = context.caller { return try await next(request, context) }
        if context.endpointPath == nil {
            try authorizer.authenticate(
                AccessRequest(
                    caller: context.caller, operation: nil, token: Self.bearerToken(request), requestID: context.requestID.rawValue,
                    origin: RequestOrigin(transport: "http", request: "\(request.method.rawValue) \(request.uri.path)")))
        }
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

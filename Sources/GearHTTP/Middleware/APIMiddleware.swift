import GearAPI
import GearCore
import HTTPTypes
import Hummingbird
import Logging

/// Wraps every route: reads and checks `X-Request-Id` and the dialect (`X-Api-Version: 1` is geard's protocol),
/// turns any thrown error into a JSON error answer (geard's `{"Message":..}` form in its dialect), and echoes the
/// request id on every answer.
struct APIMiddleware: RouterMiddleware {
    typealias Context = GearRequestContext

    static let requestIDField = HTTPField.Name(GearAPI.requestIDHeader)!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        var response: Response
        // A request that names any API version is answered in geard's form, its refusal of a wrong version too.
        context.geard = request.headers[GeardDialect.versionHeader] != nil
        do {
            try GeardDialect.checkVersion(request)
            if let supplied = request.headers[Self.requestIDField] {
                do {
                    context.requestID = try GearRequestID(supplied)
                } catch {
                    throw GearError(error.code, "\(GearAPI.requestIDHeader): \(error.message)")
                }
                context.clientRequestID = true
            }
            context.logger[metadataKey: "request.id"] = .string(context.requestID.rawValue)
            response = try await next(request, context)
        } catch {
            response =
                context.geard
                ? GeardDialect.failure(error, requestID: context.requestID.rawValue)
                : Self.errorResponse(error, requestID: context.requestID.rawValue)
            if response.status.code >= 500 {
                context.logger.error(
                    "request failed", metadata: ["http.method": "\(request.method)", "http.path": "\(request.uri.path)", "error": "\(error)"])
            }
        }
        response.headers[Self.requestIDField] = context.requestID.rawValue
        return response
    }

    /// The JSON answer for an error.
    static func errorResponse(_ error: any Error, requestID: String?) -> Response {
        let (status, body) = HTTPErrorMapping.apiError(for: error, requestID: requestID)
        var response = JSONResponse.make(body, status: status)
        response.headers.append(contentsOf: HTTPErrorMapping.headers(for: status))
        return response
    }
}

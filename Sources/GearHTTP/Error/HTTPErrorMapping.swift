import GearAPI
import GearAuthorization
import GearCore
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1

/// The one place where errors become HTTP responses: a status code and a JSON `APIError` body.
enum HTTPErrorMapping {
    /// The status code for an agent error code.
    static func status(for code: GearError.Code) -> HTTPResponse.Status {
        switch code {
        case .invalidID, .invalidRequest, .invalidRequestID, .digestMismatch: .badRequest
        case .forbidden: .forbidden
        case .conflict: .conflict
        case .tooLarge: .contentTooLarge
        case .rangeNotSatisfiable: .rangeNotSatisfiable
        case .notFound: .notFound
        case .portConflict, .portInUse, .portsExhausted, .requestIDConflict, .insufficientCapacity: .conflict
        case .queueFull, .shuttingDown, .systemdUnavailable: .serviceUnavailable
        case .unitFailed, .unhealthy: .unprocessableContent
        case .diskFull: HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")
        case .systemdError, .interrupted, .internal: .internalServerError
        case .canceled: .conflict
        }
    }

    /// The status code of a failed job's error code (as stored in the job).
    static func status(forJobError code: String) -> HTTPResponse.Status {
        GearError.Code(rawValue: code).map(status(for:)) ?? .internalServerError
    }

    /// The API error and status for any error thrown while handling a request.
    static func apiError(for error: any Error, requestID: String?) -> (HTTPResponse.Status, APIError) {
        switch error {
        case let error as GearError:
            return (status(for: error.code), APIError(error: error.code.rawValue, message: error.message, requestId: requestID))
        case AuthorizationError.unauthenticated(let message):
            return (.unauthorized, APIError(error: "unauthenticated", message: message, requestId: requestID))
        case AuthorizationError.forbidden(let message):
            return (.forbidden, APIError(error: "forbidden", message: message, requestId: requestID))
        case let error as UploadRateError:
            return (.requestTimeout, APIError(error: "upload_too_slow", message: error.description, requestId: requestID))
        case let error as StreamLimitError:
            return (.tooManyRequests, APIError(error: "too_many_streams", message: error.description, requestId: requestID))
        case let error as DecodingError:
            return (.badRequest, APIError(error: GearError.Code.invalidRequest.rawValue, message: error.fieldDescription, requestId: requestID))
        case let error as HTTPParserError:
            // A body that broke its framing mid-way (a bad chunk size): the connection is closed after this answer.
            let (status, message) = MalformedRequestHandler.answer(for: error)
            return (
                HTTPResponse.Status(code: Int(status.code)),
                APIError(error: GearError.Code.invalidRequest.rawValue, message: message, requestId: requestID)
            )
        case is NIOTooManyBytesError:
            return (
                .contentTooLarge,
                APIError(error: "too_large", message: "the request body is larger than \(GearAPI.maxJSONBodySize) bytes", requestId: requestID)
            )
        case let error as UpgradeRequired:
            return (.upgradeRequired, APIError(error: "upgrade_required", message: error.message, requestId: requestID))
        case let error as HTTPError:
            let code: String =
                switch error.status {
                case .notFound: "not_found"
                case .methodNotAllowed: "method_not_allowed"
                case .contentTooLarge: "too_large"
                case .badRequest: "invalid_request"
                default: "http_error"
                }
            let message = error.body ?? (error.status == .notFound ? "no such path" : error.status.reasonPhrase)
            return (error.status, APIError(error: code, message: message, requestId: requestID))
        default:
            return (.internalServerError, APIError(error: GearError.Code.internal.rawValue, message: "\(error)", requestId: requestID))
        }
    }

    /// Extra headers an error answer carries (`Retry-After` for a busy node).
    static func headers(for status: HTTPResponse.Status) -> HTTPFields {
        var fields = HTTPFields()
        if status == .serviceUnavailable || status == .tooManyRequests { fields[.retryAfter] = "1" }
        if status == .upgradeRequired {
            fields[.upgrade] = "websocket"
            fields[.connection] = "Upgrade"
        }
        return fields
    }
}

/// A request for what only a WebSocket serves, made without asking to upgrade: `426 Upgrade Required` with
/// `Upgrade: websocket` (RFC 9110), so that a client learns what to do instead of reading "bad request".
struct UpgradeRequired: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

import Foundation
import GearAPI
public import GearAuthorization
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOEmbedded

/// An API request another transport carries (the NATS bus): the same method, path and JSON body as over HTTPS, from
/// a caller that transport verified, for the operation it named (the bus's subject). It runs through the same routes,
/// authorization, job queue and JSON as a request on a listener, so each operation is declared once.
public struct CarriedRequest: Sendable {
    public var method: String
    /// The path with its query (`/container/web/started?wait=30`).
    public var path: String
    public var body: [UInt8]
    /// The request id (the job id of a mutation).
    public var requestID: String
    public var caller: Caller
    /// The operation the transport named; the request is refused unless its endpoint's operation is this one.
    public var operation: GearAuthorization.Operation
    /// The transport's name, for the audit trail (`nats`).
    public var transport: String

    public init(
        method: String, path: String, body: [UInt8], requestID: String, caller: Caller, operation: GearAuthorization.Operation, transport: String
    ) {
        self.method = method
        self.path = path
        self.body = body
        self.requestID = requestID
        self.caller = caller
        self.operation = operation
        self.transport = transport
    }
}

/// The answer to a carried request: its status and JSON body.
public struct CarriedAnswer: Sendable, Hashable {
    public var status: Int
    public var body: [UInt8]
}

extension GearHTTPServer {
    /// The operations another transport may carry: those answered at once or after a bounded wait, not streams (logs,
    /// events, exec, files, images, runs and metrics stay on HTTPS).
    public static let carriedOperations: Set<GearAuthorization.Operation> = [
        .containerInstall, .containerDelete, .containerStart, .containerStop, .containerRestart, .containerRead, .containerList,
        .nodeRead, .jobsRead, .jobsCancel, .environmentRead, .environmentWrite,
    ]

    /// Answers a carried request, its answer at most `maxAnswer` bytes (what the transport can carry).
    public func answer(_ carried: CarriedRequest, maxAnswer: Int) async -> CarriedAnswer {
        func refusal(_ code: GearError.Code, _ message: String) -> CarriedAnswer {
            let body = APIError(error: code.rawValue, message: message, requestId: carried.requestID)
            return CarriedAnswer(
                status: Int(HTTPErrorMapping.status(for: code).code), body: (try? GearJSON.encoder().encode(body)).map(Array.init) ?? [])
        }
        guard Self.carriedOperations.contains(carried.operation) else {
            return refusal(.invalidRequest, "\(carried.operation) is not carried by \(carried.transport): use HTTPS")
        }
        guard let method = HTTPRequest.Method(carried.method), carried.path.hasPrefix("/") else {
            return refusal(.invalidRequest, "a method and a path starting with / are required")
        }
        var fields: HTTPFields = [.contentType: "application/json", .contentLength: String(carried.body.count)]
        fields[HTTPField.Name("X-Request-Id")!] = carried.requestID
        let request = Request(
            head: HTTPRequest(method: method, scheme: nil, authority: carried.transport, path: carried.path, headerFields: fields),
            body: RequestBody(buffer: ByteBuffer(bytes: carried.body)))
        // The context's connection is read by nothing a carried operation reaches (no peer credentials, no TLS).
        var context = GearRequestContext(source: .init(channel: EmbeddedChannel(), logger: logger))
        context.caller = carried.caller
        context.carried = (carried.operation, carried.transport)
        let response: Response
        do {
            response = try await StreamAdmission.$current.withValue(StreamAdmission(gate: streams, caller: carried.caller)) {
                try await routerResponder.respond(to: request, context: context)
            }
        } catch {
            response = APIMiddleware.errorResponse(error, requestID: carried.requestID)
        }
        let collector = AnswerCollector(limit: maxAnswer)
        do {
            try await response.body.write(collector)
        } catch {
            return refusal(.tooLarge, "the answer is larger than \(carried.transport) carries (\(maxAnswer) bytes): use HTTPS")
        }
        return CarriedAnswer(status: Int(response.status.code), body: collector.bytes)
    }
}

/// Collects an answer's body, up to a limit.
final class AnswerCollector: ResponseBodyWriter {
    let limit: Int
    var bytes: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    func write(_ buffer: ByteBuffer) async throws {
        guard bytes.count + buffer.readableBytes <= limit else { throw GearError(.tooLarge, "answer too large") }
        bytes += buffer.readableBytesView
    }

    func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

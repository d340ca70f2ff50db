import Foundation
import GearAPI
import NIOCore
import NIOHTTP1

/// Answers an HTTP/1 request that cannot be parsed as nginx does, instead of dropping the connection or letting the
/// route answer 500: `431 Request Header Fields Too Large` for a head past the decoder's limits (field count, list
/// or field size), `400 Bad Request` for anything else (a bad chunk size, both `Content-Length` and
/// `Transfer-Encoding`, a bad header token), with the JSON error body, `Connection: close`, and the connection closed.
///
/// Sits right after the request decoder. A malformed head reaches no route: the answer is written here. A body that
/// goes bad mid-way fails the request the route is reading (its error maps to 400, `HTTPErrorMapping`); once that
/// answer is written, the connection is closed, since nothing after the bad bytes can be trusted to be a request.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// A request's head was read and its end not yet: its route is running.
    private var inRequest = false
    /// The request in flight failed in its framing: close once its answer is written.
    private var closeAfterAnswer = false
    /// A request was read and its answer is not finished yet.
    private var answering = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            inRequest = true
            answering = true
        case .end: inRequest = false
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // The common case passes untouched: only an answer after a framing error is looked into.
        guard closeAfterAnswer || answering else { return context.write(data, promise: promise) }
        switch unwrapOutboundIn(data) {
        case .head(var head) where closeAfterAnswer:
            // The connection goes after this answer: the client is told.
            head.headers.replaceOrAdd(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end where closeAfterAnswer:
            let written = promise ?? context.eventLoop.makePromise()
            context.write(data, promise: written)
            written.futureResult.whenComplete { _ in Self.closeGently(context) }
        case .end:
            answering = false
            context.write(data, promise: promise)
        case .head, .body:
            context.write(data, promise: promise)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parse = error as? HTTPParserError else { return context.fireErrorCaught(error) }
        if inRequest || answering {
            // The route reading this request's body sees the error and answers it; then the connection goes.
            closeAfterAnswer = true
            return context.fireErrorCaught(error)
        }
        let (status, message) = Self.answer(for: parse)
        let body = Self.body(status: status, message: message)
        var headers = HTTPHeaders([
            ("Content-Type", "application/json"), ("Content-Length", String(body.readableBytes)), ("Connection", "close"),
            ("Cache-Control", "no-store"),
        ])
        headers.add(name: GearAPI.requestIDHeader, value: RequestID.random().rawValue)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in Self.closeGently(context) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client closed its side while the connection lingered: done.
        if closing, case ChannelEvent.inputClosed = event { context.close(promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }

    /// Set once the answer to a malformed request is out and the connection lingers.
    private var closing = false

    /// Closes the sending side, so that the client reads the answer and the end, and the connection when the client
    /// closes its side or after `linger`. Closing at once while the client still sends (the rest of 10,000 header
    /// lines) would reset the connection, and a reset discards the answer the client had not read yet (nginx's
    /// lingering close does the same). The decoder drops what still arrives.
    private static func closeGently(_ context: ChannelHandlerContext) {
        (context.handler as? MalformedRequestHandler)?.closing = true
        context.close(mode: .output).whenComplete { result in
            if case .failure = result { return context.close(promise: nil) }
            context.eventLoop.scheduleTask(in: linger) { context.close(promise: nil) }
        }
    }

    /// How long a connection whose request was malformed may linger.
    static let linger = TimeAmount.seconds(2)

    /// The status and message for a request that could not be parsed.
    static func answer(for error: HTTPParserError) -> (HTTPResponseStatus, String) {
        switch error {
        case .headerOverflow:
            (.requestHeaderFieldsTooLarge, "the request's head is too large: at most 1000 header fields of 80 KiB in all")
        default:
            (.badRequest, "malformed HTTP request: \(describe(error))")
        }
    }

    /// What went wrong, for the message.
    static func describe(_ error: HTTPParserError) -> String {
        switch error {
        case .invalidChunkSize: "invalid chunk size"
        case .unexpectedContentLength: "Content-Length with Transfer-Encoding"
        case .invalidContentLength: "invalid Content-Length"
        case .invalidHeaderToken: "invalid header field"
        case .invalidMethod: "invalid method"
        case .invalidURL: "invalid request target"
        case .invalidVersion: "invalid HTTP version"
        case .lfExpected, .invalidConstant, .invalidCharactersUsed: "invalid characters"
        // What the parser reports for the rest, Content-Length with Transfer-Encoding among them (a request
        // smuggler's tool).
        case .unknown: "it does not parse as HTTP/1.1 (Content-Length with Transfer-Encoding is one such request)"
        default: "\(error)"
        }
    }

    static func body(status: HTTPResponseStatus, message: String) -> ByteBuffer {
        let error = APIError(error: GearError.Code.invalidRequest.rawValue, message: message)
        return ByteBuffer(bytes: (try? GearJSON.encoder().encode(error)) ?? Data())
    }
}

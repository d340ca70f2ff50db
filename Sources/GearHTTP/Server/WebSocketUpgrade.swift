import Foundation
import GearAPI
import GearCore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import Synchronization

/// What runs on a connection once it became a WebSocket.
typealias WebSocketSession = @Sendable (NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, Logger) async -> Void

/// Where the route that answers an upgrade request leaves the session it accepted (a task local around the router,
/// set only while a listener decides an upgrade).
final class WebSocketSlot: Sendable {
    @TaskLocal static var current: WebSocketSlot?
    private let session = Mutex<WebSocketSession?>(nil)

    func accept(_ session: @escaping WebSocketSession) { self.session.withLock { $0 = session } }
    var accepted: WebSocketSession? { session.withLock { $0 } }
}

/// Answers a WebSocket upgrade request through the router (its routes, authorization, errors and request ids): the
/// response, and the session when the route accepted (101).
typealias WebSocketDecider = @Sendable (HTTPRequest, any Channel) async -> (Response, WebSocketSession?)

/// An HTTP/1.1 connection whose first request may upgrade it to a WebSocket (`NIOWebSocket`).
///
/// Hummingbird's `HTTP1WebSocketUpgradeChannel` answers a refused upgrade with a bare 400; here the upgrade request
/// goes through geard's router like any request, so that a refusal is the route's own answer (404 for an unknown
/// container, 403, 409, 400 with its JSON message) and an acceptance is authorized and audited as every call. A
/// connection whose first request is not an upgrade is geard's ordinary HTTP/1 connection (HTTP/1.0 keep-alive,
/// `Expect: 100-continue`, the header deadline); a later upgrade request on it is answered 400 by the route.
struct UpgradableHTTP1Channel: Sendable {
    enum Connection: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, Response)
        case webSocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, WebSocketSession)
    }

    /// The largest WebSocket message geard reads (frames and the fragments of one message alike).
    static let maxMessageSize = 1 << 20

    let http: HTTP1Channel
    let decide: WebSocketDecider
    let secure: Bool
    let headerTimeout: Duration?

    /// The connection's channel and what its first request made of it.
    struct Value: Sendable {
        let channel: any Channel
        let connection: EventLoopFuture<Connection>
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let refusal = NIOLockedValueBox<Response?>(nil)
            let accepted = NIOLockedValueBox<WebSocketSession?>(nil)
            let deadline = headerTimeout.map { RequestHeadDeadline(timeout: $0) }
            let deadlineHandlers = deadline.map { (RequestHeadDeadline.Bytes($0), RequestHeadDeadline.Parts($0)) }
            // HTTP/1's own: removed with the decoder when the connection becomes a WebSocket (it would read frames as
            // request parts).
            let malformed = MalformedRequestHandler()
            let decide = self.decide
            let secure = self.secure
            let upgrader = NIOTypedWebSocketServerUpgrader<Connection>(
                maxFrameSize: Self.maxMessageSize,
                shouldUpgrade: { channel, head in
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    promise.completeWithTask {
                        let response: Response
                        var session: WebSocketSession?
                        do {
                            (response, session) = await decide(try HTTPRequest(head, secure: secure, splitCookie: false), channel)
                        } catch {
                            response = APIMiddleware.errorResponse(
                                GearError(.invalidRequest, "the upgrade request is not valid HTTP: \(error)"), requestID: nil)
                        }
                        guard response.status == .switchingProtocols, let session else {
                            refusal.withLockedValue { $0 = response }
                            return nil
                        }
                        accepted.withLockedValue { $0 = session }
                        var headers = HTTPHeaders()
                        for field in response.headers where ![.connection, .upgrade, .contentLength].contains(field.name) {
                            headers.add(name: field.name.rawName, value: field.value)
                        }
                        return headers
                    }
                    return promise.futureResult
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        // The head deadline's handlers are done (and would not understand WebSocket frames).
                        if let (bytes, parts) = deadlineHandlers {
                            channel.pipeline.syncOperations.removeHandler(bytes, promise: nil)
                            channel.pipeline.syncOperations.removeHandler(parts, promise: nil)
                        }
                        channel.pipeline.syncOperations.removeHandler(malformed, promise: nil)
                        try channel.pipeline.syncOperations.addHandler(
                            NIOWebSocketFrameAggregator(
                                minNonFinalFragmentSize: 1, maxAccumulatedFrameCount: 256, maxAccumulatedFrameSize: Self.maxMessageSize))
                        let socket = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: false))
                        guard let session = accepted.withLockedValue({ $0 }) else { throw ChannelError.inappropriateOperationForState }
                        return .webSocket(socket, session)
                    }
                })
            let http = self.http
            let upgrade = NIOTypedHTTPServerUpgradeConfiguration<Connection>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(HTTP10KeepAliveHandler())
                        try sync.addHandler(ExpectContinueHandler())
                        try sync.addHandler(HTTP1ToHTTPServerCodec(secure: secure))
                        try sync.addHandlers(http.configuration.additionalChannelHandlers())
                        try sync.addHandler(
                            HTTPConnectionStateHandler(
                                idleTimeout: http.configuration.idleTimeout.map { .nanoseconds($0.nanoseconds) }, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        if let response = refusal.withLockedValue({ $0 }) { return .refused(asyncChannel, response) }
                        return .http(asyncChannel)
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgrade)
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            configuration.decoderConfiguration.maxHeaderFieldSize = http.configuration.httpDecoder.maxHeaderFieldSize
            configuration.decoderConfiguration.maxHeaderListSize = http.configuration.httpDecoder.maxHeaderListSize
            configuration.decoderConfiguration.maxHeaderFieldCount = http.configuration.httpDecoder.maxHeaderFieldCount
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            if let (bytes, parts) = deadlineHandlers {
                try channel.pipeline.syncOperations.addHandler(bytes, position: .before(decoder))
                try channel.pipeline.syncOperations.addHandler(parts, position: .after(decoder))
            }
            try channel.pipeline.syncOperations.addHandler(UpgradeGuard(), position: .after(decoder))
            try channel.pipeline.syncOperations.addHandler(malformed, position: .after(decoder))
            return Value(channel: channel, connection: result)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.connection.get() {
            case .http(let asyncChannel):
                await http.handleHTTP(asyncChannel: asyncChannel, logger: logger)
            case .refused(let asyncChannel, let response):
                await Self.refuse(asyncChannel, response, logger: logger)
            case .webSocket(let socket, let session):
                await session(socket, logger)
            }
        } catch {
            // An upgrade request NIO would not take (no Sec-WebSocket-Key, another version): answered and closed.
            logger.debug("HTTP/1 connection ended before its first request was served", metadata: ["error": "\(error)"])
            await Self.refuseMalformedUpgrade(value.channel, error)
        }
    }

    static func refuseMalformedUpgrade(_ channel: any Channel, _ error: any Error) async {
        guard channel.isActive else { return }
        let reason =
            (error as? NIOWebSocketUpgradeError) == .invalidUpgradeHeader
            ? "Sec-WebSocket-Key and Sec-WebSocket-Version: 13 are required" : "\(error)"

        let (status, body) = HTTPErrorMapping.apiError(for: GearError(.invalidRequest, "not a WebSocket upgrade: \(reason)"), requestID: nil)
        let bytes = (try? GearJSON.encoder().encode(body)) ?? Data()
        var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", String(bytes.count)), ("Connection", "close")])
        headers.add(name: "Cache-Control", value: "no-store")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: Int(status.code)), headers: headers)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil)
        try? await channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        try? await channel.close()
    }

    /// Answers a refused upgrade with the route's response, and closes: the client asked to leave HTTP, and
    /// what it sends next is not an HTTP request.
    static func refuse(_ asyncChannel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, _ response: Response, logger: Logger) async {
        do {
            // NIO does not hand on the declined upgrade request itself: only the answer is left to write.
            try await asyncChannel.executeThenClose { _, outbound in
                var head = response.head
                head.headerFields[.connection] = "close"
                var body = ByteBuffer()
                final class Collector: ResponseBodyWriter {
                    var buffer = ByteBuffer()
                    func write(_ buffer: ByteBuffer) async throws { self.buffer.writeImmutableBuffer(buffer) }
                    func finish(_ trailingHeaders: HTTPFields?) async throws {}
                }
                let collector = Collector()
                try await response.body.write(collector)
                body = collector.buffer
                head.headerFields[.contentLength] = String(body.readableBytes)
                try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
            }
        } catch {
            logger.debug("could not answer a refused upgrade", metadata: ["error": "\(error)"])
        }
    }
}

/// Lets only a complete WebSocket upgrade request reach NIO's upgrade handler. That handler drops a first request
/// that asks for an upgrade nobody takes (`Upgrade: h2c`, or `websocket` without `Sec-WebSocket-Key` and
/// `Sec-WebSocket-Version: 13`) instead of handing it on, and the client would wait for an answer forever: such a
/// request loses its `Upgrade` field (kept as `Gear-Declined-Upgrade` for the route's error) and is served as an
/// ordinary request (RFC 9110 lets a server ignore `Upgrade`).
final class UpgradeGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    static let declined = "gear-declined-upgrade"
    private var seenFirst = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Only the first request can upgrade.
        guard !seenFirst, case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        seenFirst = true
        let upgrade = head.headers["upgrade"]
        guard !upgrade.isEmpty else {
            context.fireChannelRead(data)
            return
        }
        let webSocket = upgrade.contains { $0.lowercased().split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == "websocket" } }
        if !(webSocket && !head.headers["sec-websocket-key"].isEmpty && head.headers["sec-websocket-version"] == ["13"]) {
            head.headers.remove(name: "upgrade")
            head.headers.add(name: Self.declined, value: upgrade.joined(separator: ", "))
        }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}

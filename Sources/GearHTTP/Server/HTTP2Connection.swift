import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP2
import NIOHTTPTypes
import NIOHTTPTypesHTTP2

/// HTTP/2 on a TLS connection, with flow-control windows sized for bulk uploads.
///
/// Hummingbird's `HTTP2Channel` builds NIOHTTP2 with its default 64 KiB windows and takes no setting for them, so a
/// client uploading over h2 stalled for a `WINDOW_UPDATE` every 64 KiB (0.4-0.7x nginx). Here a stream may have
/// 1 MiB and the connection 2 MiB in flight (0.8-1.2x; 4 MiB held more memory for no gain); each stream is served
/// by Hummingbird's own request loop (`HTTPChannelHandler.handleHTTP`), and `HTTP2ConnectionKeeper` does what the
/// connection needs around it: a `GOAWAY` when geard shuts down, a close when it has been idle too long.
struct HTTP2Connection: HTTPChannelHandler {
    typealias Stream = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>
    struct Value: ServerChildChannelValue {
        let multiplexer: NIOHTTP2Handler.AsyncStreamMultiplexer<Stream>
        let channel: any Channel
    }

    /// How many bytes a client may send on one stream, and on the connection, before it must wait for geard.
    static let streamWindow = 1 << 20
    static let connectionWindow = 2 << 20

    let responder: Responder
    /// A connection without open streams, and a stream without traffic, are closed after this long.
    let idleTimeout: Duration

    static var configuration: NIOHTTP2Handler.Configuration {
        var configuration = NIOHTTP2Handler.Configuration()
        configuration.connection.initialSettings = nioDefaultSettings + [HTTP2Setting(parameter: .initialWindowSize, value: streamWindow)]
        configuration.connection.targetWindowSize = connectionWindow
        configuration.stream.targetWindowSize = streamWindow
        return configuration
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let keeper = HTTP2ConnectionKeeper(idleTimeout: .nanoseconds(Int64(idleTimeout / .nanoseconds(1))))
            let multiplexer = try channel.pipeline.syncOperations.configureAsyncHTTP2Pipeline(
                mode: .server, streamDelegate: keeper.streams, configuration: Self.configuration
            ) { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTPServerCodec())
                    try stream.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
                    return try Stream(wrappingChannelSynchronously: stream)
                }
            }
            try channel.pipeline.syncOperations.addHandler(keeper)
            return Value(multiplexer: multiplexer, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            try await withThrowingDiscardingTaskGroup { streams in
                for try await stream in value.multiplexer.inbound {
                    streams.addTask { await self.handleHTTP(asyncChannel: stream, logger: logger) }
                }
            }
        } catch {
            logger.debug("HTTP/2 connection ended", metadata: ["error": "\(error)"])
        }
    }
}

/// The connection-level duties of an HTTP/2 server connection, on its event loop: on geard's shutdown (the
/// quiescing event) a `GOAWAY` naming the last stream it took, then a close once the open streams finished (at the
/// latest `goAwayGrace` later); the same when the client closes its side; a close after `idleTimeout` without an
/// open stream; and a close at once when NIOHTTP2 reports a flood (a peer past one of its limits on CONTINUATION,
/// RST_STREAM, control or empty DATA frames, glitches, header block size, or frames buffered for a reader that
/// does not read), or the `maxProtocolErrors`-th protocol error. NIOHTTP2 answers those with a `GOAWAY` but keeps
/// the connection, and goes on reading what the peer sends after it: a peer that ignores the `GOAWAY` and keeps
/// sending would make geard read and hold all of it.
///
/// `@unchecked Sendable`: NIOHTTP2's stream delegate (`Streams`) must be Sendable and holds the keeper, but every
/// call into it (handler callbacks, the delegate's stream events, the idle timer scheduled on `context.eventLoop`)
/// comes on the connection's one event loop, so its mutable state is only ever touched from that thread.
final class HTTP2ConnectionKeeper: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let idleTimeout: TimeAmount
    private var context: ChannelHandlerContext?
    private var open = 0
    private var lastStream = HTTP2StreamID.rootStream
    private var closing = false
    private var idleTimer: Scheduled<Void>?
    private var graceTimer: Scheduled<Void>?
    private var protocolErrors = 0

    /// How long open streams may go on after geard's own `GOAWAY`.
    static let goAwayGrace = TimeAmount.seconds(30)
    /// Protocol errors (a stream's or the connection's) a connection may cause before it is closed.
    static let maxProtocolErrors = 8

    init(idleTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
    }

    /// Told of every stream by NIOHTTP2 (on the event loop; `@unchecked Sendable` for the keeper's reason).
    struct Streams: NIOHTTP2StreamDelegate, @unchecked Sendable {
        let keeper: HTTP2ConnectionKeeper
        func streamCreated(_ id: HTTP2StreamID, channel: any Channel) { keeper.streamOpened(id) }
        func streamClosed(_ id: HTTP2StreamID, channel: any Channel) { keeper.streamClosed() }
    }

    var streams: Streams { Streams(keeper: self) }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        armIdleTimer()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        graceTimer?.cancel()
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if Self.isFlood(error) {
            context.close(promise: nil)
        } else if error is any NIOHTTP2Error {
            protocolErrors += 1
            if protocolErrors >= Self.maxProtocolErrors { context.close(promise: nil) }
        }
        context.fireErrorCaught(error)
    }

    /// The errors NIOHTTP2 raises when a peer exceeds one of its limits.
    static func isFlood(_ error: any Error) -> Bool {
        switch error {
        case is NIOHTTP2Errors.ExcessiveContinuationFrames, is NIOHTTP2Errors.ExcessiveRSTFrames, is NIOHTTP2Errors.ExcessiveControlFrames,
            is NIOHTTP2Errors.ExcessiveEmptyDataFrames, is NIOHTTP2Errors.ExcessiveNumberOfGlitches, is NIOHTTP2Errors.ExcessiveStreamErrors,
            is NIOHTTP2Errors.ExcessivelyLargeHeaderBlock, is NIOHTTP2Errors.ExcessiveOutboundFrameBuffering, is NIOHTTP2Errors.MaxStreamsViolation:
            true
        default:
            false
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelShouldQuiesceEvent: goAway()
        case let event as ChannelEvent where event == .inputClosed: goAway()
        default: context.fireUserInboundEventTriggered(event)
        }
    }

    private func streamOpened(_ id: HTTP2StreamID) {
        open += 1
        if id > lastStream { lastStream = id }
        idleTimer?.cancel()
        idleTimer = nil
    }

    private func streamClosed() {
        open -= 1
        guard open == 0 else { return }
        if closing { context?.close(promise: nil) } else { armIdleTimer() }
    }

    private func armIdleTimer() {
        guard let context else { return }
        idleTimer?.cancel()
        idleTimer = context.eventLoop.scheduleTask(in: idleTimeout) { [weak self] in
            guard let self, self.open == 0 else { return }
            self.goAway()
        }
    }

    /// Tells the client that no stream after the last one taken will be served, and closes when none is open.
    private func goAway() {
        guard let context, !closing else { return }
        closing = true
        idleTimer?.cancel()
        let frame = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: lastStream, errorCode: .noError, opaqueData: nil))
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        if open == 0 {
            context.close(promise: nil)
        } else {
            graceTimer = context.eventLoop.scheduleTask(in: Self.goAwayGrace) { [weak self] in self?.context?.close(promise: nil) }
        }
    }
}

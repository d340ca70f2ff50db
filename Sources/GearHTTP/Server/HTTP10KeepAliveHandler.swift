import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// HTTP/1.0 connection semantics, which Hummingbird's HTTP/1 channel does not apply: an HTTP/1.0 request without
/// `Connection: keep-alive` is answered and the connection closed (the client reads until then: `ab`, older
/// monitoring tools), and one with it gets `Connection: keep-alive` back (or the client would wait for a close).
/// Sits between NIO's HTTP/1 codec and the HTTP types codec, where the request's version is still known.
final class HTTP10KeepAliveHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// For each request read and not yet answered, in order: whether it is HTTP/1.0 with keep-alive.
    private var pending: [Bool] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        let legacyKeepAlive = head.version == .http1_0 && head.isKeepAlive
        if head.version == .http1_0 && !head.isKeepAlive {
            // Hummingbird answers and half-closes after a request that says `Connection: close`.
            head.headers.replaceOrAdd(name: "connection", value: "close")
        }
        pending.append(legacyKeepAlive)
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where pending.first == true && head.status.code >= 200:
            head.headers.replaceOrAdd(name: "connection", value: "keep-alive")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            if !pending.isEmpty { pending.removeFirst() }
            context.write(data, promise: promise)
        default:
            context.write(data, promise: promise)
        }
    }
}

/// Answers `Expect: 100-continue` with `100 Continue`, which Hummingbird does not: without it curl waits a second
/// before it sends an upload body larger than 1 MiB. The interim answer goes out when the request head arrives;
/// a request refused before its body is read (401, 403, 413) still gets its final answer, and the client stops.
final class ExpectContinueHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(var head) = unwrapInboundIn(data), head.version.minor >= 1,
            head.headers["expect"].contains(where: { $0.lowercased() == "100-continue" })
        {
            head.headers.remove(name: "expect")
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            context.fireChannelRead(wrapInboundOut(.head(head)))
            return
        }
        context.fireChannelRead(data)
    }
}

extension HTTP1Channel {
    /// Sets the channel up as `setup` does, with HTTP/1.0 keep-alive and `Expect: 100-continue` handling.
    /// With `headerTimeout`, a request head that has not arrived that long after its first byte closes the connection.
    func setupWithHTTP10(channel: any Channel, logger: Logger, headerTimeout: Duration? = nil) -> EventLoopFuture<Value> {
        setup(channel: channel, logger: logger).flatMapThrowing { value in
            let codec = try channel.pipeline.syncOperations.handler(type: HTTP1ToHTTPServerCodec.self)
            try channel.pipeline.syncOperations.addHandler(HTTP10KeepAliveHandler(), position: .before(codec))
            try channel.pipeline.syncOperations.addHandler(ExpectContinueHandler(), position: .before(codec))
            if let headerTimeout {
                let deadline = RequestHeadDeadline(timeout: headerTimeout)
                let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
                try channel.pipeline.syncOperations.addHandler(RequestHeadDeadline.Bytes(deadline), position: .before(decoder))
                try channel.pipeline.syncOperations.addHandler(RequestHeadDeadline.Parts(deadline), position: .before(codec))
            }
            return value
        }
    }
}

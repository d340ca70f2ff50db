import CoreMetrics
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// What one listener lets its clients hold: connections in all and per client address, and how long a request's
/// head may take to arrive once its first byte did (slow clients that trickle headers).
public struct ConnectionLimits: Sendable, Hashable {
    /// Open connections of one listener; past it a new connection is closed as soon as it is accepted.
    public var maxConnections: Int
    /// Open connections from one client address (TCP); past it that client's new connections are closed.
    public var maxPerClient: Int
    /// From the first byte of a request to the end of its head.
    public var headerTimeout: Duration

    public init(maxConnections: Int = 2048, maxPerClient: Int = 256, headerTimeout: Duration = .seconds(15)) {
        self.maxConnections = maxConnections
        self.maxPerClient = maxPerClient
        self.headerTimeout = headerTimeout
    }
}

/// Counts a listener's open connections, in all and per client address, and closes those past the limits before
/// anything is read from them: a client that opens thousands costs geard a bounded number of descriptors.
final class ConnectionCounter: Sendable {
    private struct Counts {
        var total = 0
        var byClient: [String: Int] = [:]
    }

    private let counts = NIOLockedValueBox(Counts())
    let limits: ConnectionLimits

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    /// Takes a place for a connection from `client` (nil: a unix socket peer); false when the limits are reached.
    func admit(_ client: String?) -> Bool {
        counts.withLockedValue { counts in
            guard counts.total < limits.maxConnections else { return false }
            if let client {
                guard counts.byClient[client, default: 0] < limits.maxPerClient else { return false }
                counts.byClient[client, default: 0] += 1
            }
            counts.total += 1
            return true
        }
    }

    func leave(_ client: String?) {
        counts.withLockedValue { counts in
            counts.total -= 1
            if let client {
                let left = counts.byClient[client, default: 1] - 1
                counts.byClient[client] = left > 0 ? left : nil
            }
        }
    }

    var open: Int { counts.withLockedValue { $0.total } }

    /// The first handler of every accepted connection.
    func handler() -> Gate { Gate(counter: self) }

    final class Gate: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny
        private let counter: ConnectionCounter
        private var client: String?
        private var admitted = false

        init(counter: ConnectionCounter) {
            self.counter = counter
        }

        func channelActive(context: ChannelHandlerContext) {
            let address = context.channel.remoteAddress
            client = address?.protocol == .unix ? nil : address?.ipAddress
            if address != nil, address?.protocol != .unix, client == nil { client = "?" }
            admitted = counter.admit(client)
            guard admitted else {
                ConnectionMetrics.refused.increment()
                context.close(promise: nil)
                return
            }
            context.fireChannelActive()
        }

        func channelInactive(context: ChannelHandlerContext) {
            if admitted {
                admitted = false
                counter.leave(client)
            }
            context.fireChannelInactive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard admitted else { return }
            context.fireChannelRead(data)
        }
    }
}

/// Closes an HTTP/1 connection whose request head does not arrive in time: the clock starts at the first byte of
/// a request (not while a keep-alive connection waits for its next one, which the idle timeout bounds) and stops
/// when the decoder has the whole head.
final class RequestHeadDeadline {
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// Between a request's head and the end of its response.
    private var inRequest = false

    init(timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        self.timeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Before the decoder: sees the bytes.
    final class Bytes: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        let deadline: RequestHeadDeadline

        init(_ deadline: RequestHeadDeadline) { self.deadline = deadline }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if !deadline.inRequest, deadline.timer == nil {
                let channel = context.channel
                deadline.timer = context.eventLoop.scheduleTask(in: deadline.timeout) {
                    ConnectionMetrics.headerTimeouts.increment()
                    channel.close(promise: nil)
                }
            }
            context.fireChannelRead(data)
        }

        func channelInactive(context: ChannelHandlerContext) {
            deadline.timer?.cancel()
            deadline.timer = nil
            context.fireChannelInactive()
        }
    }

    /// After the decoder: sees the head arrive and the response end.
    final class Parts: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias InboundOut = HTTPServerRequestPart
        typealias OutboundIn = HTTPServerResponsePart
        typealias OutboundOut = HTTPServerResponsePart
        let deadline: RequestHeadDeadline

        init(_ deadline: RequestHeadDeadline) { self.deadline = deadline }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head = unwrapInboundIn(data) {
                deadline.timer?.cancel()
                deadline.timer = nil
                deadline.inRequest = true
            }
            context.fireChannelRead(data)
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if case .end = unwrapOutboundIn(data) { deadline.inRequest = false }
            context.write(data, promise: promise)
        }
    }
}

/// Counters of the limits at work.
enum ConnectionMetrics {
    static let refused = Counter(label: "gear_connections_refused_total")
    static let headerTimeouts = Counter(label: "gear_header_timeouts_total")
}

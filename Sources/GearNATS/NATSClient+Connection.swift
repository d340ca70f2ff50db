import Logging
import NIOCore
import NIOPosix
import NIOSSL
public import ServiceLifecycle
import Synchronization

extension NATSClient: Service {
    /// Keeps a connection to one of the brokers until the task is cancelled or a graceful shutdown: connects,
    /// serves, and after a loss waits (doubling from `reconnectDelay.minimum` to `.maximum`, with jitter) and
    /// connects to the next broker. On the way out it closes the connection and ends every subscription.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failures = 0
            var next = 0
            while !Task.isCancelled {
                let server = self.configuration.servers[next % self.configuration.servers.count]
                next += 1
                let reason: String
                do {
                    try await self.serve(server) { failures = 0 }
                    reason = "\(server) closed the connection"
                } catch {
                    reason = "\(server): \(error)"
                }
                self.lost(reason)
                if Task.isCancelled { break }
                failures += 1
                let delay = Self.backoff(failures, self.configuration.reconnectDelay)
                self.logger.warning("nats: connection lost, reconnecting", metadata: ["nats.reason": "\(reason)", "nats.delay": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
        }
        shutDown()
    }

    /// The pause before the `failures`-th reconnection: doubling, capped, between half and all of it.
    static func backoff(_ failures: Int, _ bounds: (minimum: Duration, maximum: Duration)) -> Duration {
        var delay = bounds.minimum
        for _ in 1..<max(1, min(failures, 30)) where delay < bounds.maximum { delay *= 2 }
        delay = min(delay, bounds.maximum)
        return delay * Double.random(in: 0.5...1)
    }

    /// One connection: the handshake (INFO, TLS, CONNECT, PING/PONG), the subscriptions made again, then the
    /// broker's operations until the connection ends, pinging it when idle.
    func serve(_ server: NATSServerAddress, connected: () -> Void) async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let handshake = loop.makePromise(of: Int.self)
        let ended = loop.makePromise(of: Void.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: handshake.futureResult.eventLoop)
                .connectTimeout(TimeAmount(configuration.connectTimeout))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let decoder = NATSDecoder(parser: NATSParser(maxPayload: self.configuration.maxPayload))
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
                        try channel.pipeline.syncOperations.addHandler(
                            NATSConnectionHandler(client: self, server: server, handshake: handshake, ended: ended))
                    }
                }
                .connect(host: server.host, port: server.port).get()
        } catch {
            handshake.fail(error)
            ended.fail(error)
            throw error
        }
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(configuration.connectTimeout)) {
            handshake.fail(NATSError(.timeout, "no handshake within \(self.configuration.connectTimeout)"))
            channel.close(promise: nil)
        }
        let maxPayload: Int
        do {
            maxPayload = try await handshake.futureResult.get()
            deadline.cancel()
        } catch {
            deadline.cancel()
            try? await channel.close()
            throw error
        }
        let connection = Connection(channel: channel, server: server, maxPayload: maxPayload)
        let resubscribe = state.withLock { state in
            state.connection = connection
            state.status = .connected(server: server.description)
            state.counters.connections += 1
            state.refusals = []
            return state.subscriptions.values.sorted { $0.sid < $1.sid }
        }
        connected()
        logger.info("nats: connected", metadata: ["nats.server": "\(server)", "nats.subscriptions": "\(resubscribe.count)"])
        if !resubscribe.isEmpty {
            var buffer = ByteBuffer()
            for entry in resubscribe { NATSCommand.subscribe(subject: entry.subject, queue: entry.queue, sid: entry.sid).write(into: &buffer) }
            channel.writeAndFlush(buffer, promise: nil)
        }
        try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.keepAlive(connection) }
                defer { group.cancelAll() }
                try await ended.futureResult.get()
            }
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// Pings the broker every `pingInterval`; closes the connection when `maxPingsOutstanding` pings went
    /// unanswered (a broker or a path that died without closing).
    func keepAlive(_ connection: Connection) async throws {
        while true {
            try await Task.sleep(for: configuration.pingInterval)
            let stale = state.withLock { state in
                guard state.connection?.channel === connection.channel else { return true }
                let outstanding = state.pongs.count { if case .keepalive = $0 { true } else { false } }
                if outstanding >= configuration.maxPingsOutstanding { return true }
                state.pongs.append(.keepalive)
                connection.channel.writeAndFlush(NATSCommand.ping.bytes, promise: nil)
                return false
            }
            if stale {
                logger.warning(
                    "nats: the broker left \(configuration.maxPingsOutstanding) pings unanswered", metadata: ["nats.server": "\(connection.server)"])
                try? await connection.channel.close()
                return
            }
        }
    }

    /// The connection ended: what waited on it fails, subscriptions wait for the next one.
    func lost(_ reason: String) {
        let waiters = state.withLock { state in
            state.connection = nil
            if !state.closed { state.status = .disconnected(reason: reason) }
            defer { state.pongs = [] }
            return state.pongs
        }
        for case .flush(_, let continuation) in waiters {
            continuation.resume(returning: .failure(NATSError(.notConnected, "the connection was lost: \(reason)")))
        }
    }

    /// The client is done: subscriptions end, later calls fail with `closed`.
    func shutDown() {
        let entries = state.withLock { state in
            state.closed = true
            state.status = .closed
            defer { state.subscriptions = [:] }
            return Array(state.subscriptions.values)
        }
        for entry in entries { entry.continuation.finish() }
    }

    // MARK: - The broker's operations on a ready connection (called on the channel's event loop)

    func received(_ message: NATSMessage) {
        let entry = state.withLock { state in
            state.counters.messagesReceived += 1
            return state.subscriptions[message.sid]
        }
        guard let entry else { return }  // unsubscribed while the message was on its way
        guard let first = entry.deliver(message) else { return }
        state.withLock { $0.counters.messagesDropped += 1 }
        if first {
            logger.warning(
                "nats: a slow consumer: messages dropped",
                metadata: ["nats.subject": "\(entry.subject)", "nats.buffer": "\(configuration.subscriptionBuffer)"])
        }
    }

    func pongReceived() {
        let (waiter, refusals) = state.withLock { state -> (PongWaiter?, [String]) in
            guard !state.pongs.isEmpty else { return (nil, []) }
            defer { state.refusals = [] }
            return (state.pongs.removeFirst(), state.refusals)
        }
        guard case .flush(_, let continuation) = waiter else { return }
        if refusals.isEmpty {
            continuation.resume(returning: .success(()))
        } else {
            continuation.resume(returning: .failure(NATSError(.permissionViolation, refusals.joined(separator: "; "))))
        }
    }

    /// `-ERR` on a ready connection: a refused subscription ends with the refusal; a refused publication is reported
    /// by the next flush; anything else is logged (the broker closes the connection after the fatal ones).
    func serverError(_ text: String) {
        logger.warning("nats: the broker refused", metadata: ["nats.error": "\(text)"])
        let lowered = text.lowercased()
        let refused: [SubscriptionEntry] = state.withLock { state in
            state.counters.serverErrors += 1
            if lowered.hasPrefix("permissions violation for subscription") {
                let subject = Self.quotedSubject(text)
                let entries = state.subscriptions.values.filter { $0.subject == subject }
                for entry in entries { state.subscriptions[entry.sid] = nil }
                return entries
            }
            if lowered.hasPrefix("permissions violation") && state.refusals.count < 100 { state.refusals.append(text) }
            return []
        }
        for entry in refused { entry.continuation.finish(throwing: NATSError(.permissionViolation, text)) }
    }

    /// The subject in `... to "SUBJECT"` of a permissions violation.
    static func quotedSubject(_ text: String) -> String? {
        guard let open = text.firstIndex(of: "\"") else { return nil }
        let rest = text[text.index(after: open)...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }
}

/// The connection's handler, on its event loop: the handshake (INFO, then TLS if either side wants it, CONNECT and
/// a PING whose PONG says the broker accepted the client), then each operation handed to the client.
final class NATSConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = NATSServerOperation
    typealias OutboundOut = ByteBuffer

    enum Phase {
        case awaitingInfo
        case awaitingPong(maxPayload: Int)
        case ready
    }

    let client: NATSClient
    let server: NATSServerAddress
    let handshake: EventLoopPromise<Int>
    /// Succeeds when the broker closes the connection, fails with what made the client close it.
    let ended: EventLoopPromise<Void>
    var phase = Phase.awaitingInfo

    init(client: NATSClient, server: NATSServerAddress, handshake: EventLoopPromise<Int>, ended: EventLoopPromise<Void>) {
        self.client = client
        self.server = server
        self.handshake = handshake
        self.ended = ended
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let operation = Self.unwrapInboundIn(data)
        do {
            switch (phase, operation) {
            case (.ready, .message(let message)): client.received(message)
            case (.ready, .pong): client.pongReceived()
            case (.ready, .error(let text)): client.serverError(text)
            case (.awaitingInfo, .info(let info)): try greet(context, info)
            case (.awaitingInfo, _): throw NATSError(.protocolViolation, "the broker did not start with INFO")
            case (_, .ping): context.writeAndFlush(Self.wrapOutboundOut(NATSCommand.pong.bytes), promise: nil)
            case (.awaitingPong(let maxPayload), .pong):
                phase = .ready
                handshake.succeed(maxPayload)
            case (.awaitingPong, .error(let text)):
                let code: NATSError.Code = text.lowercased().contains("authorization") ? .authorization : .server
                throw NATSError(code, "the broker refused the connection: \(text)")
            case (_, .info), (_, .ok), (_, .message): break
            }
        } catch {
            fail(context, error)
        }
    }

    /// INFO came: TLS as agreed, then CONNECT and PING.
    func greet(_ context: ChannelHandlerContext, _ info: NATSServerInfo) throws {
        let configuration = client.configuration
        let offered = info.tlsRequired ?? false
        if offered || server.requiresTLS || client.sslContext != nil {
            guard let sslContext = client.sslContext else {
                throw NATSError(.invalidArgument, "the broker requires TLS and the client has no certificate")
            }
            guard offered else { throw NATSError(.authorization, "the broker does not offer TLS: refusing to connect in the clear") }
            // An address is checked against the certificate's IP SANs; a name is also sent as SNI.
            let hostname = server.host.allSatisfy({ $0.isNumber || $0 == "." || $0 == ":" }) ? nil : server.host
            try context.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: hostname), position: .first)
        }
        let maxPayload = min(info.maxPayload ?? configuration.maxPayload, configuration.maxPayload)
        var buffer = context.channel.allocator.buffer(capacity: 256)
        NATSCommand.connect(NATSConnectOptions(name: configuration.name, tlsRequired: offered, echo: configuration.echo)).write(into: &buffer)
        NATSCommand.ping.write(into: &buffer)
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
        phase = .awaitingPong(maxPayload: maxPayload)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context, error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshake.fail(NATSError(.notConnected, "the broker closed the connection"))
        ended.succeed(())
        context.fireChannelInactive()
    }

    func fail(_ context: ChannelHandlerContext, _ error: any Error) {
        if case .ready = phase {
            client.logger.warning("nats: connection failed", metadata: ["nats.server": "\(server)", "nats.error": "\(error)"])
        }
        handshake.fail(error)
        ended.fail(error)
        context.close(promise: nil)
    }
}

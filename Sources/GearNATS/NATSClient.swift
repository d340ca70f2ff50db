public import Logging
import NIOCore
import NIOSSL
import Synchronization

/// A NATS client on SwiftNIO: one connection to one of its brokers at a time, over TLS with a client certificate
/// when configured, made again with back-off when it is lost (the subscriptions are made again with it).
/// `run()` keeps the connection; `publish`, `subscribe` and `flush` use it. Publishing while no connection is up
/// fails at once (`notConnected`): nothing is queued behind a broker that went away.
///
/// Core NATS says nothing of who published a message; what a subscriber may trust comes from the subjects the
/// broker lets each certificate publish on (docs/nats.md).
public final class NATSClient: Sendable {
    public let configuration: NATSConfiguration
    let logger: Logger
    let sslContext: NIOSSLContext?
    let state = Mutex(State())

    struct State {
        var connection: Connection?
        var subscriptions: [UInt64: SubscriptionEntry] = [:]
        var nextSID: UInt64 = 1
        /// One entry per PING sent on the connection, in order: a PONG answers the first.
        var pongs: [PongWaiter] = []
        /// `-ERR`s about publications since the last PONG: the next flush reports them.
        var refusals: [String] = []
        var status: NATSStatus = .connecting
        var closed = false
        var counters = NATSCounters()
    }

    struct Connection: Sendable {
        let channel: any Channel
        let server: NATSServerAddress
        /// The largest message the broker takes (its `max_payload`).
        let maxPayload: Int
    }

    enum PongWaiter {
        case keepalive
        case flush(id: UInt64, CheckedContinuation<Result<Void, NATSError>, Never>)
        /// A flush that timed out: its PONG is still owed.
        case abandoned
    }

    /// Makes a client; `run()` connects it.
    public init(configuration: NATSConfiguration, logger: Logger) throws(NATSError) {
        guard !configuration.servers.isEmpty else { throw NATSError(.invalidArgument, "no broker to connect to") }
        self.configuration = configuration
        self.logger = logger
        if let tls = configuration.tls {
            do {
                sslContext = try NIOSSLContext(configuration: tls)
            } catch {
                throw NATSError(.invalidArgument, "TLS configuration: \(error)")
            }
        } else {
            guard !configuration.servers.contains(where: \.requiresTLS) else {
                throw NATSError(.invalidArgument, "a tls:// broker and no client certificate")
            }
            sslContext = nil
        }
    }

    /// The connection's state now.
    public var status: NATSStatus { state.withLock { $0.status } }

    /// Counts since the client was made.
    public var counters: NATSCounters { state.withLock { $0.counters } }

    /// Publishes `payload` on `subject` (with `replyTo` for an answer, and headers if given).
    public func publish(_ payload: [UInt8], to subject: String, replyTo: String? = nil, headers: NATSHeaders? = nil) async throws(NATSError) {
        try NATSSubject.validatePublish(subject)
        if let replyTo { try NATSSubject.validatePublish(replyTo) }
        let connection = try currentConnection()
        let size = (headers?.encoded.count ?? 0) + payload.count
        guard size <= connection.maxPayload else {
            throw NATSError(.invalidArgument, "a message of \(size) bytes: the broker takes at most \(connection.maxPayload)")
        }
        try await write(.publish(subject: subject, replyTo: replyTo, headers: headers, payload: payload), on: connection)
    }

    /// Subscribes to `subject` (wildcards allowed), in queue group `queue` if given. The subscription is sent now
    /// when connected (a `flush` after it tells that the broker has it), else at the next connection.
    public func subscribe(to subject: String, queue: String? = nil) async throws(NATSError) -> NATSSubscription {
        try NATSSubject.validateSubscribe(subject)
        if let queue { try NATSSubject.validateQueue(queue) }
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: NATSMessage.self, throwing: (any Error).self, bufferingPolicy: .bufferingOldest(configuration.subscriptionBuffer))
        let (entry, connection) = try state.withLock { state throws(NATSError) in
            guard !state.closed else { throw NATSError(.closed, "the client is shut down") }
            let entry = SubscriptionEntry(subject: subject, queue: queue, sid: state.nextSID, continuation: continuation)
            state.nextSID += 1
            state.subscriptions[entry.sid] = entry
            return (entry, state.connection)
        }
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            Task { await self.unsubscribe(sid: entry.sid) }
        }
        if let connection {
            try? await write(.subscribe(subject: subject, queue: queue, sid: entry.sid), on: connection)
        }
        return NATSSubscription(entry: entry, stream: stream)
    }

    /// Ends a subscription: the broker sends it nothing more and its iteration ends.
    public func unsubscribe(_ subscription: NATSSubscription) async {
        await unsubscribe(sid: subscription.sid)
    }

    func unsubscribe(sid: UInt64) async {
        let (entry, connection) = state.withLock { ($0.subscriptions.removeValue(forKey: sid), $0.connection) }
        guard let entry else { return }
        entry.continuation.finish()
        if let connection { try? await write(.unsubscribe(sid: sid, after: nil), on: connection) }
    }

    /// Waits until the broker has handled everything sent before (a PING answered by its PONG); throws the
    /// broker's refusals of publications that arrived meanwhile (`permissionViolation`), or `timeout`.
    public func flush(timeout: Duration = .seconds(5)) async throws(NATSError) {
        let connection = try currentConnection()
        let id = UInt64.random(in: 1...UInt64.max)
        let timer = Task {
            try await Task.sleep(for: timeout)
            self.abandonFlush(id)
        }
        defer { timer.cancel() }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Void, NATSError>, Never>) in
            // The waiter is queued and its PING written under the lock, so that PINGs go out in the order of their
            // waiters (a PONG answers the oldest).
            let sent = state.withLock { state in
                guard state.connection?.channel === connection.channel else { return false }
                state.pongs.append(.flush(id: id, continuation))
                connection.channel.writeAndFlush(NATSCommand.ping.bytes, promise: nil)
                return true
            }
            if !sent { continuation.resume(returning: .failure(NATSError(.notConnected, "the connection was lost"))) }
        }
        try result.get()
    }

    func abandonFlush(_ id: UInt64) {
        let continuation = state.withLock { state -> CheckedContinuation<Result<Void, NATSError>, Never>? in
            guard let index = state.pongs.firstIndex(where: { if case .flush(id, _) = $0 { true } else { false } }),
                case .flush(_, let continuation) = state.pongs[index]
            else { return nil }
            state.pongs[index] = .abandoned
            return continuation
        }
        continuation?.resume(returning: .failure(NATSError(.timeout, "no PONG from the broker")))
    }

    func currentConnection() throws(NATSError) -> Connection {
        try state.withLock { state throws(NATSError) in
            if state.closed { throw NATSError(.closed, "the client is shut down") }
            guard let connection = state.connection else {
                throw NATSError(.notConnected, "no connection to a broker (\(state.status))")
            }
            return connection
        }
    }

    /// Writes a command and waits until it is handed to the socket: a broker that reads slowly slows its writers,
    /// and nothing piles up in the client.
    func write(_ command: NATSCommand, on connection: Connection) async throws(NATSError) {
        do {
            try await connection.channel.writeAndFlush(command.bytes).get()
        } catch {
            throw NATSError(.notConnected, "the connection to \(connection.server) was lost: \(error)")
        }
    }
}

/// The connection's state, for health checks.
public enum NATSStatus: Sendable, Hashable, CustomStringConvertible {
    case connecting
    case connected(server: String)
    case disconnected(reason: String)
    case closed

    public var description: String {
        switch self {
        case .connecting: "connecting"
        case .connected(let server): "connected to \(server)"
        case .disconnected(let reason): "disconnected: \(reason)"
        case .closed: "closed"
        }
    }
}

/// What a client counted since it was made.
public struct NATSCounters: Sendable, Hashable {
    /// Connections made (the first included).
    public var connections = 0
    public var messagesReceived = 0
    /// Messages dropped because a subscription's consumer was behind.
    public var messagesDropped = 0
    /// `-ERR`s the broker sent.
    public var serverErrors = 0
}

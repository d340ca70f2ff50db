import Foundation
import GearAuthorization
import GearSystem
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOExtras
import NIOPosix
public import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// One listening socket: plain HTTP/1.1 for local callers, or HTTPS with client certificates (HTTP/2 and HTTP/1.1),
/// on TCP, a unix socket, or a socket handed over by systemd. On graceful shutdown it stops accepting and lets
/// open connections finish their current request.
public final class HTTPListener: Service, Sendable {
    public let address: ListenAddress
    public let security: ListenerSecurity
    /// The responder for the requests of one caller, over HTTP/2 or not.
    let responderFactory: @Sendable (Caller, _ http2: Bool) -> HTTPChannelHandler.Responder
    /// How the first request of an HTTP/1.1 connection may become a WebSocket, per caller.
    let deciderFactory: @Sendable (Caller) -> WebSocketDecider
    let logger: Logger
    private let group: any EventLoopGroup
    private let onBound: @Sendable (Int?) -> Void
    let counter: ConnectionCounter

    /// How much one socket read takes at most (NIO reads up to four times per wakeup). Plain connections read up to
    /// 256 KiB for bulk bodies (file uploads: fewer reads, fewer hops); small requests keep small buffers. TLS
    /// connections stay at NIO's 64 KiB: NIOSSL decrypts all of a wakeup's reads into one buffer that only ever
    /// grows and is copied afresh for each wakeup, so 4 x 256 KiB reads held up to 30 MiB during one upload.
    static func largestRead(_ security: ListenerSecurity) -> Int {
        switch security {
        case .trusted: 256 * 1024
        case .mutualTLS: 64 * 1024
        }
    }

    /// How long a TLS client may take to complete its handshake.
    static let handshakeTimeout = TimeAmount.seconds(10)
    static let idleTimeout = TimeAmount.seconds(120)

    /// - Parameters:
    ///   - responder: the responder for the requests of one caller (each TLS connection has its own).
    ///   - onBound: called with the bound TCP port once listening (nil for unix sockets).
    init(
        address: ListenAddress, security: ListenerSecurity, responder: @escaping @Sendable (Caller, _ http2: Bool) -> HTTPChannelHandler.Responder,
        webSocket: @escaping @Sendable (Caller) -> WebSocketDecider, logger: Logger, limits: ConnectionLimits = ConnectionLimits(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onBound: @escaping @Sendable (Int?) -> Void = { _ in }
    ) {
        self.counter = ConnectionCounter(limits: limits)
        self.address = address
        self.security = security
        self.responderFactory = responder
        self.deciderFactory = webSocket
        self.logger = logger
        self.group = group
        self.onBound = onBound
    }

    public func run() async throws {
        switch security {
        case .trusted:
            // TCP callers share one responder; a unix socket's callers are told apart by their peer credentials.
            try await serve(
                setup: { channel in
                    let caller: EventLoopFuture<Caller> =
                        if case .unixDomainSocket = channel.localAddress {
                            self.peerCaller(channel)
                        } else {
                            channel.eventLoop.makeSucceededFuture(.local(listener: self.address.description))
                        }
                    return caller.flatMap { caller in
                        let http = self.http1(for: caller, secure: false)
                        return http.setup(channel: channel, logger: self.logger).map { (http, $0) }
                    }
                },
                handle: { http, value in await http.handle(value: value, logger: self.logger) })
        case .mutualTLS(let store):
            try await serve(
                setup: { channel in self.setUpTLS(channel, store: store) },
                handle: { negotiated in
                    do {
                        switch try await negotiated.get() {
                        case .http1(let http, let value): await http.handle(value: value, logger: self.logger)
                        case .http2(let http, let value): await http.handle(value: value, logger: self.logger)
                        }
                    } catch {
                        self.logger.debug("TLS connection failed", metadata: ["error": "\(error)"])
                    }
                })
        }
    }

    /// An HTTP/1.1 connection of `caller` whose first request may become a WebSocket.
    func http1(for caller: Caller, secure: Bool) -> UpgradableHTTP1Channel {
        UpgradableHTTP1Channel(
            http: HTTP1Channel(responder: responderFactory(caller, false), configuration: .init(idleTimeout: Self.idleTimeout)),
            decide: deciderFactory(caller), secure: secure, headerTimeout: counter.limits.headerTimeout)
    }

    /// Binds, accepts, and hands each connection to `handle` in a task of its own until shut down.
    private func serve<Connection: Sendable>(
        setup: @escaping @Sendable (any Channel) -> EventLoopFuture<Connection>, handle: @escaping @Sendable (Connection) async -> Void
    ) async throws {
        let largestRead = Self.largestRead(security)
        let counter = self.counter
        let setup: @Sendable (any Channel) -> EventLoopFuture<Connection> = { channel in
            do {
                try channel.pipeline.syncOperations.addHandler(counter.handler())
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
            return setup(channel)
        }
        let quiescing = ServerQuiescingHelper(group: group)
        let logger = self.logger
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 512)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelOption(
                ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: largestRead)
            )
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
        let server: NIOAsyncChannel<Connection, Never>
        switch address {
        case .tcp(let host, let port):
            server = try await bootstrap.bind(host: host, port: port, childChannelInitializer: setup)
        case .unix(let path, let mode, let group):
            let socket = try Self.bindUnixSocket(path: path, mode: mode, group: group)
            // NIO owns the socket from here on (its channel closes it).
            server = try await bootstrap.bind(socket.take(), childChannelInitializer: setup)
        case .activated(let fd, _):
            server = try await bootstrap.bind(fd, childChannelInitializer: setup)
        }
        let port = server.channel.localAddress?.port
        logger.info(
            "listening",
            metadata: ["listen.address": "\(address)", "listen.port": "\(port.map(String.init) ?? "-")", "listen.security": "\(security)"])
        onBound(port)
        let group = self.group
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { tasks in
                do {
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            tasks.addTask { await handle(connection) }
                        }
                    }
                } catch is CancellationError {
                    logger.debug("listener stopped", metadata: ["listen.address": "\(self.address)"])
                } catch {
                    logger.error("listener stopped", metadata: ["listen.address": "\(self.address)", "error": "\(error)"])
                }
            }
        } onGracefulShutdown: {
            quiescing.initiateShutdown(promise: group.next().makePromise(of: Void.self))
        }
        if case .unix(let path, _, _) = address { unlink(path) }
    }

    /// Creates, binds and listens on a unix socket whose mode is set before it appears in the file system
    /// (Linux takes the socket file's mode from the socket inode at bind), so it is never briefly open to all.
    static func bindUnixSocket(path: String, mode: UInt32, group: UInt32? = nil) throws -> OwnedDescriptor {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        if let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType {
            guard type == .typeSocket else { throw ListenerError(message: "\(path) exists and is not a socket") }
            unlink(path)
        }
        let opened = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard opened >= 0 else { throw ListenerError(message: "socket: \(String(cString: strerror(errno)))") }
        // Closed if a step below fails.
        let socket = OwnedDescriptor(owning: opened)
        let fd = socket.raw
        guard fchmod(fd, mode_t(mode)) == 0 else { throw ListenerError(message: "fchmod \(path): \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw ListenerError(message: "socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else { throw ListenerError(message: "bind \(path): \(String(cString: strerror(errno)))") }
        if let group, chown(path, uid_t.max, gid_t(group)) != 0 {
            throw ListenerError(message: "chown \(path) to group \(group): \(String(cString: strerror(errno)))")
        }
        guard chmod(path, mode_t(mode)) == 0, listen(fd, 512) == 0 else {
            throw ListenerError(message: "listen \(path): \(String(cString: strerror(errno)))")
        }
        return socket
    }
}

/// A listener could not be set up.
public struct ListenerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

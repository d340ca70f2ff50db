import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOPosix
public import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// One listening socket serving HTTP/1.1 with a shared responder: TCP, a unix socket, or a socket handed over by
/// systemd. On graceful shutdown it stops accepting and lets open connections finish their current request.
public final class HTTPListener: Service, Sendable {
    public let address: ListenAddress
    private let responder: HTTPChannelHandler.Responder
    private let logger: Logger
    private let group: any EventLoopGroup
    private let onBound: @Sendable (Int?) -> Void

    /// - Parameter onBound: called with the bound TCP port once listening (nil for unix sockets).
    init(
        address: ListenAddress, responder: @escaping HTTPChannelHandler.Responder, logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, onBound: @escaping @Sendable (Int?) -> Void = { _ in }
    ) {
        self.address = address
        self.responder = responder
        self.logger = logger
        self.group = group
        self.onBound = onBound
    }

    public func run() async throws {
        let quiescing = ServerQuiescingHelper(group: group)
        let http = HTTP1Channel(responder: responder, configuration: .init(idleTimeout: .seconds(120)))
        let logger = self.logger
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 512)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
        let server: NIOAsyncChannel<HTTP1Channel.Value, Never>
        switch address {
        case .tcp(let host, let port):
            server = try await bootstrap.bind(host: host, port: port) { http.setup(channel: $0, logger: logger) }
        case .unix(let path, let mode):
            let fd = try Self.bindUnixSocket(path: path, mode: mode)
            server = try await bootstrap.bind(fd) { http.setup(channel: $0, logger: logger) }
        case .activated(let fd, _):
            server = try await bootstrap.bind(fd) { http.setup(channel: $0, logger: logger) }
        }
        let port = server.channel.localAddress?.port
        logger.info("listening", metadata: ["listen.address": "\(address)", "listen.port": "\(port.map(String.init) ?? "-")"])
        onBound(port)
        let group = self.group
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { tasks in
                do {
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            tasks.addTask { await http.handle(value: connection, logger: logger) }
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
        if case .unix(let path, _) = address { unlink(path) }
    }

    /// Creates, binds and listens on a unix socket whose mode is set before it appears in the file system
    /// (Linux takes the socket file's mode from the socket inode at bind), so it is never briefly open to all.
    static func bindUnixSocket(path: String, mode: UInt32) throws -> Int32 {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        var info = stat()
        if lstat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFSOCK else {
                throw ListenerError(message: "\(path) exists and is not a socket")
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ListenerError(message: "socket: \(String(cString: strerror(errno)))") }
        do {
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
            guard chmod(path, mode_t(mode)) == 0, listen(fd, 512) == 0 else {
                throw ListenerError(message: "listen \(path): \(String(cString: strerror(errno)))")
            }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }
}

/// A listener could not be set up.
public struct ListenerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

import Foundation
import GearAPI
import GearSystem
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// geard's network links: inside a podman container, `fromHost:fromPort` leads to `toHost:toPort` as the node
/// reaches it.
///
/// geard did this with DNAT rules written by `iptables-restore` in the container's network namespace. Here geard
/// itself listens in that namespace: a thread enters it (`setns`, which changes only the calling thread), creates
/// and binds the listening socket there, and leaves; a socket stays in the namespace it was created in, so geard's
/// event loops accept the container's connections on it and connect each one onward from the host's namespace.
/// No iptables, no rules left behind, and a link to `127.0.0.1` reaches the node's own loopback (where published
/// ports are). The listeners live as long as the container's namespace: they are made again when the container
/// starts (a new namespace), closed when it stops, and made again by a restarted geard; connections through a link
/// end when geard stops.
final class LinkProxy: Sendable {
    private struct Active {
        /// The namespace the listeners are in (`/proc/PID/ns/net`'s inode): a different one means a new start.
        var namespace: UInt64
        var links: [LinkSpec]
        var channels: [any Channel]
    }

    private let active = Mutex<[ContainerID: Active]>([:])
    /// The last reconcile asked for each container: each waits for the one before, so that two (the end of a
    /// start job and the unit's started signal) never bind the same ports at once.
    private let chain = Mutex<[ContainerID: Task<Void, Never>]>([:])
    private let group: any EventLoopGroup
    private let logger: Logger
    /// Connections one link carries at once; beyond, new ones are closed at once. Each costs geard two
    /// descriptors, so a container that opens connections without end cannot exhaust geard's.
    static let maxConnectionsPerLink = 256

    init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.group = group
        self.logger = logger
    }

    /// Makes the links of a container whose main process (podman's conmon) is `mainPID` listen in its container's
    /// namespace; closes what it had when the links or the namespace changed. `links` empty, or no PID: closes.
    func reconcile(_ id: ContainerID, links: [LinkSpec], mainPID: Int?) async {
        await serialized(id) { await self.apply(id, links: links, mainPID: mainPID) }
    }

    /// Closes the links of a container (nothing to do, and no task made, for one that has none).
    func close(_ id: ContainerID) async {
        guard active.withLock({ $0[id] != nil }) || chain.withLock({ $0[id] != nil }) else { return }
        await serialized(id) { await self.closeNow(id) }
    }

    private func serialized(_ id: ContainerID, _ body: @escaping @Sendable () async -> Void) async {
        let task = chain.withLock { chain in
            let previous = chain[id]
            let task = Task {
                await previous?.value
                await body()
            }
            chain[id] = task
            return task
        }
        await task.value
        chain.withLock { chain in
            if chain[id] == task { chain[id] = nil }
        }
    }

    private func apply(_ id: ContainerID, links: [LinkSpec], mainPID: Int?) async {
        let complete = links.filter(\.isComplete)
        guard !complete.isEmpty, let mainPID, mainPID > 0 else {
            await closeNow(id)
            return
        }
        let namespace: (path: String, inode: UInt64)
        do {
            namespace = try await BlockingIO.run { try Self.containerNamespace(conmon: mainPID) }
        } catch {
            logger.warning("cannot find the container's network namespace for its links", metadata: ["container.id": "\(id)", "error": "\(error)"])
            await closeNow(id)
            return
        }
        if let current = active.withLock({ $0[id] }), current.namespace == namespace.inode, current.links == complete { return }
        await closeNow(id)
        var channels: [any Channel] = []
        for link in complete {
            do {
                let fd = try await BlockingIO.run { try Self.listen(in: namespace.path, host: link.fromHost, port: link.fromPort) }
                channels.append(try await serve(fd, to: link))
            } catch {
                logger.warning(
                    "cannot set up a link", metadata: ["container.id": "\(id)", "link": "\(link.fromHost):\(link.fromPort)", "error": "\(error)"])
            }
        }
        let replaced = active.withLock { state -> Active? in
            defer { state[id] = Active(namespace: namespace.inode, links: complete, channels: channels) }
            return state[id]
        }
        for channel in replaced?.channels ?? [] { channel.close(promise: nil) }
    }

    private func closeNow(_ id: ContainerID) async {
        let channels = active.withLock { $0.removeValue(forKey: id)?.channels ?? [] }
        for channel in channels { try? await channel.close() }
    }

    /// Closes every link (shutdown).
    func closeAll() async {
        let all = active.withLock { state in
            defer { state.removeAll() }
            return state.values.flatMap(\.channels)
        }
        for channel in all { try? await channel.close() }
    }

    // MARK: the namespace

    /// The network namespace of the container conmon `conmon` runs: that of its child (the container's init).
    static func containerNamespace(conmon: Int) throws -> (path: String, inode: UInt64) {
        let name = (try? String(contentsOfFile: "/proc/\(conmon)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard name == "conmon" else { throw GearError(.internal, "the unit's main process \(conmon) is not podman's conmon") }
        let children = try String(contentsOfFile: "/proc/\(conmon)/task/\(conmon)/children", encoding: .utf8)
        guard let child = children.split(separator: " ").compactMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }).first
        else {
            throw GearError(.internal, "conmon \(conmon) has no container process yet")
        }
        let path = "/proc/\(child)/ns/net"
        var info = stat()
        guard stat(path, &info) == 0 else { throw GearError(.internal, "cannot read \(path): \(String(cString: strerror(errno)))") }
        var own = stat()
        guard stat("/proc/self/ns/net", &own) == 0, own.st_ino != info.st_ino else {
            throw GearError(.internal, "the container shares the node's network namespace: a link would bind for everyone")
        }
        return (path, UInt64(info.st_ino))
    }

    /// A listening TCP socket on `host:port` created inside the namespace at `path`, by a thread of its own (the
    /// only thread whose namespace changes, and it ends right after).
    static func listen(in path: String, host: String, port: Int) throws -> Int32 {
        let result = Mutex<Result<Int32, GearError>>(.failure(GearError(.internal, "the link thread did not run")))
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            result.withLock { $0 = Result { () throws(GearError) -> Int32 in try bindInNamespace(path, host: host, port: port) } }
        }
        thread.start()
        done.wait()
        return try result.withLock { $0 }.get()
    }

    private static func bindInNamespace(_ path: String, host: String, port: Int) throws(GearError) -> Int32 {
        func failure(_ what: String) -> GearError { GearError(.internal, "\(what): \(String(cString: strerror(errno)))") }
        let nsFD = SystemCall.retryingInterrupts { open(path, O_RDONLY | O_CLOEXEC) }
        guard nsFD >= 0 else { throw failure("open \(path)") }
        let ns = OwnedDescriptor(owning: nsFD)
        guard gear_setns(ns.raw, cloneNewNet) == 0 else { throw failure("setns \(path)") }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw failure("socket") }
        let listener = OwnedDescriptor(owning: fd)
        var one: Int32 = 1
        _ = setsockopt(listener.raw, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw GearError(.invalidRequest, "\(host) is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener.raw, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(listener.raw, 128) == 0 else {
            throw failure("bind \(host):\(port) in the container")
        }
        // NIO becomes the listening socket's owner.
        return listener.take()
    }

    // MARK: forwarding

    /// Accepts on `fd` and joins each connection to a new one to the link's target.
    private func serve(_ fd: Int32, to link: LinkSpec) async throws -> any Channel {
        let group = self.group
        let logger = self.logger
        guard let host = link.toHost, let port = link.toPort else { throw GearError(.internal, "the link leads nowhere") }
        // Connections open, and whether the refusal of the current episode at the cap was logged (once per episode:
        // a container that keeps hammering must not flood the journal either).
        let open = Mutex((count: 0, warned: false))
        return try await ServerBootstrap(group: group)
            .childChannelOption(.autoRead, value: false)
            // A client that closes its sending side (HTTP/1.0 clients, nc) still reads the answer.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { inbound in
                let (admitted, warn) = open.withLock { state -> (Bool, Bool) in
                    guard state.count < Self.maxConnectionsPerLink else {
                        defer { state.warned = true }
                        return (false, !state.warned)
                    }
                    state.count += 1
                    return (true, false)
                }
                guard admitted else {
                    if warn {
                        logger.warning(
                            "a link has \(Self.maxConnectionsPerLink) connections open; refusing more until some end",
                            metadata: ["link": "\(link.fromHost):\(link.fromPort)"])
                    }
                    return inbound.close()
                }
                inbound.closeFuture.whenComplete { _ in
                    open.withLock {
                        $0.count -= 1
                        if $0.count < Self.maxConnectionsPerLink / 2 { $0.warned = false }
                    }
                }
                return ClientBootstrap(group: inbound.eventLoop)
                    .channelOption(.allowRemoteHalfClosure, value: true)
                    .connect(host: host, port: port)
                    .flatMap { outbound in
                        let (a, b) = GlueHandler.pair()
                        // The accepted connection reads only once it is joined: nothing it sends is dropped before.
                        return inbound.pipeline.addHandler(a).and(outbound.pipeline.addHandler(b)).flatMap { _ in
                            inbound.setOption(.autoRead, value: true)
                        }
                    }
                    .flatMapErrorThrowing { error in
                        logger.debug("a link's target did not answer", metadata: ["target": "\(host):\(port)", "error": "\(error)"])
                        inbound.close(promise: nil)
                        throw error
                    }
            }
            .withBoundSocket(fd)
            .get()
    }
}

/// setns(2), which Glibc's module map leaves out (it needs _GNU_SOURCE): the C library's symbol, declared here.
@_silgen_name("setns")
private func gear_setns(_ fd: Int32, _ nstype: Int32) -> Int32

/// `CLONE_NEWNET` of <sched.h>.
private let cloneNewNet: Int32 = 0x4000_0000

/// Joins two channels: what one reads the other writes, reading on only while the other can take it (so a slow
/// side holds the fast one back instead of geard buffering); the end of one side's input ends the other's output
/// (half-close), and a close of either closes both.
final class GlueHandler: ChannelDuplexHandler, @unchecked Sendable {
    // @unchecked Sendable: the two handlers of a pair are used on their channels' event loop only (the outbound
    // channel is made on the inbound one's loop), and `partner` is set before either is added to a pipeline.
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// This side's peer sent all it will send.
    private(set) var inputClosed = false

    static func pair() -> (GlueHandler, GlueHandler) {
        let a = GlueHandler()
        let b = GlueHandler()
        a.partner = b
        b.partner = a
        return (a, b)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.context?.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            partner?.context?.close(mode: .output, promise: nil)
            inputClosed = true
            if partner?.inputClosed == true {
                context.close(promise: nil)
            }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.readIfWanted() }
    }

    func read(context: ChannelHandlerContext) {
        if partner?.context?.channel.isWritable ?? false {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private func readIfWanted() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }
}

import Foundation
import NIOCore
import NIOPosix

/// Checks that need no process: a TCP connection, an HTTP GET. Each is a connection on geard's event loops, driven by
/// a small channel handler and bounded by the check's timeout (the connect timeout, then a scheduled close); nothing is
/// read beyond the answer's first line (at most 4 KiB). No task or buffer outlives the check.
enum HealthProbe {
    struct Outcome: Sendable {
        var healthy: Bool
        var output: String
    }

    static func tcp(port: Int, timeout: Duration) async -> Outcome {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(timeout))
                .connect(to: try loopback(port)).get()
            channel.close(promise: nil)
            return Outcome(healthy: true, output: "connected to 127.0.0.1:\(port)")
        } catch {
            return Outcome(healthy: false, output: "cannot connect to 127.0.0.1:\(port): \(describe(error, timeout))")
        }
    }

    static func http(port: Int, path: String, timeout: Duration) async -> Outcome {
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        let request = "GET \(path) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\nUser-Agent: geard-health\r\nConnection: close\r\n\r\n"
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let promise = loop.makePromise(of: String.self)
        do {
            // One future for the connection and the answer's first line, awaited once: the check costs the task a
            // single resumption (each is a wake-up of a thread).
            let line = try await ClientBootstrap(group: loop)
                .connectTimeout(TimeAmount(timeout))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(StatusLineHandler(request, promise)) }
                }
                .connect(to: try loopback(port))
                .flatMap { channel in
                    // What is left of the timeout after the connect bounds the answer: then the connection is
                    // closed, which fails the promise.
                    let closer = channel.eventLoop.scheduleTask(deadline: deadline) { channel.close(promise: nil) }
                    return promise.futureResult.always { _ in closer.cancel() }
                }
                .get()
            let code = statusCode(line)
            return Outcome(healthy: code.map { (200..<400).contains($0) } ?? false, output: String(line.prefix(200)))
        } catch {
            promise.fail(error)  // when the connection never came (no handler to complete it); a second completion is ignored
            let reason = NIODeadline.now() >= deadline ? "no answer within \(timeout)" : describe(error, timeout)
            return Outcome(healthy: false, output: "GET http://127.0.0.1:\(port)\(path): \(reason)")
        }
    }

    /// Waits on an event loop's timer (its epoll timeout), not the concurrency runtime's: one thread wake-up less per
    /// check than `Task.sleep`. Ends early when the task is cancelled.
    static func sleep(milliseconds: Int64) async {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let timer = loop.scheduleTask(in: .milliseconds(milliseconds)) {}
        await withTaskCancellationHandler {
            _ = try? await timer.futureResult.get()
        } onCancel: {
            timer.cancel()
        }
    }

    /// 127.0.0.1:`port` as an address: connecting to it needs no resolver (a host name, even "127.0.0.1", goes
    /// through getaddrinfo on a thread and Happy Eyeballs).
    static func loopback(_ port: Int) throws -> SocketAddress {
        try SocketAddress(ipAddress: "127.0.0.1", port: port)
    }

    /// The code of an HTTP status line (`HTTP/1.1 200 OK`).
    static func statusCode(_ line: String) -> Int? {
        let parts = line.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), parts[1].count == 3 else { return nil }
        return Int(parts[1])
    }

    static func describe(_ error: any Error, _ timeout: Duration) -> String {
        if let error = error as? ChannelError, case .connectTimeout = error { return "no connection within \(timeout)" }
        if let error = error as? IOError { return error.description }
        return "\(error)"
    }
}

/// Sends the request once connected, reads until the first line break (or 4 KiB), completes the promise with that
/// line and closes; a connection that ends first fails it.
private final class StatusLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let request: String
    private let promise: EventLoopPromise<String>
    private var head: [UInt8] = []
    private var done = false

    init(_ request: String, _ promise: EventLoopPromise<String>) {
        self.request = request
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        let buffer = unwrapInboundIn(data)
        head += buffer.readableBytesView.prefix(4096 - head.count)
        if let end = head.firstIndex(of: UInt8(ascii: "\n")) {
            finish(context, String(decoding: head[..<end], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        } else if head.count >= 4096 {
            finish(context, String(decoding: head.prefix(200), as: UTF8.self))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            if head.isEmpty {
                promise.fail(ChannelError.eof)
            } else {
                promise.succeed(String(decoding: head, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done {
            done = true
            promise.fail(error)
        }
        context.close(promise: nil)
    }

    private func finish(_ context: ChannelHandlerContext, _ line: String) {
        done = true
        promise.succeed(line)
        context.close(promise: nil)
    }
}

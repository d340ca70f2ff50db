import Foundation
import NIOCore
import NIOPosix

/// Checks that need no process: a TCP connection, an HTTP GET. Each is a few NIO operations on the shared event
/// loops, bounded by the check's timeout; nothing is read beyond the answer's first 4 KiB.
enum HealthProbe {
    struct Outcome: Sendable {
        var healthy: Bool
        var output: String
    }

    static func tcp(port: Int, timeout: Duration) async -> Outcome {
        do {
            return try await bounded(timeout) {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(TimeAmount(timeout))
                    .connect(host: "127.0.0.1", port: port).get()
                try? await channel.close()
                return Outcome(healthy: true, output: "connected to 127.0.0.1:\(port)")
            }
        } catch {
            return Outcome(healthy: false, output: "cannot connect to 127.0.0.1:\(port): \(describe(error, timeout))")
        }
    }

    static func http(port: Int, path: String, timeout: Duration) async -> Outcome {
        do {
            return try await bounded(timeout) {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(TimeAmount(timeout))
                    .connect(host: "127.0.0.1", port: port) { channel in
                        channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                    }
                let line = try await channel.executeThenClose { inbound, outbound in
                    let request = "GET \(path) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\nUser-Agent: geard-health\r\nConnection: close\r\n\r\n"
                    try await outbound.write(ByteBuffer(string: request))
                    var head: [UInt8] = []
                    for try await chunk in inbound {
                        head += chunk.readableBytesView
                        if head.contains(UInt8(ascii: "\n")) || head.count >= 4096 { break }
                    }
                    let end = head.firstIndex(of: UInt8(ascii: "\n")) ?? head.endIndex
                    return String(decoding: head[..<end], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                }
                return Outcome(healthy: statusCode(line).map { (200..<400).contains($0) } ?? false, output: String(line.prefix(200)))
            }
        } catch {
            return Outcome(healthy: false, output: "GET http://127.0.0.1:\(port)\(path): \(describe(error, timeout))")
        }
    }

    /// The code of an HTTP status line (`HTTP/1.1 200 OK`).
    static func statusCode(_ line: String) -> Int? {
        let parts = line.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), parts[1].count == 3 else { return nil }
        return Int(parts[1])
    }

    struct TimedOut: Error {}

    /// Runs `body`, cancelled with `TimedOut` when `timeout` passes first.
    static func bounded<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TimedOut()
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    static func describe(_ error: any Error, _ timeout: Duration) -> String {
        if error is TimedOut { return "no answer within \(timeout)" }
        if let error = error as? IOError { return error.description }
        return "\(error)"
    }
}

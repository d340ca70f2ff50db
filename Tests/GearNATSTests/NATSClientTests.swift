import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import Testing

@testable import GearNATS

/// The client against a scripted broker on loopback: the handshake, subscriptions made again after a reconnection,
/// and what a hostile or broken broker gets (the connection dropped, the client bounded and reconnecting).
/// Against the real nats-server: IntegrationTests/NATSBrokerTests.
struct NATSClientTests {
    static let info = #"INFO {"server_id":"FAKE","version":"2.9.10","max_payload":1024,"headers":true}"# + "\r\n"

    @Test func theHandshakeSubscriptionsAndFlushesWork() async throws {
        let broker = try await ScriptedBroker.start(greeting: Self.info)
        let client = try Self.client(broker.port)
        try await Self.running(client) {
            try await eventually { client.status == .connected(server: "nats://127.0.0.1:\(broker.port)") }
            let subscription = try await client.subscribe(to: "gear.v1.req.node1.>")
            try await client.publish(Array("x".utf8), to: "gear.v1.req.node1.status", replyTo: "gear.v1.rep.orch.node1.r1")
            try await client.flush()
            let lines = broker.lines
            #expect(lines.first?.hasPrefix("CONNECT {") == true)
            #expect(lines.contains("SUB gear.v1.req.node1.> 1"))
            #expect(lines.contains("PUB gear.v1.req.node1.status gear.v1.rep.orch.node1.r1 1"))
            // What the broker delivers reaches the subscription; its PING is answered.
            broker.send("PING\r\nMSG gear.v1.req.node1.status 1 gear.v1.rep.orch.node1.r1 2\r\nhi\r\n")
            var iterator = subscription.makeAsyncIterator()
            let message = try #require(try await iterator.next())
            #expect(message.payload == Array("hi".utf8) && message.replyTo == "gear.v1.rep.orch.node1.r1")
            try await eventually { broker.lines.contains("PONG") }
            // The broker's max_payload bounds what is sent, before anything is written.
            await #expect(throws: NATSError(.invalidArgument, "")) { try await client.publish([UInt8](repeating: 0, count: 1025), to: "a") }
        }
    }

    @Test func aLostConnectionIsMadeAgainWithItsSubscriptions() async throws {
        let broker = try await ScriptedBroker.start(greeting: Self.info)
        let client = try Self.client(broker.port)
        try await Self.running(client) {
            try await eventually { client.counters.connections == 1 }
            let subscription = try await client.subscribe(to: "a.>", queue: "q")
            try await client.flush()
            broker.dropConnections()
            try await eventually { client.counters.connections == 2 }
            try await eventually { broker.lines.filter { $0 == "SUB a.> q 1" }.count == 2 }
            broker.send("MSG a.b 1 1\r\nz\r\n")
            var iterator = subscription.makeAsyncIterator()
            #expect(try await iterator.next()?.payload == [UInt8(ascii: "z")])
        }
    }

    @Test func publishingWhileDisconnectedFailsAtOnce() async throws {
        let client = try Self.client(1)  // nothing listens on port 1
        try await Self.running(client) {
            try await eventually { if case .disconnected = client.status { true } else { false } }
            await #expect(throws: NATSError(.notConnected, "")) { try await client.publish([], to: "a") }
            await #expect(throws: NATSError(.notConnected, "")) { try await client.flush() }
        }
        await #expect(throws: NATSError(.closed, "")) { try await client.publish([], to: "a") }
    }

    @Test(arguments: [
        // (what the broker sends first or after CONNECT, what the client's status says)
        ("HELLO\r\n", "", "unknown operation"),
        ("PING\r\n", "", "did not start with INFO"),
        (info, "-ERR 'Authorization Violation'\r\n", "Authorization Violation"),
        (#"INFO {"tls_required":true}"# + "\r\n", "", "requires TLS"),
        (info, "PONG\r\nMSG a 1 2000000\r\n", "more than 1048576"),
        (info, "PONG\r\nMSG a 1 1\r\nxyz\r\n", "CRLF"),
        (String(repeating: "I", count: 20000), "", "longer than"),
    ])
    func aBrokerThatBreaksTheProtocolIsDroppedAndRetried(_ greeting: String, _ afterConnect: String, _ reason: String) async throws {
        let broker = try await ScriptedBroker.start(greeting: greeting, afterConnect: afterConnect, answerPings: afterConnect.isEmpty)
        let client = try Self.client(broker.port)
        try await Self.running(client) {
            try await eventually { "\(client.status)".contains(reason) }
            try await eventually { broker.connections >= 2 }  // and it tries again
        }
    }

    @Test func aClientWithACertificateRefusesABrokerWithoutTLS() async throws {
        let broker = try await ScriptedBroker.start(greeting: Self.info)
        var configuration = NATSConfiguration(servers: [NATSServerAddress(host: "127.0.0.1", port: broker.port)], name: "t")
        configuration.tls = TLSConfiguration.makeClientConfiguration()
        configuration.reconnectDelay = (.milliseconds(10), .milliseconds(50))
        let client = try NATSClient(configuration: configuration, logger: Logger(label: "test"))
        try await Self.running(client) {
            try await eventually { "\(client.status)".contains("refusing to connect in the clear") }
            #expect(!broker.lines.contains { $0.hasPrefix("CONNECT") })
        }
    }

    @Test func aSlowConsumerLosesTheNewestMessagesAndTheClientStaysBounded() async throws {
        let broker = try await ScriptedBroker.start(greeting: Self.info)
        var configuration = NATSConfiguration(servers: [NATSServerAddress(host: "127.0.0.1", port: broker.port)], name: "t")
        configuration.subscriptionBuffer = 10
        let client = try NATSClient(configuration: configuration, logger: Logger(label: "test"))
        try await Self.running(client) {
            try await eventually { client.counters.connections == 1 }
            let subscription = try await client.subscribe(to: "a")
            try await client.flush()
            broker.send((0..<1000).map { "MSG a 1 \(String($0).utf8.count)\r\n\($0)\r\n" }.joined() + "PING\r\n")
            try await eventually { broker.lines.contains("PONG") }
            #expect(subscription.dropped == 990 && client.counters.messagesDropped == 990)
            var iterator = subscription.makeAsyncIterator()
            #expect(try await iterator.next()?.payload == Array("0".utf8))
        }
    }

    @Test func aRefusedSubscriptionEndsWithTheRefusalAndARefusedPublicationFailsTheFlush() async throws {
        let broker = try await ScriptedBroker.start(greeting: Self.info)
        let client = try Self.client(broker.port)
        try await Self.running(client) {
            try await eventually { client.counters.connections == 1 }
            let subscription = try await client.subscribe(to: "gear.v1.req.node2.>")
            broker.send(#"-ERR 'Permissions Violation for Subscription to "gear.v1.req.node2.>"'"# + "\r\n")
            var iterator = subscription.makeAsyncIterator()
            await #expect(throws: NATSError(.permissionViolation, "")) { _ = try await iterator.next() }
            try await client.publish([], to: "gear.v1.rep.orch.node2.r2")
            broker.send(#"-ERR 'Permissions Violation for Publish to "gear.v1.rep.orch.node2.r2"'"# + "\r\n")
            try await eventually { client.counters.serverErrors == 2 }
            await #expect(throws: NATSError(.permissionViolation, "")) { try await client.flush() }
            try await client.flush()  // the refusal is reported once
        }
    }

    static func client(_ port: Int) throws -> NATSClient {
        var configuration = NATSConfiguration(servers: [NATSServerAddress(host: "127.0.0.1", port: port)], name: "test")
        configuration.reconnectDelay = (.milliseconds(10), .milliseconds(50))
        configuration.connectTimeout = .seconds(2)
        return try NATSClient(configuration: configuration, logger: Logger(label: "test"))
    }

    /// Runs the client while `body` runs, then stops it.
    static func running(_ client: NATSClient, _ body: () async throws -> Void) async throws {
        let task = Task { try await client.run() }
        defer { task.cancel() }
        try await body()
        task.cancel()
        _ = await task.result
    }
}

/// Polls `condition` until it holds (5 s at most).
func eventually(_ condition: () throws -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    for _ in 0..<500 {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("the condition did not hold within 5 s", sourceLocation: sourceLocation)
}

/// A broker that plays a script: its greeting on each connection, `afterConnect` after the client's CONNECT, PONG
/// for PING when asked; it records every line it receives.
final class ScriptedBroker: Sendable {
    let port: Int
    private let server: any Channel
    private let state = Mutex<(lines: [String], children: [any Channel], connections: Int)>(([], [], 0))

    private init(port: Int, server: any Channel) {
        self.port = port
        self.server = server
    }

    static func start(greeting: String, afterConnect: String = "", answerPings: Bool = true) async throws -> ScriptedBroker {
        let box = Mutex<ScriptedBroker?>(nil)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let broker = box.withLock { $0 }!
                    broker.state.withLock {
                        $0.children.append(channel)
                        $0.connections += 1
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(broker: broker, greeting: greeting, afterConnect: afterConnect, answerPings: answerPings))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let broker = ScriptedBroker(port: server.localAddress!.port!, server: server)
        box.withLock { $0 = broker }
        return broker
    }

    deinit { server.close(promise: nil) }

    var lines: [String] { state.withLock { $0.lines } }
    var connections: Int { state.withLock { $0.connections } }

    /// Sends bytes on every open connection.
    func send(_ text: String) {
        for child in state.withLock({ $0.children }) where child.isActive { child.writeAndFlush(ByteBuffer(string: text), promise: nil) }
    }

    func dropConnections() {
        for child in state.withLock({ $0.children }) { child.close(promise: nil) }
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let broker: ScriptedBroker
        let greeting: String
        let afterConnect: String
        let answerPings: Bool
        var pending = ""

        init(broker: ScriptedBroker, greeting: String, afterConnect: String, answerPings: Bool) {
            self.broker = broker
            self.greeting = greeting
            self.afterConnect = afterConnect
            self.answerPings = answerPings
        }

        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: greeting)), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            pending += String(buffer: Self.unwrapInboundIn(data))
            while let end = pending.range(of: "\r\n") {
                let line = String(pending[..<end.lowerBound])
                pending = String(pending[end.upperBound...])
                broker.state.withLock { $0.lines.append(line) }
                if line.hasPrefix("CONNECT"), !afterConnect.isEmpty {
                    context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: afterConnect)), promise: nil)
                }
                if line == "PING", answerPings { context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: "PONG\r\n")), promise: nil) }
            }
        }
    }
}

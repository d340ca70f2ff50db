import Foundation
import GearAPI
import GearNATS
import Testing

/// gear's NATS client against a real nats-server configured by `gear nats config`: a node hears only its own requests
/// and replies only as itself (the broker refuses the rest, and says so to the client and in its log), a certificate
/// outside the CA or outside the users gets no connection, a broker that dies is reconnected to with the
/// subscriptions made again, and a SIGHUP adds a node.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct NATSBrokerTests {
    @Test func aNodeHearsItsOwnRequestsAndRepliesOnlyAsItself() async throws {
        let broker = try await NATSBroker.start(nodes: ["node1", "node2"], callers: ["orch"])
        let (node1, node2, orch) = (try broker.client("node1"), try broker.client("node2"), try broker.client("orch"))
        try await running([node1, node2, orch]) {
            try await connected([node1, node2, orch])
            let requests1 = try await node1.subscribe(to: BusSubjects.nodeSubscriptions("node1")[0])
            let requests2 = try await node2.subscribe(to: BusSubjects.nodeSubscriptions("node2")[0])
            let replies = try await orch.subscribe(to: BusSubjects.callerSubscriptions("orch")[0])
            for client in [node1, node2, orch] { try await client.flush() }

            let request = BusSubjects.request(node: "node1", operation: "status")
            let replyTo = BusSubjects.reply(caller: "orch", node: "node1", requestID: "r1")
            try await orch.publish(Array("status?".utf8), to: request, replyTo: replyTo)
            try await orch.flush()
            var heard1 = requests1.makeAsyncIterator()
            let heard = try #require(try await heard1.next())
            #expect(heard.subject == request && heard.replyTo == replyTo && heard.payload == Array("status?".utf8))

            // The reply on node1's own subject arrives.
            try await node1.publish(Array("running".utf8), to: replyTo)
            try await node1.flush()
            var answers = replies.makeAsyncIterator()
            #expect(try await answers.next()?.subject == replyTo)

            // Replying as node2 is refused by the broker, and nothing reaches the caller.
            try await node1.publish(Array("forged".utf8), to: BusSubjects.reply(caller: "orch", node: "node2", requestID: "r2"))
            await #expect(throws: NATSError(.permissionViolation, "")) { try await node1.flush() }
            // Asking node2 (a node publishing a request) is refused; node2 hears nothing.
            try await node1.publish(Array("stop".utf8), to: BusSubjects.request(node: "node2", operation: "stop"))
            await #expect(throws: NATSError(.permissionViolation, "")) { try await node1.flush() }
            // Listening to node2's requests or to the caller's replies is refused.
            for subject in ["gear.v1.req.node2.>", "gear.v1.rep.orch.>", ">"] {
                let spy = try await node1.subscribe(to: subject)
                var iterator = spy.makeAsyncIterator()
                await #expect(throws: NATSError(.permissionViolation, ""), "\(subject)") { _ = try await iterator.next() }
            }
            // A marker after the refusals: the first thing the caller and node2 get is it, not what was forged.
            try await orch.publish(Array("marker".utf8), to: BusSubjects.request(node: "node2", operation: "status"))
            try await node2.publish(Array("marker".utf8), to: BusSubjects.reply(caller: "orch", node: "node2", requestID: "m"))
            try await node2.flush()
            var heard2 = requests2.makeAsyncIterator()
            #expect(try await heard2.next()?.payload == Array("marker".utf8))
            #expect(try await answers.next()?.payload == Array("marker".utf8))
        }
        let log = broker.log()
        #expect(log.contains("Publish Violation") && log.contains("Subscription Violation"), "\(log.suffix(3000))")
    }

    @Test func certificatesOutsideTheCAOrTheUsersGetNoConnection() async throws {
        let broker = try await NATSBroker.start(nodes: ["node1"], callers: ["orch"])
        // Signed by the CA but no user: the broker refuses it after TLS.
        let issued = try sh("\(Sandbox.gearPath) certs issue node node9 --out \(broker.pki)")
        #expect(issued.status == 0, "\(issued.output)")
        // Another CA's certificate: refused in the handshake.
        let other = broker.pki + "-other"
        #expect(try sh("\(Sandbox.gearPath) certs init --out \(other) && \(Sandbox.gearPath) certs issue node node1 --out \(other)").status == 0)
        let stranger = try broker.client("node9")
        let impostor = try broker.client("node1", pki: other)
        try await running([stranger, impostor]) {
            let refused = try await eventually { "\(stranger.status)".contains("Authorization Violation") }
            #expect(refused, "\(stranger.status)")
            let failed = try await eventually { "\(impostor.status)".contains("disconnected") }
            #expect(failed, "\(impostor.status)")
            await #expect(throws: NATSError(.notConnected, "")) { try await impostor.publish([], to: "gear.v1.rep.orch.node1.x") }
            #expect(stranger.counters.connections == 0 && impostor.counters.connections == 0)
        }
    }

    @Test func aBrokerThatDiesIsReconnectedToWithTheSubscriptionsAndSIGHUPAddsANode() async throws {
        let broker = try await NATSBroker.start(nodes: ["node1"], callers: ["orch"])
        let (node1, orch) = (try broker.client("node1"), try broker.client("orch"))
        try await running([node1, orch]) {
            try await connected([node1, orch])
            let requests = try await node1.subscribe(to: "gear.v1.req.node1.>")
            try await node1.flush()
            broker.kill()
            #expect(try await eventually { "\(orch.status)".contains("disconnected") })
            await #expect(throws: NATSError(.notConnected, "")) { try await orch.publish([], to: "gear.v1.req.node1.status") }
            try await broker.launch()
            #expect(try await eventually { node1.counters.connections == 2 && orch.counters.connections == 2 })
            try await node1.flush()  // its subscription was sent again before this PING
            try await orch.publish(Array("again".utf8), to: "gear.v1.req.node1.status")
            var iterator = requests.makeAsyncIterator()
            #expect(try await iterator.next()?.payload == Array("again".utf8))

            // A node added to the configuration, and a SIGHUP: it connects without a restart of the broker.
            #expect(try sh("\(Sandbox.gearPath) certs issue node node3 --out \(broker.pki)").status == 0)
            try broker.configure(nodes: ["node1", "node3"], callers: ["orch"])
            broker.reload()
            let node3 = try broker.client("node3")
            try await running([node3]) {
                let joined = try await eventually { node3.counters.connections == 1 }
                #expect(joined, "\(node3.status)")
            }
            #expect(node1.counters.connections == 2, "the reload kept the others' connections")
        }
    }

    /// Runs the clients while `body` runs, then stops them.
    func running(_ clients: [NATSClient], _ body: () async throws -> Void) async throws {
        let tasks = clients.map { client in Task { try await client.run() } }
        defer { for task in tasks { task.cancel() } }
        try await body()
    }

    /// Waits until each client has connected once.
    func connected(_ clients: [NATSClient]) async throws {
        for client in clients {
            let up = try await eventually(timeout: .seconds(10)) { client.counters.connections > 0 }
            #expect(up, "\(client.configuration.name): \(client.status)")
        }
    }
}

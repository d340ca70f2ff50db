import Foundation
import GearAPI
import GearAuthorization
import GearBus
import GearCertificates
import GearNATS
import Logging
import Testing

/// The caller's side of the bus against the real nats-server: a signed request reaches the node it names, whose
/// signed answer is accepted; a broadcast collects each node's answer once; a second answer from a node and an
/// unsigned answer to no live request are refused and counted, never shown as an answer. (An answer from a node
/// that was not asked, or one signed by another node, is refused by `BusReply.verify`: BusEnvelopeTests; the broker
/// keeps a node from hearing another's requests: NATSBrokerTests.) The node side here is the test's own responder,
/// verifying and signing with each node's certificate as geard's bus transport is to.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct BusCallerTests {
    @Test func answersAreAcceptedOnlyFromTheNodesAskedAndSignedByThem() async throws {
        let broker = try await NATSBroker.start(nodes: ["node1", "node2"], callers: ["orch"])
        let (node1, node2, orchClient) = (try broker.client("node1"), try broker.client("node2"), try broker.client("orch"))
        let roots = try PEMFiles.readCertificates("\(broker.pki)/ca.crt")
        let caller = BusCaller(
            client: orchClient, name: "orch", signer: try Self.signer(broker, "orch"), roots: roots, logger: Logger(label: "bus.orch"))
        let tasks = [node1, node2, orchClient].map { client in Task { try await client.run() } } + [Task { try await caller.listen() }]
        defer { for task in tasks { task.cancel() } }
        for client in [node1, node2, orchClient] {
            let up = try await eventually(timeout: .seconds(10)) { client.counters.connections > 0 }
            #expect(up, "\(client.status)")
        }
        // node1 answers what it is asked, signed; node2 answers everything twice.
        let responders = [
            Task { try await Self.respond(node1, "node1", broker: broker) },
            Task { try await Self.respond(node2, "node2", broker: broker, twice: true) },
        ]
        defer { for task in responders { task.cancel() } }
        for client in [node1, node2, orchClient] { try await client.flush() }

        let answer = try await caller.request(
            node: "node1", operation: "container.read", method: "GET", path: "/container/web/status", timeout: .seconds(5))
        #expect(answer.node == "node1" && answer.status == 200 && String(decoding: answer.body, as: UTF8.self) == #"{"node":"node1"}"#)

        #expect(caller.rejected == 0)

        // A broadcast collects for its whole timeout: each node once, node2's second answer refused.
        let answers = try await caller.broadcast(operation: "container.list", method: "GET", path: "/containers", timeout: .seconds(1))
        #expect(answers.map(\.node).sorted() == ["node1", "node2"], "\(answers)")
        #expect(caller.rejected == 1)

        // An unsigned answer to no live request, on a subject the broker lets node2 publish on.
        try await node2.publish(Array("x".utf8), to: "gear.v1.rep.orch.node2.\(UUID().uuidString.lowercased())")
        try await node2.flush()
        let refused = try await eventually(timeout: .seconds(5)) { caller.rejected == 2 }
        #expect(refused, "\(caller.rejected)")
    }

    static func signer(_ broker: NATSBroker, _ name: String) throws -> TokenSigner {
        try TokenSigner(certificateFile: "\(broker.pki)/\(name).crt", keyFile: "\(broker.pki)/\(name).key")
    }

    /// A node's stand-in: verifies each request as geard's bus transport is to and answers `{"node":NAME}`, signed;
    /// `twice` sends each answer a second time.
    static func respond(_ client: NATSClient, _ name: String, broker: NATSBroker, twice: Bool = false) async throws {
        let signer = try signer(broker, name)
        let roots = try PEMFiles.readCertificates("\(broker.pki)/ca.crt")
        let requests = try await client.subscribe(to: BusSubjects.nodeSubscriptions(name)[0])
        let broadcasts = try await client.subscribe(to: BusSubjects.nodeSubscriptions(name)[1])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for subscription in [requests, broadcasts] {
                group.addTask {
                    for try await message in subscription {
                        guard let text = message.headers?[BusRequest.header] else { continue }
                        let request = try BusRequest(parsing: text)
                        _ = try await request.verify(
                            node: name, subject: message.subject, replyTo: message.replyTo, body: message.payload, roots: roots)
                        let body = Array(#"{"node":"\#(name)"}"#.utf8)
                        var headers = NATSHeaders()
                        let claims = BusReply.Claims(
                            rid: request.claims.rid, caller: request.claims.caller, node: name, status: 200, sha256: BusRequest.digest(body),
                            iat: Int64(Date().timeIntervalSince1970))
                        try headers.append(BusReply.header, try BusReply.sign(claims, signer: signer))
                        try await client.publish(body, to: request.replySubject(node: name), headers: headers)
                        if twice { try await client.publish(body, to: request.replySubject(node: name), headers: headers) }
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

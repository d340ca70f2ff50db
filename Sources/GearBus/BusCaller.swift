public import Foundation
import GearAPI
public import GearAuthorization
public import GearCertificates
public import GearNATS
public import Logging
import Synchronization
public import X509

/// One node's answer to a request on the bus, verified: signed by the node its subject names, for a live request.
public struct BusAnswer: Sendable, Hashable {
    /// The node that answered (its certificate's common name, and the node token of the reply's subject).
    public var node: String
    /// The status, as HTTP would give it.
    public var status: Int
    /// The answer's JSON.
    public var body: [UInt8]
    /// The signed reply as it came (`Gear-Reply`), to verify again later.
    public var signature: String
}

/// The caller's side of gear's bus: requests signed with the caller's key, published on the target's subject with a
/// reply subject only this caller may listen on, and a registry of live requests that accepts an answer only if it
/// answers one of them, came on the subject of a node that request asked, and carries that node's signature.
/// Anything else is counted (`rejected`) and logged, never shown as a node's answer.
public final class BusCaller: Sendable {
    let client: NATSClient
    /// The caller's name: its certificate's common name, the caller token of its reply subjects.
    public let name: String
    let signer: TokenSigner
    let roots: [Certificate]
    let logger: Logger
    let live = Mutex<[String: LiveRequest]>([:])
    let rejections = Atomic<Int>(0)
    /// The nodes' certificates that chained lately: a broadcast's answers pay for a signature each, not a chain.
    let chains = ChainCache()

    /// The most answers a broadcast collects.
    public static let maxAnswers = 10_000

    public init(client: NATSClient, name: String, signer: TokenSigner, roots: [Certificate], logger: Logger) {
        self.client = client
        self.name = name
        self.signer = signer
        self.roots = roots
        self.logger = logger
    }

    /// Replies refused so far: unsolicited, late, from a node not asked, badly signed, or a second one from a node.
    public var rejected: Int { rejections.load(ordering: .relaxed) }

    /// Listens for replies until the task is cancelled (run it beside the client's `run()`).
    public func listen() async throws {
        let replies = try await client.subscribe(to: BusSubjects.callerSubscriptions(name)[0])
        for try await message in replies { await accept(message) }
    }

    /// Asks one node the API request `method path` (with `body`), which is the operation `operation`; throws
    /// `timeout` when it does not answer within `timeout`.
    public func request(
        node: String, operation: String, method: String, path: String, body: [UInt8] = [], timeout: Duration = .seconds(10)
    ) async throws -> BusAnswer {
        let call = Call(operation: operation, method: method, path: path, body: body)
        let answers = try await send(node: node, call, timeout: timeout, expected: 1)
        guard let answer = answers.first else { throw NATSError(.timeout, "\(node) did not answer within \(timeout)") }
        return answer
    }

    /// Asks every node; collects the answers that come within `timeout` (or until `expected` answered).
    public func broadcast(
        operation: String, method: String, path: String, body: [UInt8] = [], timeout: Duration = .seconds(2), expected: Int? = nil
    ) async throws -> [BusAnswer] {
        let call = Call(operation: operation, method: method, path: path, body: body)
        return try await send(node: BusRequest.everyNode, call, timeout: timeout, expected: expected ?? Self.maxAnswers)
    }

    struct Call {
        var operation: String
        var method: String
        var path: String
        var body: [UInt8]
    }

    func send(node: String, _ call: Call, timeout: Duration, expected: Int) async throws -> [BusAnswer] {
        let body = call.body
        let rid = UUID().uuidString.lowercased()
        let now = Int64(Date().timeIntervalSince1970)
        let lifetime = min(BusRequest.maxLifetime, max(1, Int64(timeout.components.seconds) + 1))
        let claims = BusRequest.Claims(
            rid: rid, caller: name, node: node, op: call.operation, method: call.method, path: call.path, sha256: BusRequest.digest(body), iat: now,
            exp: now + lifetime)
        var headers = NATSHeaders()
        try headers.append(BusRequest.header, try BusRequest.sign(claims, signer: signer))
        let (stream, continuation) = AsyncStream.makeStream(of: BusAnswer.self, bufferingPolicy: .bufferingOldest(min(expected, Self.maxAnswers)))
        live.withLock { $0[rid] = LiveRequest(claims: claims, continuation: continuation) }
        defer { live.withLock { _ = $0.removeValue(forKey: rid) } }
        // Each node answers on its own reply subject (`gear.v1.rep.CALLER.NODE.RID`): a request to one node names it
        // as its reply subject, a broadcast names none.
        let replyTo = node == BusRequest.everyNode ? nil : BusSubjects.reply(caller: name, node: node, requestID: rid)
        try await client.publish(body, to: claims.subject, replyTo: replyTo, headers: headers)
        let timer = Task {
            try? await Task.sleep(for: timeout)
            continuation.finish()
        }
        defer { timer.cancel() }
        var answers: [BusAnswer] = []
        for await answer in stream {
            answers.append(answer)
            if answers.count >= expected { break }
        }
        return answers
    }

    /// A message on the caller's reply subjects: handed to its live request if it is a verified answer to it.
    func accept(_ message: NATSMessage) async {
        let tokens = message.subject.split(separator: ".")
        func reject(_ reason: String) {
            rejections.add(1, ordering: .relaxed)
            logger.warning("bus: a reply refused", metadata: ["bus.subject": "\(message.subject)", "bus.reason": "\(reason)"])
        }
        guard tokens.count == 6 else { return reject("not a reply subject") }
        let node = String(tokens[4])
        let rid = String(tokens[5])
        guard let request = live.withLock({ $0[rid] }) else { return reject("it answers no live request") }
        guard let text = message.headers?[BusReply.header] else { return reject("it is not signed") }
        do {
            let reply = try BusReply(parsing: text)
            _ = try await reply.verify(request.claims, subject: message.subject, body: message.payload, roots: roots, cache: chains)
            let first = live.withLock { live in live[rid]?.answered.insert(node).inserted ?? false }
            guard first else { return reject("a second answer from \(node)") }
            request.continuation.yield(BusAnswer(node: node, status: reply.claims.status, body: message.payload, signature: text))
        } catch {
            reject("\(error)")
        }
    }
}

/// A request waiting for its answers.
struct LiveRequest: Sendable {
    let claims: BusRequest.Claims
    let continuation: AsyncStream<BusAnswer>.Continuation
    var answered: Set<String> = []
}

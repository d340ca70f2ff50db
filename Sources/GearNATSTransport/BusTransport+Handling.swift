import Foundation
import GearAPI
import GearAuthorization
import GearCertificates
import GearNATS
import Logging
import Synchronization

extension BusTransport {
    /// One request: verified, checked against replays, run through the API, answered signed. A request that is not
    /// signed, or whose signature does not verify, is from nobody: it is counted and audited, not answered.
    func handle(_ message: NATSMessage) async {
        let node = configuration.node
        guard let text = message.headers?[BusRequest.header] else { return refuse(message, nil, "the request is not signed") }
        let request: BusRequest
        do {
            request = try BusRequest(parsing: text)
        } catch {
            return refuse(message, nil, error.message)
        }
        guard request.hasValidSignature else { return refuse(message, request, "the signature does not verify") }
        let caller: PeerIdentity
        do {
            caller = try await request.verify(
                node: node, subject: message.subject, replyTo: message.replyTo, body: message.payload, roots: configuration.roots(), cache: chains)
        } catch {
            refuse(message, request, error.message)
            return await reply(request, status: 401, error: "unauthenticated", error.message)
        }
        switch seen.admit(text, until: request.claims.exp) {
        case .fresh: break
        case .replayed:
            refuse(message, request, "a replay of a request already answered")
            return await reply(
                request, status: 409, error: GearError.Code.conflict.rawValue, "this request was answered already: sign it again to repeat it")
        case .full:
            return await reply(request, status: 503, error: GearError.Code.queueFull.rawValue, "too many recent requests to tell a replay: try again")
        }
        guard let operation = Operation.all.first(where: { $0.rawValue == request.claims.op }) else {
            return await reply(request, status: 400, error: GearError.Code.invalidRequest.rawValue, "no operation \(request.claims.op)")
        }
        let answer = await self.answer(
            BusCall(
                method: request.claims.method, path: request.claims.path, body: message.payload, requestID: request.claims.rid, caller: caller,
                operation: operation))
        counters.withLock { $0.answered += 1 }
        await reply(request, status: answer.status, body: answer.body)
    }

    /// A request past `maxInFlight`: answered 503 on the reply subject it names, if that is one of this node's
    /// (the broker lets the node publish nowhere else), without the cost of verifying it.
    func busy(_ message: NATSMessage) async {
        counters.withLock { $0.busy += 1 }
        guard let replyTo = message.replyTo else { return }
        let tokens = replyTo.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard tokens.count == 6, tokens[0...2] == ["gear", "v1", "rep"], tokens[4] == configuration.node else { return }
        let body = Self.error(
            GearError.Code.queueFull.rawValue, "\(configuration.maxInFlight) requests are being handled: try again", requestID: tokens[5])
        await publish(body, status: 503, rid: tokens[5], caller: tokens[3], to: replyTo)
    }

    func reply(_ request: BusRequest, status: Int, error code: String, _ message: String) async {
        await reply(request, status: status, body: Self.error(code, message, requestID: request.claims.rid))
    }

    func reply(_ request: BusRequest, status: Int, body: [UInt8]) async {
        await publish(
            body, status: status, rid: request.claims.rid, caller: request.claims.caller, to: request.replySubject(node: configuration.node))
    }

    func publish(_ body: [UInt8], status: Int, rid: String, caller: String, to subject: String) async {
        let claims = BusReply.Claims(
            rid: rid, caller: caller, node: configuration.node, status: status, sha256: BusRequest.digest(body),
            iat: Int64(Date().timeIntervalSince1970))
        do {
            var headers = NATSHeaders()
            try headers.append(BusReply.header, try BusReply.sign(claims, signer: configuration.signer))
            try await client.publish(body, to: subject, headers: headers)
        } catch {
            logger.warning("bus: cannot answer", metadata: ["bus.subject": "\(subject)", "bus.error": "\(error)"])
        }
    }

    static func error(_ code: String, _ message: String, requestID: String) -> [UInt8] {
        (try? GearJSON.encoder().encode(APIError(error: code, message: message, requestId: requestID))).map(Array.init) ?? []
    }

    /// Counts and audits a request refused before the API.
    func refuse(_ message: NATSMessage, _ request: BusRequest?, _ reason: String) {
        counters.withLock { $0.refused += 1 }
        let identity = request.flatMap { try? PeerIdentity(certificate: $0.certificate) }
        audit.record(
            AuditRecord(
                identity: identity?.description ?? "unsigned", fingerprint: identity?.fingerprint, operation: request?.claims.op ?? "-",
                target: nil, requestID: request?.claims.rid ?? "-", allowed: false,
                reason: reason.hasPrefix("bus request refused") ? reason : "bus request refused: \(reason)", roles: [],
                origin: RequestOrigin(transport: "nats", request: message.subject)))
        logger.warning("bus: a request refused", metadata: ["bus.subject": "\(message.subject)", "bus.reason": "\(reason)"])
    }
}

/// The requests answered lately, by their signed text, until they expire: the same signed request is answered once.
/// (A caller that repeats a mutation signs it again with the same request id: the job queue answers it with the same
/// job.) Bounded: when full of unexpired entries, new requests are turned away rather than let through unchecked.
final class ReplayGuard: Sendable {
    enum Admission { case fresh, replayed, full }

    let capacity: Int
    private let entries = Mutex<[String: Int64]>([:])

    init(capacity: Int) { self.capacity = capacity }

    func admit(_ text: String, until expiry: Int64, now: Int64 = Int64(Date().timeIntervalSince1970)) -> Admission {
        let key = BusRequest.digest(Array(text.utf8))
        return entries.withLock { entries in
            if let until = entries[key], until + BusRequest.clockSkew >= now { return .replayed }
            if entries.count >= capacity { entries = entries.filter { $0.value + BusRequest.clockSkew >= now } }
            guard entries.count < capacity else { return .full }
            entries[key] = expiry
            return .fresh
        }
    }
}

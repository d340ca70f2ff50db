public import Foundation
public import GearAPI
public import GearCertificates
public import X509

/// A node's reply on gear's bus, signed by the node's certificate key (a compact JWS in the `Gear-Reply` header,
/// the answer's JSON as the payload), so that it can be attributed again later without trusting the broker: it names
/// the request id, the caller, the node, the status (HTTP's codes) and the body's SHA-256.
public struct BusReply: Sendable {
    public static let type = "gear-bus-reply+jwt"
    public static let header = "Gear-Reply"

    public struct Claims: Codable, Sendable, Equatable {
        public var rid: String
        public var caller: String
        /// The answering node: its certificate's common name.
        public var node: String
        /// The status of the answer, as HTTP would give it (200, 202, 404, ...).
        public var status: Int
        public var sha256: String
        public var iat: Int64

        public init(rid: String, caller: String, node: String, status: Int, sha256: String, iat: Int64) {
            self.rid = rid
            self.caller = caller
            self.node = node
            self.status = status
            self.sha256 = sha256
            self.iat = iat
        }
    }

    public let claims: Claims
    let jws: CompactJWS
    /// The node's certificate, as the reply carries it.
    public var certificate: Certificate { jws.certificate }

    /// Signs a reply with `signer`'s certificate key (the text of its `Gear-Reply` header).
    public static func sign(_ claims: Claims, signer: TokenSigner) throws -> String {
        try signer.sign(claims, type: type)
    }

    /// Reads a reply (not verified yet: `verify`).
    public init(parsing text: String) throws(AuthorizationError) {
        do {
            jws = try CompactJWS(parsing: text, type: Self.type, what: "reply")
            claims = try jws.decode(Claims.self, what: "reply")
        } catch {
            throw .unauthenticated("bus reply refused: \(error.message)")
        }
    }

    /// Checks a reply `caller` received on `subject` with `body`, for its live request `request` (its id and
    /// target): the signature, the node's certificate (it chains to `roots`, may serve, and its common name is the
    /// node the subject names), the subject, the request it answers, and the body's digest. Answers the node.
    public func verify(
        _ request: BusRequest.Claims, subject: String, body: some DataProtocol, roots: [Certificate], cache: ChainCache? = nil
    ) async throws(AuthorizationError) -> String {
        func refuse(_ reason: String) -> AuthorizationError { .unauthenticated("bus reply refused: \(reason)") }
        guard jws.hasValidSignature else { throw refuse("the signature does not verify") }
        let chains: Bool
        if let cache {
            chains = await cache.chains(jws, to: roots, usage: .serverAuth)
        } else {
            chains = await jws.chains(to: roots, usage: .serverAuth)
        }
        guard chains else {
            throw refuse("the node's certificate does not chain to the CAs, is not valid now, or may not serve")
        }
        guard let node = (try? PeerIdentity(certificate: certificate))?.commonName, node == claims.node else {
            throw refuse("it names the node \(claims.node), its certificate another")
        }
        guard request.node == node || request.node == BusRequest.everyNode else { throw refuse("\(node) was not asked") }
        guard subject == BusSubjects.reply(caller: request.caller, node: node, requestID: request.rid) else {
            throw refuse("it came on \(subject), not on \(node)'s reply subject for this request")
        }
        guard claims.rid == request.rid, claims.caller == request.caller else { throw refuse("it answers another request") }
        guard claims.sha256 == BusRequest.digest(body) else { throw refuse("the body is not the one signed") }
        return node
    }
}

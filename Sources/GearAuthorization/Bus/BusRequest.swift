import Crypto
public import Foundation
public import GearAPI
public import GearCertificates
public import X509

/// A request on gear's bus, signed by its caller's certificate key: a compact JWS (ES256, the caller's certificate
/// in `x5c`) in the message's `Gear-Request` header, the operation's JSON body as the payload. It names its request
/// id, caller, target node (`*` for a broadcast), operation, the body's SHA-256 and its lifetime; a node accepts it
/// only on the subject and with the reply subject those claims make (docs/nats.md).
public struct BusRequest: Sendable {
    public static let type = "gear-bus-request+jwt"
    /// The message header that carries it.
    public static let header = "Gear-Request"
    /// The longest a request may live (`exp - iat`), and how far clocks may disagree.
    public static let maxLifetime: Int64 = 300
    public static let clockSkew: Int64 = 30
    /// The node of a broadcast.
    public static let everyNode = "*"

    public struct Claims: Codable, Sendable, Equatable {
        /// The request id (a `RequestID` in its canonical form): the job id of a mutation, the last token of the reply
        /// subject.
        public var rid: String
        /// The caller: its certificate's common name.
        public var caller: String
        /// The target node, or `*` for every node.
        public var node: String
        /// The operation, as access policies name it (`container.read`, `container.install`): the last tokens of the
        /// request subject, so that a broker may allow a caller some operations only.
        public var op: String
        /// The API request it carries: the method and the path with its query, as over HTTPS (`PUT`,
        /// `/container/web/started?wait=30`); the body is the message's payload.
        public var method: String
        public var path: String
        /// SHA-256 of the body, base64url.
        public var sha256: String
        public var iat: Int64
        public var exp: Int64

        public init(
            rid: String, caller: String, node: String, op: String, method: String, path: String, sha256: String, iat: Int64, exp: Int64
        ) {
            self.rid = rid
            self.caller = caller
            self.node = node
            self.op = op
            self.method = method
            self.path = path
            self.sha256 = sha256
            self.iat = iat
            self.exp = exp
        }

        /// The subject it goes on.
        public var subject: String {
            node == BusRequest.everyNode ? BusSubjects.broadcast(operation: op) : BusSubjects.request(node: node, operation: op)
        }
    }

    public let claims: Claims
    let jws: CompactJWS
    /// The caller's certificate, as the request carries it.
    public var certificate: Certificate { jws.certificate }

    /// The base64url SHA-256 of `body`.
    public static func digest(_ body: some DataProtocol) -> String { Base64URL.encode(Data(SHA256.hash(data: Data(body)))) }

    /// Signs a request with `signer`'s certificate key (the text of its `Gear-Request` header).
    public static func sign(_ claims: Claims, signer: TokenSigner) throws -> String {
        try signer.sign(claims, type: type)
    }

    /// Reads a request (not verified yet: `verify`).
    public init(parsing text: String) throws(AuthorizationError) {
        do {
            jws = try CompactJWS(parsing: text, type: Self.type, what: "request")
            claims = try jws.decode(Claims.self, what: "request")
        } catch {
            throw .unauthenticated("bus request refused: \(error.message)")
        }
    }

    /// Whether the signature was made by the key of the certificate it carries (a request that fails here is from
    /// nobody: a node does not answer it).
    public var hasValidSignature: Bool { jws.hasValidSignature }

    /// Where node `node` answers it: the caller's reply subject for that node and the request id.
    public func replySubject(node: String) -> String { BusSubjects.reply(caller: claims.caller, node: node, requestID: claims.rid) }

    /// Checks the request as node `node` received it on `subject` with `replyTo` (absent for a broadcast) and `body`: the signature, the
    /// caller's certificate (it chains to `roots`, may authenticate a client, and its common name is the caller),
    /// the target, the subjects, the body's digest, the id and the time. Not checked here: whether the id was seen
    /// before (the transport's ledger) and what the caller may do (the `Authorizer`).
    public func verify(
        node: String, subject: String, replyTo: String?, body: some DataProtocol, roots: [Certificate], cache: ChainCache? = nil,
        now: Date = Date()
    ) async throws(AuthorizationError) -> PeerIdentity {
        func refuse(_ reason: String) -> AuthorizationError { .unauthenticated("bus request refused: \(reason)") }
        guard jws.hasValidSignature else { throw refuse("the signature does not verify") }
        let chains: Bool
        if let cache { chains = await cache.chains(jws, to: roots, usage: .clientAuth) } else { chains = await jws.chains(to: roots) }
        guard chains else { throw refuse("the caller's certificate does not chain to this node's CAs, or is not valid now") }
        let identity: PeerIdentity
        do {
            identity = try PeerIdentity(certificate: certificate)
        } catch {
            throw refuse("the caller's certificate cannot be read")
        }
        guard identity.commonName == claims.caller else { throw refuse("it names the caller \(claims.caller), its certificate another") }
        guard claims.node == node || claims.node == Self.everyNode else { throw refuse("it is for \(claims.node), not \(node)") }
        guard BusSubjects.problem(withName: claims.caller) == nil, BusSubjects.problem(withOperation: claims.op) == nil else {
            throw refuse("its caller or operation cannot be in a subject")
        }
        guard (1...16).contains(claims.method.utf8.count), claims.method.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }),
            claims.path.hasPrefix("/"), claims.path.utf8.count <= 4096, !claims.path.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F })
        else { throw refuse("its method or path is malformed") }
        guard subject == claims.subject else { throw refuse("it came on \(subject), not \(claims.subject)") }
        guard (try? RequestID(claims.rid))?.rawValue == claims.rid else { throw refuse("its id is not a request id in canonical form") }
        // The node answers on the caller's reply subject for this node and id, whatever the message names; a message
        // that names another is refused rather than half-believed.
        guard replyTo == nil || replyTo == replySubject(node: node) else {
            throw refuse("its reply subject is not the caller's for this node and id")
        }
        guard claims.sha256 == Self.digest(body) else { throw refuse("the body is not the one signed") }
        let seconds = Int64(now.timeIntervalSince1970)
        guard claims.exp > claims.iat, claims.exp - claims.iat <= Self.maxLifetime else {
            throw refuse("it may live at most \(Self.maxLifetime) seconds")
        }
        guard seconds + Self.clockSkew >= claims.iat else { throw refuse("it is not valid yet") }
        guard seconds - Self.clockSkew <= claims.exp else { throw refuse("it has expired") }
        return identity
    }
}

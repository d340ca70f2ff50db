public import Crypto
import Foundation
import SwiftASN1
public import X509

/// A delegation token: an orchestrator (the issuer) lets one holder (a node, by its certificate) call one target
/// node for a few operations on some containers, for a short while.
///
/// The format is a compact JWS: `base64url(header).base64url(claims).base64url(signature)`, signed ES256 with the
/// issuer's certificate key; the header carries the issuer's certificate (`x5c`), so the target needs no key list:
/// the certificate must chain to its CAs, and the issuer's own grants bound what the token can give.
public struct DelegationToken: Sendable {
    public struct Claims: Codable, Sendable, Equatable {
        /// The issuer's common name (informational; the signature and `x5c` decide).
        public var iss: String
        /// The holder: an identity matcher (`cn:node1`, `fingerprint:HEX`) the presenting certificate must match.
        public var sub: String
        /// The target node: its certificate's common name.
        public var aud: String
        /// Operations granted (`container.stop`, `container.*`).
        public var ops: [String]
        /// Container id patterns; absent means every container the issuer may touch.
        public var containers: [String]?
        public var nbf: Int64
        public var exp: Int64
        /// A unique id (replay protection).
        public var jti: String
        /// A one-time token: the target accepts it once.
        public var once: Bool?

        public init(
            iss: String, sub: String, aud: String, ops: [String], containers: [String]?, nbf: Int64, exp: Int64, jti: String, once: Bool?
        ) {
            self.iss = iss
            self.sub = sub
            self.aud = aud
            self.ops = ops
            self.containers = containers
            self.nbf = nbf
            self.exp = exp
            self.jti = jti
            self.once = once
        }
    }

    public static let type = "gear-delegation+jwt"

    public var claims: Claims
    /// The issuer's certificate, as the header carries it.
    public var issuerCertificate: Certificate { jws.certificate }
    let jws: CompactJWS

    /// Signs `claims` with the issuer's P-256 key; `certificate` is the issuer's certificate for that key.
    public static func sign(_ claims: Claims, key: P256.Signing.PrivateKey, certificate: Certificate) throws -> String {
        try CompactJWS.sign(claims, type: type, key: key, certificate: certificate)
    }

    /// Parses a token (it is not verified yet: see `hasValidSignature`).
    public init(parsing text: String) throws(PKIError) {
        jws = try CompactJWS(parsing: text, type: Self.type, what: "token")
        claims = try jws.decode(Claims.self, what: "token")
    }

    /// The bytes the signature covers (`header.claims`).
    var signingInput: [UInt8] { jws.signingInput }

    /// Whether the signature was made by the key of `issuerCertificate`.
    public var hasValidSignature: Bool { jws.hasValidSignature }

    /// Whether `issuerCertificate` chains to one of `roots`, is valid now and may authenticate a client.
    public func issuerChains(to roots: [Certificate]) async -> Bool { await jws.chains(to: roots) }
}

/// Signs delegation tokens (what `gear token issue` uses) and other JWS with a certificate's P-256 key.
public struct TokenSigner: @unchecked Sendable {
    // @unchecked Sendable: both fields are immutable. swift-crypto does not mark its key Sendable, but the key is a
    // wrapper over a BoringSSL EC_KEY that signing only reads (ECDSA_do_sign takes it const), so signatures from
    // several tasks at once are safe. Rebuilding the key from its scalar per signature (as before) costs a scalar
    // multiplication, as much as the signature itself, on every answer a node signs.
    let certificate: Certificate
    let key: P256.Signing.PrivateKey

    public init(certificateFile: String, keyFile: String) throws {
        certificate = try PEMFiles.readCertificate(certificateFile)
        do {
            key = try P256.Signing.PrivateKey(pemRepresentation: try PEMFiles.readText(keyFile))
        } catch let error as PKIError {
            throw error
        } catch {
            throw PKIError("\(keyFile) is not a P-256 private key: \(error)")
        }
    }

    /// The issuer's common name.
    public var issuer: String { (try? PeerIdentity(certificate: certificate).commonName) ?? nil ?? "" }

    public func sign(_ claims: DelegationToken.Claims) throws -> String {
        try DelegationToken.sign(claims, key: key, certificate: certificate)
    }

    /// Signs any claims as a compact JWS of type `type` (the bus's requests and replies).
    public func sign(_ claims: some Encodable, type: String) throws -> String {
        try CompactJWS.sign(claims, type: type, key: key, certificate: certificate)
    }
}

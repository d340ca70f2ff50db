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

    struct Header: Codable {
        var alg: String
        var typ: String
        var x5c: [String]
    }

    public static let type = "gear-delegation+jwt"

    public var claims: Claims
    /// The issuer's certificate, as the header carries it.
    public var issuerCertificate: Certificate
    let signingInput: [UInt8]
    let signature: Data

    /// Signs `claims` with the issuer's P-256 key; `certificate` is the issuer's certificate for that key.
    public static func sign(_ claims: Claims, key: P256.Signing.PrivateKey, certificate: Certificate) throws -> String {
        guard let certificateKey = P256.Signing.PublicKey(certificate.publicKey), certificateKey.rawRepresentation == key.publicKey.rawRepresentation
        else {
            throw PKIError("the key does not belong to the certificate \(certificate.subject)")
        }
        let header = Header(alg: "ES256", typ: type, x5c: [Data(try PEMFiles.der(certificate)).base64EncodedString()])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let input = Base64URL.encode(try encoder.encode(header)) + "." + Base64URL.encode(try encoder.encode(claims))
        let signature = try key.signature(for: Data(input.utf8))
        return input + "." + Base64URL.encode(signature.rawRepresentation)
    }

    /// Parses a token (it is not verified yet: see `verifySignature`).
    public init(parsing text: String) throws(PKIError) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard text.utf8.count <= 16 * 1024, parts.count == 3,
            let headerData = Base64URL.decode(parts[0]), let claimsData = Base64URL.decode(parts[1]), let signature = Base64URL.decode(parts[2])
        else { throw PKIError("the token is not three base64url parts") }
        guard let header = try? JSONDecoder().decode(Header.self, from: headerData) else { throw PKIError("the token's header is malformed") }
        guard header.alg == "ES256", header.typ == Self.type else { throw PKIError("the token is not an ES256 \(Self.type)") }
        guard let first = header.x5c.first, let der = Data(base64Encoded: first), let certificate = try? Certificate(derEncoded: Array(der)) else {
            throw PKIError("the token carries no readable issuer certificate")
        }
        guard let claims = try? JSONDecoder().decode(Claims.self, from: claimsData) else { throw PKIError("the token's claims are malformed") }
        self.claims = claims
        self.issuerCertificate = certificate
        self.signingInput = Array(text.utf8[..<text.utf8.lastIndex(of: UInt8(ascii: "."))!])
        self.signature = signature
    }

    /// Whether the signature was made by the key of `issuerCertificate`.
    public var hasValidSignature: Bool {
        guard let key = P256.Signing.PublicKey(issuerCertificate.publicKey),
            let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
        else { return false }
        return key.isValidSignature(signature, for: Data(signingInput))
    }

    /// Whether `issuerCertificate` chains to one of `roots`, is valid now and may authenticate a client.
    public func issuerChains(to roots: [Certificate]) async -> Bool {
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy()
        }
        guard case .validCertificate = await verifier.validate(leaf: issuerCertificate, intermediates: CertificateStore()) else { return false }
        guard let usages = try? issuerCertificate.extensions.extendedKeyUsage else { return true }
        return usages.contains(.clientAuth) || usages.contains(.any)
    }
}

/// base64url without padding (RFC 4648 §5), as JWS uses.
enum Base64URL {
    static func encode(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: Substring) -> Data? {
        guard text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}

/// Signs delegation tokens with a certificate's P-256 key (what `gear token issue` uses).
public struct TokenSigner {
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
}

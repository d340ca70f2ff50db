public import Crypto
public import Foundation
import SwiftASN1
public import X509

/// A compact JWS signed ES256 by a certificate's P-256 key, the certificate in the header (`x5c`):
/// `base64url(header).base64url(claims).base64url(signature)`. What gear signs this way (delegation tokens, the bus's
/// requests and replies) needs no key list on the verifying side: the certificate must chain to its CAs.
public struct CompactJWS: Sendable {
    struct Header: Codable {
        var alg: String
        var typ: String
        var x5c: [String]
    }

    /// The longest text accepted.
    public static let maxLength = 16 * 1024

    /// The JSON of the claims (not verified until `hasValidSignature`).
    public let claims: Data
    /// The signer's certificate, as the header carries it.
    public let certificate: Certificate
    let signingInput: [UInt8]
    let signature: Data

    /// Signs `claims` as a JWS of type `type` with `key`; `certificate` is the signer's certificate for that key.
    public static func sign(_ claims: some Encodable, type: String, key: P256.Signing.PrivateKey, certificate: Certificate) throws -> String {
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

    /// Parses a JWS of type `type` (`what` names it in errors); the signature is not verified yet.
    public init(parsing text: String, type: String, what: String) throws(PKIError) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard text.utf8.count <= Self.maxLength, parts.count == 3,
            let headerData = Base64URL.decode(parts[0]), let claimsData = Base64URL.decode(parts[1]), let signature = Base64URL.decode(parts[2])
        else { throw PKIError("the \(what) is not three base64url parts") }
        guard let header = try? JSONDecoder().decode(Header.self, from: headerData) else { throw PKIError("the \(what)'s header is malformed") }
        guard header.alg == "ES256", header.typ == type else { throw PKIError("the \(what) is not an ES256 \(type)") }
        guard let first = header.x5c.first, let der = Data(base64Encoded: first), let certificate = try? Certificate(derEncoded: Array(der)) else {
            throw PKIError("the \(what) carries no readable certificate")
        }
        self.claims = claimsData
        self.certificate = certificate
        self.signingInput = Array(text.utf8[..<text.utf8.lastIndex(of: UInt8(ascii: "."))!])
        self.signature = signature
    }

    /// The claims decoded as `type`.
    public func decode<T: Decodable>(_ type: T.Type, what: String) throws(PKIError) -> T {
        guard let value = try? JSONDecoder().decode(type, from: claims) else { throw PKIError("the \(what)'s claims are malformed") }
        return value
    }

    /// Whether the signature was made by the key of `certificate`.
    public var hasValidSignature: Bool {
        guard let key = P256.Signing.PublicKey(certificate.publicKey),
            let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
        else { return false }
        return key.isValidSignature(signature, for: Data(signingInput))
    }

    /// Whether `certificate` chains to one of `roots`, is valid now and may serve `usage` (when it names usages).
    public func chains(to roots: [Certificate], usage: ExtendedKeyUsage.Usage = .clientAuth) async -> Bool {
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy()
        }
        guard case .validCertificate = await verifier.validate(leaf: certificate, intermediates: CertificateStore()) else { return false }
        guard let usages = try? certificate.extensions.extendedKeyUsage else { return true }
        return usages.contains(usage) || usages.contains(.any)
    }
}

/// base64url without padding (RFC 4648 §5), as JWS uses.
public enum Base64URL {
    public static func encode(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ text: Substring) -> Data? {
        guard text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}

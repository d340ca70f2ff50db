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
    /// The signer's certificate, as the header carries it, and its DER bytes.
    public let certificate: Certificate
    public let certificateDER: [UInt8]
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
        self.certificateDER = Array(der)
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

/// base64url without padding (RFC 4648 §5), as JWS uses; byte by byte (every bus message carries a certificate in
/// it: Foundation's string replacements cost more than the signature's check).
public enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    public static func encode(_ data: some DataProtocol) -> String {
        let bytes = Array(data)
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let n = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
            if rest == 2 { out.append(alphabet[Int(n >> 6 & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of `text`, nil when it holds a character outside the alphabet, padding, or a length no encoding has.
    public static func decode(_ text: Substring) -> Data? {
        let input = Array(text.utf8)
        guard input.count % 4 != 1 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(input.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in input {
            let value = values[Int(byte)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // What is left must be zero bits (a canonical encoding).
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return Data(out)
    }
}

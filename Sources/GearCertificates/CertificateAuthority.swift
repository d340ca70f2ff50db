import Crypto
public import Foundation
import SwiftASN1
public import X509

/// A certificate authority for a gear cluster: a P-256 key and a self-signed CA certificate that issues node
/// (server) and client certificates. `gear certs` drives it; nothing here runs openssl.
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    public let privateKey: Certificate.PrivateKey

    public init(certificate: Certificate, privateKey: Certificate.PrivateKey) throws {
        guard certificate.publicKey == privateKey.publicKey else {
            throw PKIError("the CA key does not belong to the CA certificate")
        }
        guard case .isCertificateAuthority = try certificate.extensions.basicConstraints else {
            throw PKIError("the certificate \(certificate.subject) is not a CA certificate")
        }
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// A new CA named `commonName`, valid from `notBefore` for `days`.
    public static func create(commonName: String, days: Int = 3650, notBefore: Date = Date()) throws -> CertificateAuthority {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let name = try DistinguishedName {
            OrganizationName("gear")
            CommonName(commonName)
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: notBefore.addingTimeInterval(-300),
            notValidAfter: notBefore.addingTimeInterval(Double(days) * 86_400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            },
            issuerPrivateKey: key)
        return try CertificateAuthority(certificate: certificate, privateKey: key)
    }

    /// Loads `ca.crt` and `ca.key` from `directory`.
    public static func load(from directory: String) throws -> CertificateAuthority {
        let certificate = try PEMFiles.readCertificate("\(directory)/ca.crt")
        let key = try PEMFiles.readPrivateKey("\(directory)/ca.key")
        return try CertificateAuthority(certificate: certificate, privateKey: key)
    }

    /// Issues a certificate for `request`, with a fresh P-256 key.
    public func issue(_ request: CertificateRequest) throws -> IssuedCertificate {
        guard request.notAfter > request.notBefore else { throw PKIError("the certificate would end before it begins") }
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let subject = try DistinguishedName {
            OrganizationName("gear")
            for unit in request.organizationalUnits { OrganizationalUnitName(unit) }
            CommonName(request.commonName)
        }
        var names: [GeneralName] = request.dnsNames.map { .dnsName($0) }
        names += request.uris.map { .uniformResourceIdentifier($0) }
        names += request.ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
        let usages = request.usages.map { usage -> ExtendedKeyUsage.Usage in usage == .server ? .serverAuth : .clientAuth }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: request.notBefore,
            notValidAfter: request.notAfter,
            issuer: self.certificate.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage(usages)
                SubjectKeyIdentifier(hash: key.publicKey)
                if let authorityKey = try? self.certificate.extensions.subjectKeyIdentifier {
                    AuthorityKeyIdentifier(keyIdentifier: authorityKey.keyIdentifier)
                }
                if !names.isEmpty { SubjectAlternativeNames(names) }
            },
            issuerPrivateKey: self.privateKey)
        return IssuedCertificate(certificate: certificate, privateKey: key)
    }
}

/// What a certificate is issued for.
public struct CertificateRequest: Sendable {
    public enum Usage: Sendable, Equatable { case server, client }

    public var commonName: String
    public var organizationalUnits: [String] = []
    public var dnsNames: [String] = []
    public var uris: [String] = []
    /// Raw addresses: 4 bytes (IPv4) or 16 (IPv6).
    public var ipAddresses: [[UInt8]] = []
    public var usages: [Usage]
    public var notBefore: Date
    public var notAfter: Date

    /// A node's certificate: it serves HTTPS (server) and calls other nodes with it (client).
    public static func node(
        _ name: String, dnsNames: [String] = [], ipAddresses: [[UInt8]] = [], uris: [String] = [], notBefore: Date = Date(), days: Int = 365
    ) -> CertificateRequest {
        CertificateRequest(
            commonName: name, dnsNames: [name] + dnsNames.filter { $0 != name }, uris: uris, ipAddresses: ipAddresses, usages: [.server, .client],
            notBefore: notBefore.addingTimeInterval(-300), notAfter: notBefore.addingTimeInterval(Double(days) * 86_400))
    }

    /// A client's certificate; `role` becomes its OU, which geard reads as the role when no policy says otherwise.
    public static func client(
        _ name: String, role: String?, uris: [String] = [], notBefore: Date = Date(), days: Int = 365
    )
        -> CertificateRequest
    {
        CertificateRequest(
            commonName: name, organizationalUnits: role.map { [$0] } ?? [], uris: uris, usages: [.client],
            notBefore: notBefore.addingTimeInterval(-300), notAfter: notBefore.addingTimeInterval(Double(days) * 86_400))
    }
}

/// A certificate with its new private key.
public struct IssuedCertificate: Sendable {
    public let certificate: Certificate
    public let privateKey: Certificate.PrivateKey
}

/// A certificate could not be made, read or used.
public struct PKIError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

import Crypto
public import Foundation
import SwiftASN1
public import X509

/// Who a caller is, for authorization: what a verified client certificate names (built once per TLS connection
/// from the leaf certificate the handshake verified), or the user of a unix socket peer.
public struct PeerIdentity: Sendable, Hashable, CustomStringConvertible {
    public var commonName: String?
    public var organizationalUnits: [String]
    public var dnsNames: [String]
    public var uris: [String]
    /// The serial number, lower-case hex without separators.
    public var serial: String
    /// SHA-256 of the certificate's DER bytes, lower-case hex.
    public var fingerprint: String
    public var notValidAfter: Date
    /// The user id of a unix socket peer (`SO_PEERCRED`); nil for certificates.
    public var unixUser: UInt32?

    /// A unix socket peer, by the credentials the kernel recorded at connect.
    public init(unixUser uid: UInt32, group gid: UInt32, process pid: Int32) {
        self.init(commonName: nil, serial: "", fingerprint: "")
        self.unixUser = uid
        self.unixGroup = gid
        self.unixProcess = pid
    }

    public var unixGroup: UInt32?
    public var unixProcess: Int32?

    public init(
        commonName: String?, organizationalUnits: [String] = [], dnsNames: [String] = [], uris: [String] = [], serial: String = "",
        fingerprint: String = "", notValidAfter: Date = .distantFuture
    ) {
        self.commonName = commonName
        self.organizationalUnits = organizationalUnits
        self.dnsNames = dnsNames
        self.uris = uris
        self.serial = serial
        self.fingerprint = fingerprint
        self.notValidAfter = notValidAfter
    }

    /// Reads the identity of a DER-encoded certificate.
    public init(derEncoded bytes: [UInt8]) throws {
        let certificate = try Certificate(derEncoded: bytes)
        self.init(certificate: certificate, fingerprint: Self.hex(SHA256.hash(data: bytes)))
    }

    public init(certificate: Certificate) throws {
        self.init(certificate: certificate, fingerprint: Self.hex(SHA256.hash(data: try PEMFiles.der(certificate))))
    }

    private init(certificate: Certificate, fingerprint: String) {
        var commonName: String?
        var units: [String] = []
        for rdn in certificate.subject {
            for attribute in rdn {
                switch attribute.type {
                case .RDNAttributeType.commonName: commonName = String(attribute.value)
                case .RDNAttributeType.organizationalUnitName: String(attribute.value).map { units.append($0) }
                default: break
                }
            }
        }
        var dns: [String] = []
        var uris: [String] = []
        if let names = try? certificate.extensions.subjectAlternativeNames {
            for name in names {
                switch name {
                case .dnsName(let value): dns.append(value)
                case .uniformResourceIdentifier(let value): uris.append(value)
                default: break
                }
            }
        }
        self.init(
            commonName: commonName, organizationalUnits: units, dnsNames: dns, uris: uris,
            serial: Self.hex(certificate.serialNumber.bytes), fingerprint: fingerprint, notValidAfter: certificate.notValidAfter)
    }

    /// `CN=orchestrator-a, OU=operator, serial 5f…`: what logs and error messages show.
    public var description: String {
        if let unixUser { return "uid \(unixUser) (pid \(unixProcess ?? 0))" }
        var parts: [String] = []
        if let commonName { parts.append("CN=\(commonName)") }
        parts += organizationalUnits.map { "OU=\($0)" }
        parts += uris.map { "URI=\($0)" }
        return parts.isEmpty ? "serial \(serial)" : parts.joined(separator: ", ")
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// What `gear certs show` prints of a certificate file.
public struct CertificateSummary: Sendable {
    public var identity: PeerIdentity
    public var subject: String
    public var issuer: String
    public var notValidBefore: Date
    public var notValidAfter: Date

    /// Reads the first certificate of a PEM file.
    public init(file: String) throws {
        let certificate = try PEMFiles.readCertificate(file)
        self.identity = try PeerIdentity(certificate: certificate)
        self.subject = "\(certificate.subject)"
        self.issuer = "\(certificate.issuer)"
        self.notValidBefore = certificate.notValidBefore
        self.notValidAfter = certificate.notValidAfter
    }
}

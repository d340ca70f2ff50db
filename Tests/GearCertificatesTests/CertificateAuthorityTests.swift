import Foundation
import GearCertificates
import SwiftASN1
import Testing
import X509

/// `gear certs`' CA: what it issues verifies and names what was asked; files round-trip; keys stay private.
@Suite struct CertificateAuthorityTests {
    let directory = NSTemporaryDirectory() + "gear-certs-\(UUID().uuidString)"

    @Test func aClientCertificateCarriesItsRoleAsOUAndVerifiesAgainstTheCA() async throws {
        let ca = try CertificateAuthority.create(commonName: "test CA")
        let issued = try ca.issue(.client("orchestrator", role: "operator", uris: ["spiffe://cluster/orchestrator"]))
        let identity = try PeerIdentity(certificate: issued.certificate)
        #expect(identity.commonName == "orchestrator")
        #expect(identity.organizationalUnits == ["operator"])
        #expect(identity.uris == ["spiffe://cluster/orchestrator"])
        #expect(identity.fingerprint.count == 64)
        #expect(try issued.certificate.extensions.extendedKeyUsage?.contains(.clientAuth) == true)
        #expect(try issued.certificate.extensions.extendedKeyUsage?.contains(.serverAuth) == false)

        var verifier = Verifier(rootCertificates: CertificateStore([ca.certificate])) { RFC5280Policy() }
        let result = await verifier.validate(leaf: issued.certificate, intermediates: CertificateStore())
        guard case .validCertificate = result else {
            Issue.record("the issued certificate does not verify: \(result)")
            return
        }
    }

    @Test func aNodeCertificateNamesTheNodeAndServes() throws {
        let ca = try CertificateAuthority.create(commonName: "test CA")
        let issued = try ca.issue(.node("node1", dnsNames: ["node1.example.org"], ipAddresses: [[127, 0, 0, 1]]))
        let names = try #require(try issued.certificate.extensions.subjectAlternativeNames)
        #expect(names.contains(.dnsName("node1")) && names.contains(.dnsName("node1.example.org")))
        #expect(names.contains { if case .ipAddress(let bytes) = $0 { return Array(bytes.bytes) == [127, 0, 0, 1] } else { return false } })
        let usages = try #require(try issued.certificate.extensions.extendedKeyUsage)
        #expect(usages.contains(.serverAuth) && usages.contains(.clientAuth))
    }

    @Test func filesRoundTripWithThePrivateKeyReadableByItsOwnerOnly() throws {
        let ca = try CertificateAuthority.create(commonName: "test CA")
        _ = try PEMFiles.write(certificate: ca.certificate, key: ca.privateKey, name: "ca", directory: directory)
        let loaded = try CertificateAuthority.load(from: directory)
        #expect(loaded.certificate == ca.certificate)
        let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/ca.key")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)

        let issued = try loaded.issue(.client("ci", role: "reader"))
        let paths = try PEMFiles.write(issued, name: "ci", directory: directory)
        let read = try PEMFiles.readCertificate(paths.certificate)
        #expect(try PeerIdentity(certificate: read) == PeerIdentity(certificate: issued.certificate))
        // The DER path geard takes on a connection reads the same identity.
        let der = try #require(Data(base64Encoded: try read.serializeAsPEM().pemString.split(separator: "\n").dropFirst().dropLast().joined()))
        #expect(try PeerIdentity(derEncoded: Array(der)) == PeerIdentity(certificate: read))

        #expect(throws: PKIError.self) { try PEMFiles.write(issued, name: "ci", directory: directory) }
    }

    @Test func aKeyThatDoesNotMatchIsRefused() throws {
        let one = try CertificateAuthority.create(commonName: "one")
        let two = try CertificateAuthority.create(commonName: "two")
        #expect(throws: PKIError.self) { try CertificateAuthority(certificate: one.certificate, privateKey: two.privateKey) }
        let leaf = try one.issue(.client("x", role: nil))
        #expect(throws: PKIError.self) { try CertificateAuthority(certificate: leaf.certificate, privateKey: leaf.privateKey) }
    }

    @Test func aCertificateThatWouldEndBeforeItBeginsIsRefused() throws {
        let ca = try CertificateAuthority.create(commonName: "test CA")
        var request = CertificateRequest.client("x", role: nil)
        request.notAfter = request.notBefore.addingTimeInterval(-1)
        #expect(throws: PKIError.self) { try ca.issue(request) }
    }
}

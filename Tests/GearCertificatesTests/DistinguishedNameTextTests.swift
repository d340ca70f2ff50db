import Foundation
import GearCertificates
import Testing
import X509

/// Subjects written as nats-server's verify_and_map names its users (Go's `pkix.Name.String()`).
struct DistinguishedNameTextTests {
    @Test func gearsCertificatesReadAsTheBrokerNamesThem() throws {
        let ca = try CertificateAuthority.create(commonName: "test CA")
        let node = try ca.issue(.node("node1", dnsNames: [], ipAddresses: [], uris: [], notBefore: .now, days: 1))
        let client = try ca.issue(.client("orch", role: "admin", uris: [], notBefore: .now, days: 1))
        #expect(try DistinguishedNameText.rfc2253(node.certificate.subject) == "CN=node1,O=gear")
        #expect(try DistinguishedNameText.rfc2253(client.certificate.subject) == "CN=orch,OU=admin,O=gear")
    }

    @Test func specialCharactersAreEscapedAsGoEscapesThem() throws {
        let name = try DistinguishedName {
            CountryName("DE")
            OrganizationName("a,b+c")
            CommonName(" #x\"y;z ")
        }
        #expect(try DistinguishedNameText.rfc2253(name) == #"CN=\ #x\"y\;z\ ,O=a\,b\+c,C=DE"#)
    }
}

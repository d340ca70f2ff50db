import SwiftASN1
public import X509

/// A certificate's subject as text in RFC 2253's form, as Go's `pkix.Name.String()` writes it and so as
/// nats-server's `verify_and_map` names a user: the last attribute first, `CN=node1,O=gear`, `,+"\<>;` and a leading
/// `#` or space escaped with a backslash.
public enum DistinguishedNameText {
    /// The text of `name`; throws for an attribute without a short name Go knows.
    public static func rfc2253(_ name: DistinguishedName) throws -> String {
        var parts: [String] = []
        for rdn in name.reversed() {
            var attributes: [String] = []
            for attribute in rdn {
                guard let short = shortNames[attribute.type] else {
                    throw PKIError("the subject has an attribute \(attribute.type) with no short name: name users by another field")
                }
                guard let value = String(attribute.value) else { throw PKIError("the subject's \(short) is not a string") }
                attributes.append("\(short)=\(escaped(value))")
            }
            parts.append(attributes.joined(separator: "+"))
        }
        return parts.joined(separator: ",")
    }

    /// The subject (as `rfc2253` writes it) and the common name of the certificate in the PEM file at `path`.
    public static func subject(ofCertificateAt path: String) throws -> (text: String, commonName: String?) {
        let certificate = try PEMFiles.readCertificate(path)
        return (try rfc2253(certificate.subject), try PeerIdentity(certificate: certificate).commonName)
    }

    static let shortNames: [ASN1ObjectIdentifier: String] = [
        .RDNAttributeType.commonName: "CN", .RDNAttributeType.organizationName: "O", .RDNAttributeType.organizationalUnitName: "OU",
        .RDNAttributeType.countryName: "C", .RDNAttributeType.localityName: "L", .RDNAttributeType.stateOrProvinceName: "ST",
        .RDNAttributeType.streetAddress: "STREET", [2, 5, 4, 5]: "SERIALNUMBER", [2, 5, 4, 17]: "POSTALCODE",
    ]

    static func escaped(_ value: String) -> String {
        var out = ""
        for (index, character) in value.enumerated() {
            let first = index == 0
            let last = index == value.count - 1
            if ",+\"\\<>;".contains(character) || (first && (character == "#" || character == " ")) || (last && character == " ") {
                out.append("\\")
            }
            out.append(character)
        }
        return out
    }
}

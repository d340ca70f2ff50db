import ArgumentParser
import Foundation
import GearCertificates

#if canImport(Glibc)
    import Glibc
#endif

/// `gear certs`: a small CA for a gear cluster, without openssl.
struct Certs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a CA and the certificates of nodes and clients.",
        discussion: """
            Examples:
              gear certs init --out /etc/gear/pki
              gear certs issue node node1 --ip 10.0.0.5 --out /etc/gear/pki
              gear certs issue client orchestrator --role operator --out /etc/gear/pki
              gear certs show /etc/gear/pki/orchestrator.crt
            """,
        subcommands: [CertsInit.self, CertsIssue.self, CertsShow.self])
}

struct CertsInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create a CA: writes DIR/ca.crt and DIR/ca.key (mode 0600).",
        discussion: "Example: gear certs init --out /etc/gear/pki")

    @Option(name: .long, help: "The directory to write to (created 0700).") var out: String
    @Option(name: .long, help: "The CA's common name.") var name = "gear CA"
    @Option(name: .long, help: "Days the CA is valid.") var days = 3650
    @Flag(name: .long, help: "Replace an existing CA (every certificate it issued stops verifying).") var force = false

    func validate() throws {
        guard (1...36500).contains(days) else { throw ValidationError("--days must be 1 to 36500") }
    }

    func run() throws {
        let ca = try CertificateAuthority.create(commonName: name, days: days)
        let written = try PEMFiles.write(certificate: ca.certificate, key: ca.privateKey, name: "ca", directory: out, overwrite: force)
        print("wrote \(written.certificate) and \(written.key)")
    }
}

struct CertsIssue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue", abstract: "Issue a node or client certificate: writes DIR/NAME.crt and DIR/NAME.key (mode 0600).",
        discussion: """
            A node certificate names the node (DNS NAME, plus --dns and --ip) and serves HTTPS; nodes also present it as \
            clients. A client certificate's OU is its --role (admin, operator, reader, or a policy file's role).

            Examples:
              gear certs issue node node1 --dns node1.example.org --ip 10.0.0.5 --out /etc/gear/pki
              gear certs issue client ci --role reader --days 30 --out ./pki
            """)

    enum Kind: String, ExpressibleByArgument, CaseIterable { case node, client }

    @Argument(help: "node or client") var kind: Kind
    @Argument(help: "The certificate's common name (and file name).") var name: String
    @Option(name: .long, help: "The directory to write to.") var out: String
    @Option(name: .customLong("ca-dir"), help: "Where ca.crt and ca.key are (default: --out).") var caDirectory: String?
    @Option(name: .long, help: "The client's role, written as its OU.") var role: String?
    @Option(name: .long, help: "Another DNS name of a node (repeatable).") var dns: [String] = []
    @Option(name: .long, help: "An IP address of a node (repeatable).") var ip: [String] = []
    @Option(name: .long, help: "A URI name, e.g. spiffe://cluster/orchestrator (repeatable).") var uri: [String] = []
    @Option(name: .long, help: "Days the certificate is valid.") var days = 365
    @Option(name: .customLong("not-before"), help: "Start of validity (RFC 3339; default now).") var notBefore: String?
    @Option(name: .customLong("not-after"), help: "End of validity (RFC 3339; default --days after the start).") var notAfter: String?
    @Flag(name: .long, help: "Overwrite existing files.") var force = false

    func validate() throws {
        guard Self.isName(name) else { throw ValidationError("the name must be letters, digits, '.', '-' or '_' (it is also the file name)") }
        if let role { guard Self.isName(role) else { throw ValidationError("--role must be letters, digits, '.', '-' or '_'") } }
        if kind == .node && role != nil { throw ValidationError("--role is for client certificates") }
        if kind == .client && (!dns.isEmpty || !ip.isEmpty) { throw ValidationError("--dns and --ip are for node certificates") }
        guard (1...36500).contains(days) else { throw ValidationError("--days must be 1 to 36500") }
        for address in ip where Self.address(address) == nil { throw ValidationError("'\(address)' is not an IP address") }
        for name in dns where !Self.isName(name) { throw ValidationError("'\(name)' is not a DNS name") }
        if let notBefore, Self.time(notBefore) == nil { throw ValidationError("--not-before must be an RFC 3339 time") }
        if let notAfter, Self.time(notAfter) == nil { throw ValidationError("--not-after must be an RFC 3339 time") }
    }

    func run() throws {
        let ca = try CertificateAuthority.load(from: caDirectory ?? out)
        let start = notBefore.flatMap(Self.time) ?? Date()
        var request =
            switch kind {
            case .node:
                CertificateRequest.node(name, dnsNames: dns, ipAddresses: ip.compactMap(Self.address), uris: uri, notBefore: start, days: days)
            case .client: CertificateRequest.client(name, role: role, uris: uri, notBefore: start, days: days)
            }
        if notBefore != nil { request.notBefore = start }
        if let end = notAfter.flatMap(Self.time) { request.notAfter = end }
        let issued = try ca.issue(request)
        let written = try PEMFiles.write(issued, name: name, directory: out, overwrite: force)
        let identity = try CertificateSummary(file: written.certificate).identity
        print("wrote \(written.certificate) and \(written.key): \(identity), serial \(identity.serial)")
    }

    /// An RFC 3339 time (`2026-01-01T00:00:00Z`).
    static func time(_ text: String) -> Date? {
        (try? Date(text, strategy: .iso8601)) ?? (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
    }

    static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 253 && !text.hasPrefix(".") && !text.hasPrefix("-")
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".-_".contains($0)) }
    }

    /// An IPv4 or IPv6 address as its bytes.
    static func address(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}

struct CertsShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show the identity geard reads from a certificate (for policies and deny lists).",
        discussion: "Example: gear certs show pki/orchestrator.crt")

    @Argument(help: "A PEM certificate file.") var file: String
    @Option(name: .long, help: "table (default) or json.") var output: GlobalOptions.OutputFormat = .table

    func run() throws {
        let certificate = try CertificateSummary(file: file)
        let identity = certificate.identity
        if output == .json {
            let object: [String: Any] = [
                "commonName": identity.commonName ?? NSNull(), "organizationalUnits": identity.organizationalUnits, "dnsNames": identity.dnsNames,
                "uris": identity.uris, "serial": identity.serial, "fingerprint": identity.fingerprint,
                "notValidBefore": certificate.notValidBefore.formatted(.iso8601), "notValidAfter": certificate.notValidAfter.formatted(.iso8601),
                "issuer": certificate.issuer,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("subject      \(certificate.subject)")
        print("issuer       \(certificate.issuer)")
        print("dns          \(identity.dnsNames.joined(separator: ", "))")
        print("uri          \(identity.uris.joined(separator: ", "))")
        print("valid        \(certificate.notValidBefore.formatted(.iso8601)) to \(certificate.notValidAfter.formatted(.iso8601))")
        print("serial       serial:\(identity.serial)")
        print("fingerprint  fingerprint:\(identity.fingerprint)")
    }
}

import ArgumentParser
import Foundation
import GearCertificates

/// `gear token`: delegation tokens an orchestrator gives one node to call another.
struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Issue delegation tokens: let one node call another on your behalf.",
        subcommands: [TokenIssue.self])
}

struct TokenIssue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Sign a delegation token with your certificate's key and print it.",
        discussion: """
            The holder presents the token over its own HTTPS connection (Authorization: Bearer, or gear --token); the \
            target node checks the signature, that your certificate chains to its CA, that it is the audience, that the \
            holder's certificate is the one named, and the time. A token never grants more than your own role there.

            Example:
              gear token issue --cert pki/orchestrator.crt --key pki/orchestrator.key --holder cn:node1 \\
                --audience node2 --op container.read --op container.restart --container 'web-*' --ttl 300 --once
            """)

    @Option(name: .long, help: "Your certificate (PEM); it travels in the token.") var cert: String
    @Option(name: .long, help: "Your certificate's private key (PEM, P-256).") var key: String
    @Option(name: .long, help: "Who may present it: cn:NAME, dns:NAME, uri:URI, serial:HEX or fingerprint:HEX.") var holder: String
    @Option(name: .long, help: "The node it is for (its certificate's common name).") var audience: String
    @Option(name: .customLong("op"), help: "An operation it grants (container.read, container.*, ...); repeatable.") var operations: [String]
    @Option(name: .customLong("container"), help: "A container id pattern it covers (web-*); repeatable; default all.") var containers: [String] = []
    @Option(name: .long, help: "Seconds it lives (at most 3600).") var ttl = 300
    @Option(name: .customLong("not-before"), help: "When it starts (RFC 3339; default now).") var notBefore: String?
    @Flag(name: .long, help: "It may be used once.") var once = false

    func validate() throws {
        guard (1...3600).contains(ttl) else { throw ValidationError("--ttl must be 1 to 3600 seconds") }
        guard !operations.isEmpty else { throw ValidationError("give at least one --op") }
        guard holder.contains(":"), !holder.hasPrefix("*") else {
            throw ValidationError("--holder must be cn:NAME, dns:NAME, uri:URI, serial:HEX or fingerprint:HEX")
        }
        if let notBefore, CertsIssue.time(notBefore) == nil { throw ValidationError("--not-before must be an RFC 3339 time") }
    }

    func run() throws {
        let signer = try TokenSigner(certificateFile: cert, keyFile: key)
        let start = Int64((notBefore.flatMap(CertsIssue.time) ?? Date()).timeIntervalSince1970)
        let claims = DelegationToken.Claims(
            iss: signer.issuer, sub: holder, aud: audience, ops: operations, containers: containers.isEmpty ? nil : containers, nbf: start,
            exp: start + Int64(ttl), jti: UUID().uuidString.lowercased(), once: once ? true : nil)
        print(try signer.sign(claims))
    }
}

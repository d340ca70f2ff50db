import ArgumentParser
import GearAuthorization
import GearHTTP

/// HTTPS and who may do what: the node's certificate, the CAs clients chain to, revocations, the policy, the audit.
struct AccessOptions: ParsableArguments {
    @Option(name: .customLong("tls-cert"), help: "This node's certificate chain (PEM) for HTTPS.")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "This node's private key (PEM) for HTTPS.")
    var tlsKey: String?

    @Option(name: .customLong("tls-ca"), help: "CA certificates (PEM) that client certificates must chain to; repeat for several bundles.")
    var tlsCA: [String] = []

    @Option(name: .customLong("tls-deny"), help: "Revoked client certificates: a file of serial:HEX or fingerprint:HEX lines.")
    var tlsDeny: String?

    @Option(name: .long, help: "An access policy (JSON) mapping certificate identities to roles and container patterns.")
    var policy: String?

    @Option(name: .long, help: "Which authorization decisions go to the journal: all, changes (refusals and allowed changes) or denials.")
    var audit: String = "all"

    /// Whether HTTPS is configured (all of certificate, key and CA).
    var servesHTTPS: Bool { tlsCert != nil && tlsKey != nil && !tlsCA.isEmpty }

    func validate() throws {
        let given = [tlsCert, tlsKey, tlsCA.first].compactMap { $0 }.count
        guard given == 0 || given == 3 else { throw ValidationError("HTTPS needs all of --tls-cert, --tls-key and --tls-ca") }
        guard given == 3 || tlsDeny == nil else { throw ValidationError("--https and --tls-deny need --tls-cert, --tls-key and --tls-ca") }
        guard AuditLevel(rawValue: audit) != nil else { throw ValidationError("--audit must be all, changes or denials") }
    }

    /// The HTTPS material, loaded (errors are reported as bad flags, before anything listens).
    func tlsStore() throws -> TLSContextStore? {
        guard let tlsCert, let tlsKey, !tlsCA.isEmpty else { return nil }
        do {
            return try TLSContextStore(files: TLSFiles(certificate: tlsCert, key: tlsKey, certificateAuthorities: tlsCA, denyList: tlsDeny))
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// The access policy, loaded.
    func policyStore() throws -> PolicyStore {
        do {
            return try PolicyStore(path: policy)
        } catch {
            throw ValidationError(error.message)
        }
    }

    var auditLevel: AuditLevel { AuditLevel(rawValue: audit) ?? .all }
}

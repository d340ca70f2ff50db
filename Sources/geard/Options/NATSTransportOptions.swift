import ArgumentParser
import Foundation
import GearAPI
import GearAuthorization
import GearCertificates
import GearHTTP
import GearNATS
import GearNATSTransport

/// Answering signed requests from a NATS bus: where the brokers are; the node's identity is its HTTPS certificate.
struct NATSTransportOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "Answer signed requests from NATS brokers: tls://HOST:PORT[,...] (needs --tls-cert, --tls-key and --tls-ca; see docs/nats.md).")
    var nats: String?

    @Option(name: .customLong("nats-max-in-flight"), help: "Bus requests handled at once; more are answered 503.")
    var natsMaxInFlight = 64

    func validate() throws {
        guard (1...4096).contains(natsMaxInFlight) else { throw ValidationError("--nats-max-in-flight must be 1 to 4096") }
    }

    /// The bus transport's settings (the certificate and CAs of `access`, the node's name its certificate's common
    /// name); nil without --nats. Errors are bad flags.
    func configuration(access: AccessOptions, tls: TLSContextStore?) throws -> BusTransportConfiguration? {
        guard let nats else { return nil }
        guard let tls, let cert = access.tlsCert, let key = access.tlsKey, let ca = access.tlsCA.first else {
            throw ValidationError("--nats needs the node's certificate: --tls-cert, --tls-key and --tls-ca")
        }
        do {
            let servers = try nats.split(separator: ",").map { try NATSServerAddress(parsing: String($0)) }
            guard let name = try PeerIdentity(certificate: try PEMFiles.readCertificate(cert)).commonName else {
                throw ValidationError("\(cert) has no common name to be the node's name on the bus")
            }
            if let problem = BusSubjects.problem(withName: name) { throw ValidationError("node name '\(name)' on the bus \(problem)") }
            let client = NATSConfiguration(
                servers: servers, tls: try NATSConfiguration.clientTLS(certificateAuthority: ca, certificate: cert, key: key), name: name)
            var configuration = BusTransportConfiguration(
                nats: client, node: name, roots: { tls.tokenTrust.roots }, signer: try TokenSigner(certificateFile: cert, keyFile: key))
            configuration.maxInFlight = natsMaxInFlight
            return configuration
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("--nats: \(error)")
        }
    }
}

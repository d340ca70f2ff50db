import ArgumentParser
import Foundation
import GearCertificates
import GearEtcd
import GearEtcdTransport

/// Following this node's desired state in etcd (the pull model): where etcd is, who the node is there.
struct EtcdTransportOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "Follow this node's desired state in etcd and report what it runs: https://HOST:PORT[,...] (the pull model; see docs/etcd.md).")
    var etcd: String?

    @Option(name: .customLong("etcd-cert"), help: "The certificate geard presents to etcd (its common name is the etcd user); default --tls-cert.")
    var etcdCert: String?

    @Option(name: .customLong("etcd-key"), help: "The private key of --etcd-cert; default --tls-key.")
    var etcdKey: String?

    @Option(name: .customLong("etcd-ca"), help: "The CA of etcd's server certificate; default the first --tls-ca.")
    var etcdCA: String?

    @Option(name: .customLong("node-name"), help: "This node's name in etcd; default the common name of --etcd-cert.")
    var nodeName: String?

    @Option(name: .customLong("etcd-lease-ttl"), help: "Seconds etcd keeps this node's observed entries after geard stops answering.")
    var etcdLeaseTTL: Int = 10

    @Option(name: .long, help: "An address other nodes reach this node's published ports on (reported in etcd for gear deploy --etcd); repeatable.")
    var advertise: [String] = []

    func validate() throws {
        if etcd == nil {
            guard etcdCert == nil, etcdKey == nil, etcdCA == nil, nodeName == nil, advertise.isEmpty else {
                throw ValidationError("--etcd-cert, --etcd-key, --etcd-ca, --node-name and --advertise go with --etcd")
            }
        } else {
            guard (2...3600).contains(etcdLeaseTTL) else { throw ValidationError("--etcd-lease-ttl must be 2 to 3600 seconds") }
        }
    }

    /// The etcd transport's settings: endpoints, the certificate (that of `access` unless given; its common name is
    /// the node's name unless --node-name says otherwise). Errors are bad flags.
    func configuration(access: AccessOptions) throws -> EtcdTransportConfiguration? {
        guard let etcd else { return nil }
        let endpoints: [EtcdConfiguration.Endpoint]
        do {
            endpoints = try EtcdConfiguration.endpoints(etcd)
        } catch {
            throw ValidationError("--etcd: \(error.message)")
        }
        guard let cert = etcdCert ?? access.tlsCert, let key = etcdKey ?? access.tlsKey, let ca = etcdCA ?? access.tlsCA.first else {
            throw ValidationError("--etcd needs a client certificate: --etcd-cert, --etcd-key and --etcd-ca (or --tls-cert, --tls-key, --tls-ca)")
        }
        let name: String
        if let nodeName {
            name = nodeName
        } else {
            do {
                guard let commonName = try PeerIdentity(certificate: try PEMFiles.readCertificate(cert)).commonName else {
                    throw ValidationError("\(cert) has no common name: give --node-name")
                }
                name = commonName
            } catch let error as ValidationError {
                throw error
            } catch {
                throw ValidationError("--etcd-cert \(cert): \(error)")
            }
        }
        if let problem = GearKeys.problem(withNode: name) { throw ValidationError("node name '\(name)' \(problem)") }
        for path in [cert, key, ca] where !FileManager.default.isReadableFile(atPath: path) {
            throw ValidationError("cannot read \(path)")
        }
        var configuration = EtcdTransportConfiguration(
            etcd: EtcdConfiguration(endpoints: endpoints, credentials: .init(certificate: cert, key: key, certificateAuthority: ca)), node: name)
        configuration.leaseTTL = Int64(etcdLeaseTTL)
        configuration.addresses = advertise
        return configuration
    }
}

import ArgumentParser
import Foundation
import GearClient
import GearEtcd

/// `gear etcd`: the etcd side of the pull model: users and roles that keep each node to its own keys.
struct Etcd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set up etcd for geard's pull model (geard --etcd).",
        discussion: """
            Each node reads only /gear/v1/desired/NODE/ and writes only /gear/v1/observed/NODE/: etcd checks it, with the \
            node's own certificate as its identity (etcd's --client-cert-auth makes the certificate's common name the \
            user). Run as etcd's root user: --cert and --key of a certificate whose common name is root.

            Examples:
              gear etcd grant --etcd https://10.0.0.9:2379 --ca pki/ca.crt --cert pki/root.crt --key pki/root.key node1 node2
              gear etcd grant --etcd https://10.0.0.9:2379 --orchestrator orch-a orch-b
              gear etcd grant --etcd https://10.0.0.9:2379 --operator alice
            """,
        subcommands: [EtcdGrant.self])
}

/// Options of every command that talks to etcd.
struct EtcdOptions: ParsableArguments {
    @Option(name: .long, help: "etcd's client URLs, https://HOST:PORT[,...] (env GEAR_ETCD).")
    var etcd: String?

    func configuration(_ global: GlobalOptions) throws -> EtcdConfiguration {
        guard let text = etcd ?? ProcessInfo.processInfo.environment["GEAR_ETCD"], !text.isEmpty else {
            throw ValidationError("give etcd's address: --etcd https://HOST:2379 (or GEAR_ETCD)")
        }
        guard let files = global.tlsFiles else {
            throw ValidationError("etcd is reached with a client certificate: give --ca, --cert and --key (or GEAR_CA, GEAR_CERT, GEAR_KEY)")
        }
        do {
            var configuration = EtcdConfiguration(
                endpoints: try EtcdConfiguration.endpoints(text),
                credentials: .init(certificate: files.certificate, key: files.key, certificateAuthority: files.certificateAuthority))
            configuration.callTimeout = .milliseconds(Int64(global.timeout * 1000))
            return configuration
        } catch {
            throw ValidationError(error.description)
        }
    }
}

struct EtcdGrant: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant",
        abstract: "Create etcd users for nodes (or an orchestrator) with the roles gear's pull model needs.",
        discussion: """
            For each NODE: the user NODE (no password: it signs in with its certificate) and the role gear-node-NODE, \
            which reads /gear/v1/desired/NODE/ and reads and writes /gear/v1/observed/NODE/, nothing else. With \
            --orchestrator: the user NAME and the role gear-orchestrator (gear-orchestrator's replicas), which reads \
            everything under /gear/v1/ and writes /gear/v1/desired/, /gear/v1/status/deployments/ and \
            /gear/v1/orchestrator/. With --operator: the user NAME and the role gear-operator (gear deploy --etcd, gear \
            node cordon|uncordon|drain, gear status --etcd), which reads everything under /gear/v1/ and writes \
            /gear/v1/deployments/ and /gear/v1/maintenance/: people say what runs, only the orchestrator where. What \
            exists already is kept, and grants a role lacks are added: running it again changes nothing else.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var etcdOptions: EtcdOptions
    @Flag(name: .long, help: "The names are gear-orchestrator replicas, not nodes.") var orchestrator = false
    @Flag(name: .customLong("operator"), help: "The names are operators (gear deploy --etcd, gear node drain), not nodes.")
    var operators = false
    @Argument(help: "Node names (their certificates' common names), or orchestrators' or operators' names.") var names: [String]

    func validate() throws {
        guard !names.isEmpty else { throw ValidationError("name at least one node") }
        guard !(orchestrator && operators) else { throw ValidationError("--orchestrator and --operator are different roles: grant each apart") }
        for name in names {
            if let problem = GearKeys.problem(withNode: name) { throw ValidationError("'\(name)' \(problem)") }
            guard name != "root" else { throw ValidationError("root is etcd's administrator, not a node") }
        }
    }

    func run() async throws {
        let configuration = try etcdOptions.configuration(global)
        let names = self.names
        let orchestrator = self.orchestrator
        let operators = self.operators
        let quiet = global.quiet
        do {
            try await EtcdClient.with(configuration) { client in
                for name in names {
                    let role = orchestrator ? EtcdRoles.orchestrator : operators ? EtcdRoles.operator : EtcdRoles.node(name)
                    let grants =
                        orchestrator ? EtcdRoles.orchestratorGrants : operators ? EtcdRoles.operatorGrants : try EtcdRoles.nodeGrants(name)
                    let newUser = try await client.addUser(name)
                    let newRole = try await client.addRole(role)
                    let existing = Set(try await client.grants(of: role))
                    for grant in grants where !existing.contains(grant) { try await client.grant(grant, to: role) }
                    if !(try await client.roles(of: name)).contains(role) { try await client.grantRole(role, to: name) }
                    if !quiet {
                        print(
                            "\(name): user \(newUser ? "added" : "kept"), role \(role) \(newRole ? "added" : "kept"): "
                                + grants.map(\.description).joined(separator: ", "))
                    }
                }
            }
        } catch let error as EtcdError {
            FileHandle.standardError.write(Data("gear: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

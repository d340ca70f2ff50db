import ArgumentParser
import Foundation
import GearAuthorization
import GearCore
import GearEtcd
import GearEtcdTransport
import GearTestSupport
import Logging
import ServiceLifecycle
import UnixSignals

/// Hollow nodes, as Kubernetes' kubemark has them: a benchmark tool, never a test double. Each is geard's own core
/// (`NodeAgent`: its job queue, state files and unit files) and its real etcd transport (the watch of its desired
/// state, its lease, the convergence and the observed reporter) over the in-memory systemd of the test support
/// instead of systemd and podman; many run in one process, each with its own node name, state directory, etcd
/// connection and lease. What the orchestrator and etcd see of them is what they would see of real geards.
@main
struct GearHollow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gear-hollow",
        abstract: "Run many hollow geard nodes (the etcd transport over an in-memory systemd) in one process: a benchmark tool.")

    @Option(name: .long, help: "etcd's client URLs.") var etcd: String
    @Option(name: .long, help: "The CA that signed etcd's certificate.") var ca: String
    @Option(name: .customLong("identity-dir"), help: "Per-node identities: DIR/NAME.crt and DIR/NAME.key for each node (as real nodes).")
    var identityDir: String?
    @Option(name: .long, help: "One shared identity for every node (a user whose role reads and writes all of /gear/v1/desired/ and observed/).")
    var cert: String?
    @Option(name: .long, help: "The key of --cert.") var key: String?
    @Option(name: .long, help: "Node names are PREFIX + number.") var prefix = "hollow"
    @Option(name: .long, help: "The first node's number.") var first = 1
    @Option(name: .long, help: "How many nodes this process runs.") var count = 100
    @Option(name: .customLong("state-dir"), help: "Each node's state goes to DIR/NAME.") var stateDir = "/var/lib/gear-hollow"
    @Option(name: .customLong("lease-ttl"), help: "Seconds etcd keeps a node's observed entries after its last keep-alive.")
    var leaseTTL = 10
    @Option(name: .customLong("start-rate"), help: "Nodes started per second (a burst of connections all at once is not a fleet).")
    var startRate = 500

    func validate() throws {
        guard (identityDir == nil) != (cert == nil), (cert == nil) == (key == nil) else {
            throw ValidationError("give --identity-dir, or --cert and --key")
        }
        guard count >= 1, first >= 0, startRate >= 1 else { throw ValidationError("--count and --start-rate must be at least 1") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let logger = Logger(label: "gear-hollow")
        let endpoints = try EtcdConfiguration.endpoints(etcd)
        // geard's default policy, as a geard started without --policy has it.
        let authorizer = Authorizer(policy: try PolicyStore(path: nil), audit: LoggerAuditSink(logger: logger), level: .denials)
        var services: [any Service] = []
        for n in first..<(first + count) {
            let name = "\(prefix)\(n)"
            let root = "\(stateDir)/\(name)"
            try FileManager.default.createDirectory(atPath: root + "/systemd", withIntermediateDirectories: true)
            var configuration = AgentConfiguration(layout: try StateLayout(root: root + "/state", systemdUnitDirectory: root + "/systemd"))
            configuration.hostPortIsFree = { _ in true }
            configuration.labels = ["hollow": "true"]
            let agent = NodeAgent(
                configuration: configuration, systemd: MemorySystemd(unitDirectory: root + "/systemd", reloadDuration: .milliseconds(30)),
                logger: logger)
            try await agent.prepare()
            let credentials = EtcdConfiguration.Credentials(
                certificate: cert ?? "\(identityDir!)/\(name).crt", key: key ?? "\(identityDir!)/\(name).key", certificateAuthority: ca)
            var transport = EtcdTransportConfiguration(etcd: EtcdConfiguration(endpoints: endpoints, credentials: credentials), node: name)
            transport.leaseTTL = Int64(leaseTTL)
            transport.addresses = ["127.0.0.1"]
            services.append(agent)
            services.append(
                Paced(
                    try EtcdTransport(configuration: transport, agent: agent, authorizer: authorizer, logger: logger),
                    after: .milliseconds(Int64((n - first) * 1000 / startRate))))
        }
        let group = ServiceGroup(
            configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// A service started after a pause.
struct Paced: Service {
    let service: any Service
    let pause: Duration

    init(_ service: any Service, after pause: Duration) {
        self.service = service
        self.pause = pause
    }

    func run() async throws {
        try await Task.sleep(for: pause)
        try await service.run()
    }
}

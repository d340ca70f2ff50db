import ArgumentParser
import Foundation
import GearEtcd
import GearMetrics
import GearOrchestrator
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// gear-orchestrator: keeps the deployments under /gear/v1/deployments/ in etcd true. Run several; one leads.
@main
struct GearOrchestratorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gear-orchestrator",
        abstract: "Keep every deployment in etcd placed and running, replacing the instances of nodes that die.",
        discussion: """
            Reads deployments (the descriptors gear deploy reads) under /gear/v1/deployments/NAME in etcd, places \
            their instances over the nodes that report themselves (geard --etcd) and writes the nodes' desired state; \
            each deployment's status is written to /gear/v1/status/deployments/NAME. Run several replicas: they elect \
            one leader through etcd, every write of which is fenced by its leadership, and a standby takes over within \
            --lease-ttl seconds of the leader's death. It needs an orchestrator's etcd identity (gear etcd grant \
            --orchestrator NAME) and no systemd. See docs/orchestrator.md.
            """)

    @Option(name: .long, help: "etcd's client URLs, https://HOST:PORT[,...].")
    var etcd: String

    @Option(name: .long, help: "The CA of etcd's server certificate.")
    var ca: String

    @Option(name: .long, help: "The certificate this replica presents to etcd (its common name is the etcd user).")
    var cert: String

    @Option(name: .long, help: "The private key of --cert.")
    var key: String

    @Option(name: .long, help: "This replica's name, shown as the leader while it leads; default the host name and process id.")
    var name: String?

    @Option(name: .customLong("node-grace"), help: "Seconds a node may stay silent (its lease gone) before its instances are placed elsewhere.")
    var nodeGrace: Int = 20

    @Option(name: .customLong("lease-ttl"), help: "Seconds etcd keeps the leader's key after its last keep-alive.")
    var leaseTTL: Int = 10

    @Option(name: .customLong("max-unavailable"), help: "How many instances of a deployment a rolling replacement takes down at once.")
    var maxUnavailable: Int = 1

    @Option(
        name: .customLong("reschedule-delay"),
        help: "Seconds an instance may stay failed on its node before it is placed on another; doubles with each reschedule of its slot.")
    var rescheduleDelay: Int = 30

    @Option(name: .customLong("reschedule-max-delay"), help: "The longest wait before a reschedule, in seconds.")
    var rescheduleMaxDelay: Int = 3600

    @Option(name: .long, help: "HOST:PORT for /healthz, /readyz and /metrics (plain HTTP: keep it local), or none.")
    var listen: String = "127.0.0.1:43280"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    /// `--listen` as a host and a port, nil for none.
    func address() throws -> (host: String, port: Int)? {
        guard listen != "none" else { return nil }
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (1...65535).contains(port),
            colon > listen.startIndex
        else { throw ValidationError("--listen \(listen): give HOST:PORT (127.0.0.1:43280) or none") }
        return (String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard (1...3600).contains(nodeGrace) else { throw ValidationError("--node-grace must be 1 to 3600 seconds") }
        guard (2...600).contains(leaseTTL) else { throw ValidationError("--lease-ttl must be 2 to 600 seconds") }
        guard maxUnavailable >= 1 else { throw ValidationError("--max-unavailable must be at least 1") }
        guard (1...86_400).contains(rescheduleDelay) else { throw ValidationError("--reschedule-delay must be 1 to 86400 seconds") }
        guard (rescheduleDelay...604_800).contains(rescheduleMaxDelay) else {
            throw ValidationError("--reschedule-max-delay must be --reschedule-delay to 604800 seconds")
        }
        if let name { guard (1...128).contains(name.utf8.count) else { throw ValidationError("--name must have 1 to 128 bytes") } }
        _ = try endpoints()
        _ = try address()
    }

    func endpoints() throws -> [EtcdConfiguration.Endpoint] {
        do {
            return try EtcdConfiguration.endpoints(etcd)
        } catch {
            throw ValidationError("--etcd: \(error)")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "gear-orchestrator")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetrics.factory(registry: registry))
        let etcd = EtcdConfiguration(endpoints: try endpoints(), credentials: .init(certificate: cert, key: key, certificateAuthority: ca))
        var configuration = OrchestratorConfiguration(
            etcd: etcd, identity: name ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)")
        configuration.nodeGrace = .seconds(nodeGrace)
        configuration.leaseTTL = Int64(leaseTTL)
        configuration.maxUnavailable = maxUnavailable
        configuration.reschedule = ReschedulePolicy(delay: TimeInterval(rescheduleDelay), maxDelay: TimeInterval(rescheduleMaxDelay))
        let orchestrator: Orchestrator
        do {
            orchestrator = try Orchestrator(configuration: configuration, logger: logger)
        } catch {
            throw ValidationError("--etcd: \(error)")
        }
        var services: [any Service] = [orchestrator]
        if let (host, port) = try address() {
            let router = OrchestratorHTTP.router(orchestrator) { registry.emitToBuffer() }
            services.append(Application(router: router, configuration: .init(address: .hostname(host, port: port)), logger: logger))
        }
        let group = ServiceGroup(
            configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

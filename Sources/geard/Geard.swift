import ArgumentParser
import GearAPI
import GearAuthorization
import GearCore
import GearEtcd
import GearEtcdTransport
import GearHTTP
import GearMetrics
import GearNATSTransport
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import SystemdBus
import UnixSignals

/// geard: the node agent daemon. Parses flags, builds the agent and its listeners, and runs them.
@main
struct Geard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "geard",
        abstract: "The gear node agent: a REST API over containers run by systemd.",
        discussion: """
            geard listens on 127.0.0.1:\(GearAPI.defaultPort) and on the unix socket \(GearAPI.defaultSocketPath) (root only) \
            unless told otherwise. Under systemd socket activation (LISTEN_FDS) it serves the sockets it is given instead \
            (a socket named "https" by FileDescriptorName= is served with TLS).

            With --tls-cert, --tls-key and --tls-ca it also serves HTTPS on :\(GearAPI.defaultTLSPort) (or --https): every \
            client must present a certificate that chains to a CA of --tls-ca; its OU names its role (admin, operator, \
            reader) unless a --policy file says otherwise. SIGHUP reloads the certificate, key, CAs, deny list and policy.

            Examples:
              geard
              geard --listen 127.0.0.1:8080 --socket none --state-dir /tmp/gear-state
              geard --tls-cert /etc/gear/node1.crt --tls-key /etc/gear/node1.key --tls-ca /etc/gear/ca.crt
            """)

    @OptionGroup(title: "Listeners") var listeners: ListenerOptions
    @OptionGroup(title: "HTTPS and access") var access: AccessOptions
    @OptionGroup(title: "This node") var node: NodeOptions
    @OptionGroup(title: "Limits") var limits: LimitOptions
    @OptionGroup(title: "etcd (the pull model)") var etcd: EtcdTransportOptions
    @OptionGroup(title: "NATS (the message bus)") var nats: NATSTransportOptions

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    /// What spans the groups (each group checks its own flags).
    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard access.servesHTTPS || listeners.https.isEmpty else {
            throw ValidationError("--https and --tls-deny need --tls-cert, --tls-key and --tls-ca")
        }
        _ = try etcd.configuration(access: access)
        if nats.nats != nil, !access.servesHTTPS { throw ValidationError("--nats needs the node's certificate: --tls-cert, --tls-key and --tls-ca") }
    }

    func run() async throws {
        // Jobs of Swift concurrency run on NIO's event loops: requests are read, handled and answered on one
        // thread instead of hopping between the event loops and the cooperative pool.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        FileLimit.raise()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "geard")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetrics.factory(registry: registry))
        // TLS material and the policy first: a bad file stops geard before it touches systemd or the state directory.
        let tls = try access.tlsStore()
        let policies = try access.policyStore()
        var configuration = try node.configuration()
        limits.apply(to: &configuration)

        let systemd = BusSystemdControl(node.busChoice, logger: logger)
        defer { systemd.close() }
        let agent = NodeAgent(configuration: configuration, systemd: systemd, logger: logger)
        try await agent.prepare()

        let delegation = try tls.map { tls in
            DelegationVerifier(trust: { tls.tokenTrust }, ledger: try UsedTokenLedger(path: configuration.layout.usedTokens))
        }
        let authorizer = Authorizer(policy: policies, audit: JournalAuditSink(), delegation: delegation, level: access.auditLevel)
        let server = GearHTTPServer(agent: agent, logger: logger, authorizer: authorizer, metrics: registry, streams: limits.streams)
        let addresses = listeners.addresses(logger: logger, tls: tls)
        guard !addresses.isEmpty else { throw ValidationError("nothing to listen on: give --listen, --socket or --https") }
        let notifier = ServiceNotifier()
        let readiness = Readiness(expected: addresses.count) {
            notifier.ready(status: "serving on \(addresses.map(\.0.description).joined(separator: ", "))")
        }
        var services: [any Service] = [agent]
        services += addresses.map { address, security in
            server.listener(address, security: security, limits: limits.connections) { _ in readiness.bound() }
        }
        if let etcd = try etcd.configuration(access: access) {
            do {
                services.append(try EtcdTransport(configuration: etcd, agent: agent, authorizer: authorizer, logger: logger))
            } catch {
                throw ValidationError("--etcd: \(error.message)")
            }
        }
        if let bus = try nats.configuration(access: access, tls: tls) {
            services.append(try Self.busTransport(bus, server: server, tls: tls, agent: agent, logger: logger))
        }
        services.append(Reloader(tls: tls, policy: policies, logger: logger))
        if let interval = notifier.watchdogInterval() {
            services.append(Watchdog(interval: interval, systemd: systemd, notifier: notifier, logger: logger))
        }
        let group = ServiceGroup(
            configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info("geard starting", metadata: ["state.dir": "\(node.stateDir)", "systemd.bus": "\(systemd.address)"])
        try await group.run()
        notifier.stopping()
    }
}

import ArgumentParser
import Foundation
import GearAPI
import GearAuthorization
import GearCertificates
import GearCore
import GearEtcd
import GearEtcdTransport
import GearHTTP
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import SystemdBus
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

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

    @Option(name: .long, help: "A TCP address to serve plain HTTP on, HOST:PORT; repeat for several; 'none' for none.")
    var listen: [String] = []

    @Option(
        name: .long,
        help:
            "A TCP address to serve HTTPS with client certificates on, HOST:PORT; repeat for several (default :\(GearAPI.defaultTLSPort) with --tls-cert)."
    )
    var https: [String] = []

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

    @Option(name: .long, help: "The unix socket to serve on; 'none' for none.")
    var socket: String = GearAPI.defaultSocketPath

    @Option(name: .customLong("socket-mode"), help: "The unix socket's mode, octal (root is admin; other users get what --policy grants uid:N).")
    var socketMode: String = "0600"

    @Option(name: .customLong("socket-group"), help: "The group that owns the unix socket (with --socket-mode 0660).")
    var socketGroup: String?

    @Option(name: .customLong("state-dir"), help: "Where definitions, unit files, volumes and jobs are kept.")
    var stateDir: String = "/var/lib/gear"

    @Option(name: .customLong("unit-dir"), help: "systemd's configuration directory (links and .wants folders).")
    var unitDir: String = "/etc/systemd/system"

    @Option(name: .customLong("port-range"), help: "External ports to allocate from, FIRST-LAST.")
    var portRange: String = "4000-4999"

    @Option(name: .long, help: "The podman binary container units run.")
    var podman: String = "/usr/bin/podman"

    @Option(name: .customLong("max-running-jobs"), help: "Jobs that run at once (on different containers).")
    var maxRunningJobs: Int = 32

    @Option(name: .customLong("max-queued-jobs"), help: "Jobs that may wait; beyond, requests get 503.")
    var maxQueuedJobs: Int = 1024

    @Option(name: .customLong("max-upload-size"), help: "The largest file one upload may store: bytes, or with K, M, G or T (binary).")
    var maxUploadSize: String = "16G"

    @Option(name: .customLong("volume-size-limit"), help: "The most the files of one volume may hold after an upload (K, M, G, T); none by default.")
    var volumeSizeLimit: String?

    @Option(name: .customLong("event-history"), help: "How many events GET /events keeps for clients that reconnect (?since=).")
    var eventHistory: Int = 10_000

    @Option(
        name: .customLong("allow-host-path"),
        help: "A host directory whose tree installs may mount into containers (geard's VolumeMounts); repeatable, none by default.")
    var allowHostPath: [String] = []

    @Option(name: .customLong("max-connections"), help: "Open connections one listener keeps; past it new ones are closed at once.")
    var maxConnections: Int = 2048

    @Option(name: .customLong("max-connections-per-client"), help: "Open connections of one client address (TCP) per listener.")
    var maxConnectionsPerClient: Int = 256

    @Option(name: .customLong("header-timeout"), help: "Seconds a request's head may take from its first byte (slow clients are closed).")
    var headerTimeout: Double = 15

    @Option(
        name: .customLong("max-streams-per-client"),
        help: "Log follows, event follows and job waits one certificate identity may hold open at once (past it: 429).")
    var maxStreamsPerClient: Int = 64

    @Option(name: .customLong("max-local-streams"), help: "The same for all callers of one local listener (loopback, unix socket) together.")
    var maxLocalStreams: Int = 1024

    @Option(name: .customLong("sse-keepalive"), help: "Seconds between keep-alive comments on an idle followed server-sent event stream.")
    var sseKeepalive: Double = 15

    @Option(
        name: .customLong("min-upload-rate"),
        help: "Bytes a second an upload must send, measured over each --upload-rate-window; slower ones are cut (408).")
    var minUploadRate: Int = 1024

    @Option(name: .customLong("upload-rate-window"), help: "Seconds over which --min-upload-rate is measured.")
    var uploadRateWindow: Double = 30

    @Option(name: .customLong("label"), help: "A label of this node, KEY=VALUE, shown in /node for placement rules (gear deploy); repeatable.")
    var labels: [String] = []

    @Option(
        name: .customLong("network-namespace"),
        help:
            "Run the containers' units in this network namespace (/run/netns/NAME), for several geards on one machine each with a network of its own."
    )
    var networkNamespace: String?

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

    @Option(name: .long, help: "How to reach systemd: auto (its private socket when root, else the system bus), private or system.")
    var bus: String = "auto"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Flag(name: .customLong("no-reload-coalescing"), help: .hidden)
    var noReloadCoalescing = false

    func validate() throws {
        for address in listen where address != "none" {
            guard ListenAddress.parseTCP(address) != nil else { throw ValidationError("--listen must be HOST:PORT, not '\(address)'") }
        }
        guard Self.range(portRange, within: 1...65535) != nil else { throw ValidationError("--port-range must be FIRST-LAST within 1-65535") }
        guard SystemdBusChoice(rawValue: bus) != nil else { throw ValidationError("--bus must be auto, private or system") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard FileLimits.size(maxUploadSize) != nil else { throw ValidationError("--max-upload-size must be a size like 512M or 16G") }
        if let volumeSizeLimit, FileLimits.size(volumeSizeLimit) == nil {
            throw ValidationError("--volume-size-limit must be a size like 512M or 16G")
        }
        guard maxRunningJobs > 0, maxQueuedJobs > 0 else { throw ValidationError("job limits must be positive") }
        guard maxConnections >= 1, maxConnectionsPerClient >= 1 else { throw ValidationError("connection limits must be positive") }
        guard maxStreamsPerClient >= 1, maxLocalStreams >= 1 else { throw ValidationError("stream limits must be positive") }
        guard minUploadRate >= 0, uploadRateWindow >= 1, uploadRateWindow <= 3600 else {
            throw ValidationError("--min-upload-rate must be 0 or more, --upload-rate-window 1 to 3600 seconds")
        }
        guard sseKeepalive >= 0.1, sseKeepalive <= 3600 else { throw ValidationError("--sse-keepalive must be 0.1 to 3600 seconds") }
        guard headerTimeout > 0, headerTimeout <= 3600 else { throw ValidationError("--header-timeout must be more than 0 and at most 3600 seconds") }
        var keys = Set<String>()
        for label in labels {
            if let problem = AgentConfiguration.problem(withLabel: label) { throw ValidationError("--label \(label): \(problem)") }
            guard let key = KeyValue.split(label)?.key, keys.insert(key).inserted else {
                throw ValidationError("--label \(label): the key is given twice")
            }
        }
        if let networkNamespace {
            guard networkNamespace.hasPrefix("/"), networkNamespace.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/._-".contains($0)) }),
                FileManager.default.fileExists(atPath: networkNamespace)
            else {
                throw ValidationError("--network-namespace must be an existing absolute path of letters, digits and / . _ - (/run/netns/NAME)")
            }
        }
        for path in allowHostPath {
            if let problem = AgentConfiguration.problem(withAllowedHostPath: path) { throw ValidationError("--allow-host-path \(path) \(problem)") }
        }
        guard (16...10_000_000).contains(eventHistory) else { throw ValidationError("--event-history must be 16 to 10000000 events") }
        guard AuditLevel(rawValue: audit) != nil else { throw ValidationError("--audit must be all, changes or denials") }
        guard (UInt32(socketMode, radix: 8) ?? .max) <= 0o777 else { throw ValidationError("--socket-mode must be octal, like 0660") }
        if let socketGroup { guard Self.groupID(socketGroup) != nil else { throw ValidationError("no group \(socketGroup)") } }
        for address in https {
            guard ListenAddress.parseTCP(address) != nil else { throw ValidationError("--https must be HOST:PORT, not '\(address)'") }
        }
        let tls = [tlsCert, tlsKey, tlsCA.first].compactMap { $0 }.count
        guard tls == 0 || tls == 3 else { throw ValidationError("HTTPS needs all of --tls-cert, --tls-key and --tls-ca") }
        guard tls == 3 || (https.isEmpty && tlsDeny == nil) else {
            throw ValidationError("--https and --tls-deny need --tls-cert, --tls-key and --tls-ca")
        }
        do {
            _ = try StateLayout(root: stateDir, systemdUnitDirectory: unitDir)
        } catch {
            throw ValidationError(error.message)
        }
        if etcd == nil {
            guard etcdCert == nil, etcdKey == nil, etcdCA == nil, nodeName == nil, advertise.isEmpty else {
                throw ValidationError("--etcd-cert, --etcd-key, --etcd-ca, --node-name and --advertise go with --etcd")
            }
        } else {
            _ = try etcdTransportConfiguration()
            guard (2...3600).contains(etcdLeaseTTL) else { throw ValidationError("--etcd-lease-ttl must be 2 to 3600 seconds") }
        }
    }

    /// The etcd transport's settings: endpoints, the certificate (its common name is the node's name unless
    /// --node-name says otherwise). Errors are bad flags.
    func etcdTransportConfiguration() throws -> EtcdTransportConfiguration? {
        guard let etcd else { return nil }
        let endpoints: [EtcdConfiguration.Endpoint]
        do {
            endpoints = try EtcdConfiguration.endpoints(etcd)
        } catch {
            throw ValidationError("--etcd: \(error.message)")
        }
        guard let cert = etcdCert ?? tlsCert, let key = etcdKey ?? tlsKey, let ca = etcdCA ?? tlsCA.first else {
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

    /// A group's id, by name or number.
    static func groupID(_ name: String) -> UInt32? {
        if let number = UInt32(name) { return number }
        guard let entry = getgrnam(name) else { return nil }
        return entry.pointee.gr_gid
    }

    static func range(_ text: String, within bounds: ClosedRange<Int>) -> ClosedRange<Int>? {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), low <= high, bounds.contains(low), bounds.contains(high) else {
            return nil
        }
        return low...high
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
        let tls = try tlsStore()
        let policies: PolicyStore
        do {
            policies = try PolicyStore(path: policy)
        } catch {
            throw ValidationError(error.message)
        }
        var configuration = AgentConfiguration(layout: try StateLayout(root: stateDir, systemdUnitDirectory: unitDir))
        let ports = Self.range(portRange, within: 1...65535)!
        configuration.portRange = ports
        configuration.podmanPath = podman
        configuration.maxRunningJobs = maxRunningJobs
        configuration.maxQueuedJobs = maxQueuedJobs
        configuration.coalesceReloads = !noReloadCoalescing
        configuration.eventHistory = eventHistory
        configuration.labels = Dictionary(labels.compactMap { KeyValue.split($0) }, uniquingKeysWith: { a, _ in a })
        configuration.networkNamespace = networkNamespace
        configuration.allowedHostPaths = allowHostPath.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        configuration.fileLimits = FileLimits(
            maxUploadBytes: FileLimits.size(maxUploadSize)!, volumeSizeLimit: volumeSizeLimit.flatMap(FileLimits.size))

        let systemd = BusSystemdControl(SystemdBusChoice(rawValue: bus) ?? .auto, logger: logger)
        defer { systemd.close() }
        let agent = NodeAgent(configuration: configuration, systemd: systemd, logger: logger)
        try await agent.prepare()

        let delegation = try tls.map { tls in
            DelegationVerifier(trust: { tls.tokenTrust }, ledger: try UsedTokenLedger(path: configuration.layout.usedTokens))
        }
        let authorizer = Authorizer(
            policy: policies, audit: JournalAuditSink(), delegation: delegation, level: AuditLevel(rawValue: audit) ?? .all)
        let server = GearHTTPServer(
            agent: agent, logger: logger, authorizer: authorizer, metrics: registry,
            streams: StreamLimits(
                perIdentity: maxStreamsPerClient, perLocalListener: maxLocalStreams, keepAliveInterval: .milliseconds(Int64(sseKeepalive * 1000)),
                minimumUploadRate: minUploadRate, uploadRateWindow: .milliseconds(Int64(uploadRateWindow * 1000))))
        let addresses = listenAddresses(logger: logger, tls: tls)
        guard !addresses.isEmpty else { throw ValidationError("nothing to listen on: give --listen, --socket or --https") }
        let notifier = ServiceNotifier()
        let readiness = Readiness(expected: addresses.count) {
            notifier.ready(status: "serving on \(addresses.map(\.0.description).joined(separator: ", "))")
        }
        var services: [any Service] = [agent]
        let limits = ConnectionLimits(
            maxConnections: maxConnections, maxPerClient: maxConnectionsPerClient, headerTimeout: .milliseconds(Int64(headerTimeout * 1000)))
        services += addresses.map { address, security in server.listener(address, security: security, limits: limits) { _ in readiness.bound() } }
        if let etcd = try etcdTransportConfiguration() {
            do {
                services.append(try EtcdTransport(configuration: etcd, agent: agent, authorizer: authorizer, logger: logger))
            } catch {
                throw ValidationError("--etcd: \(error.message)")
            }
        }
        services.append(Reloader(tls: tls, policy: policies, logger: logger))
        if let interval = notifier.watchdogInterval() {
            services.append(Watchdog(interval: interval, systemd: systemd, notifier: notifier, logger: logger))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        logger.info("geard starting", metadata: ["state.dir": "\(stateDir)", "systemd.bus": "\(systemd.address)"])
        try await group.run()
        notifier.stopping()
    }

    /// The HTTPS material, loaded (errors are reported as bad flags, before anything listens).
    private func tlsStore() throws -> TLSContextStore? {
        guard let tlsCert, let tlsKey, !tlsCA.isEmpty else { return nil }
        do {
            return try TLSContextStore(files: TLSFiles(certificate: tlsCert, key: tlsKey, certificateAuthorities: tlsCA, denyList: tlsDeny))
        } catch {
            throw ValidationError("\(error)")
        }
    }

    private func listenAddresses(logger: Logger, tls: TLSContextStore?) -> [(ListenAddress, ListenerSecurity)] {
        let activated = ActivatedSocket.fromEnvironment()
        if !activated.isEmpty {
            return activated.map { socket in
                let security: ListenerSecurity = socket.name == "https" ? tls.map { .mutualTLS($0) } ?? .trusted : .trusted
                return (.activated(fd: socket.fd, name: socket.name), security)
            }.filter { address, security in
                // An "https" socket without TLS material is not served in the clear.
                if case .activated(_, "https") = address, case .trusted = security {
                    logger.error("socket 'https' given but no --tls-cert/--tls-key/--tls-ca: not serving it")
                    return false
                }
                return true
            }
        }
        var result: [(ListenAddress, ListenerSecurity)] = []
        if let tls {
            for text in https.isEmpty ? [":\(GearAPI.defaultTLSPort)"] : https {
                if let address = ListenAddress.parseTCP(text) { result.append((address, .mutualTLS(tls))) }
            }
        }
        let tcp = listen.isEmpty ? ["127.0.0.1:\(GearAPI.defaultPort)"] : listen
        for text in tcp where text != "none" {
            guard let address = ListenAddress.parseTCP(text) else { continue }
            if case .tcp(let host, _) = address, !["127.0.0.1", "::1", "localhost"].contains(host) {
                logger.warning(
                    "plain HTTP on a non-loopback address: anyone who reaches it controls this node", metadata: ["listen.address": "\(address)"])
            }
            result.append((address, .trusted))
        }
        if socket != "none" {
            let mode = UInt32(socketMode, radix: 8) ?? 0o600
            result.append((.unix(path: socket, mode: mode, group: socketGroup.flatMap(Self.groupID)), .trusted))
        }
        return result
    }
}

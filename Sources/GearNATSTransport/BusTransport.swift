import Foundation
public import GearAPI
public import GearAuthorization
public import GearCertificates
public import GearNATS
public import Logging
public import ServiceLifecycle
import Synchronization
public import X509

/// GearNATSTransport: geard's message-bus transport. It listens on the node's own request subjects and the
/// broadcasts, verifies each signed request (`BusRequest`), refuses replays, hands what is valid to the API
/// (`answer`: the same routes, authorizer and job queue as HTTPS, in process), and publishes the signed answer on the
/// caller's reply subject for this node. It sees no systemd and no HTTP types. A broker that goes away stops nothing
/// (the client reconnects; `/healthz` reports it).
public struct BusTransportConfiguration: Sendable {
    public var nats: NATSConfiguration
    /// This node's name on the bus: its certificate's common name.
    public var node: String
    /// The CAs a caller's certificate must chain to, as last loaded (geard: its `--tls-ca`, reloaded on SIGHUP).
    public var roots: @Sendable () -> [Certificate]
    /// What signs the answers: the node's certificate and key.
    public var signer: TokenSigner
    /// How many requests are handled at once; more are answered 503 at once.
    public var maxInFlight = 64

    public init(nats: NATSConfiguration, node: String, roots: @escaping @Sendable () -> [Certificate], signer: TokenSigner) {
        self.nats = nats
        self.node = node
        self.roots = roots
        self.signer = signer
    }
}

/// A verified request, for the API: what the caller asked, as whom.
public struct BusCall: Sendable {
    public var method: String
    public var path: String
    public var body: [UInt8]
    public var requestID: String
    public var caller: PeerIdentity
    public var operation: GearAuthorization.Operation
}

/// The API's answer to a call: its status and JSON.
public struct BusCallAnswer: Sendable {
    public var status: Int
    public var body: [UInt8]

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}

public final class BusTransport: Service {
    let configuration: BusTransportConfiguration
    let client: NATSClient
    let answer: @Sendable (BusCall) async -> BusCallAnswer
    let audit: any AuditSink
    let logger: Logger
    let inFlight = Atomic<Int>(0)
    let seen: ReplayGuard
    /// The callers' certificates that chained lately (to the roots of the moment).
    let chains = ChainCache()
    let counters = Mutex(BusCounters())

    /// - Parameters:
    ///   - answer: runs a verified call through the API (geard: `GearHTTPServer.answer`).
    ///   - audit: where refusals before authorization (bad signatures, replays) are recorded.
    public init(
        configuration: BusTransportConfiguration, audit: any AuditSink, logger: Logger, answer: @escaping @Sendable (BusCall) async -> BusCallAnswer
    ) throws(NATSError) {
        self.configuration = configuration
        self.client = try NATSClient(configuration: configuration.nats, logger: logger)
        self.answer = answer
        self.audit = audit
        self.logger = logger
        self.seen = ReplayGuard(capacity: 100_000)
    }

    /// The client's state, for `/healthz`.
    public var status: NATSStatus { client.status }

    /// What the transport counted.
    public var statistics: BusCounters { counters.withLock { $0 } }

    public func run() async throws {
        let node = configuration.node
        let client = self.client
        logger.info("listening on the bus", metadata: ["bus.node": "\(node)", "bus.brokers": "\(configuration.nats.servers)"])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await client.run() }
            for subject in BusSubjects.nodeSubscriptions(node) {
                group.addTask { await self.listen(on: subject) }
            }
        }
    }

    /// Answers the requests on `subject` until the client shuts down. A subscription the broker refuses (a broker
    /// configured by hand that does not allow this node its own subjects) is reported in `/healthz` and tried again
    /// every 10 s: it never stops geard.
    func listen(on subject: String) async {
        while !Task.isCancelled {
            do {
                let subscription = try await client.subscribe(to: subject)
                try await withThrowingDiscardingTaskGroup { handlers in
                    for try await message in subscription {
                        // Bounded: past maxInFlight a request is answered 503 at once, without verifying it first.
                        if inFlight.wrappingAdd(1, ordering: .relaxed).newValue > configuration.maxInFlight {
                            inFlight.wrappingSubtract(1, ordering: .relaxed)
                            await busy(message)
                            continue
                        }
                        handlers.addTask {
                            defer { self.inFlight.wrappingSubtract(1, ordering: .relaxed) }
                            await self.handle(message)
                        }
                    }
                }
                return  // the client shut down
            } catch let error as NATSError where error.code == .closed {
                return
            } catch {
                counters.withLock { $0.refusedSubscriptions[subject] = "\(error)" }
                logger.error("bus: cannot listen", metadata: ["bus.subject": "\(subject)", "bus.error": "\(error)"])
                try? await Task.sleep(for: .seconds(10))
                counters.withLock { $0.refusedSubscriptions[subject] = nil }
            }
        }
    }
}

/// What the transport counted since it started.
public struct BusCounters: Sendable, Hashable {
    public var answered = 0
    /// Requests refused before the API: unsigned, badly signed, for another node, replayed, malformed.
    public var refused = 0
    /// Requests answered 503 because `maxInFlight` were being handled.
    public var busy = 0
    /// The node's own subjects the broker refused it now, with the refusal.
    public var refusedSubscriptions: [String: String] = [:]
}

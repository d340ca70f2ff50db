import ArgumentParser
import GearAPI
import GearAuthorization
import GearCore
import GearHTTP
import GearNATS
import GearNATSTransport
import Logging

extension Geard {
    /// The bus transport, answering through the HTTP API's routes in process (`GearHTTPServer.answer`) as the
    /// verified caller (refused if its certificate is revoked), with a `nats` check in `/healthz`.
    static func busTransport(
        _ configuration: BusTransportConfiguration, server: GearHTTPServer, tls: TLSContextStore?, agent: NodeAgent, logger: Logger
    ) throws -> BusTransport {
        // Room in a message for the reply's header (its JWS carries the node's certificate).
        let maxAnswer = max(1024, configuration.nats.maxPayload - 8 * 1024)
        let transport: BusTransport
        do {
            transport = try BusTransport(configuration: configuration, audit: JournalAuditSink(), logger: logger) { call in
                let caller: Caller = tls?.revocation(of: call.caller).map { .rejected(call.caller, reason: $0) } ?? .certificate(call.caller)
                let answer = await server.answer(
                    CarriedRequest(
                        method: call.method, path: call.path, body: call.body, requestID: call.requestID, caller: caller, operation: call.operation,
                        transport: "nats"),
                    maxAnswer: maxAnswer)
                return BusCallAnswer(status: answer.status, body: answer.body)
            }
        } catch {
            throw ValidationError("--nats: \(error)")
        }
        let brokers = configuration.nats.servers.map(\.description).joined(separator: ",")
        agent.healthChecks.register("nats") { [transport] in
            let refused = transport.statistics.refusedSubscriptions
            if case .connected(_) = transport.status, refused.isEmpty { return HealthReport.Check(name: "nats", ok: true) }
            if let (subject, error) = refused.first {
                return HealthReport.Check(
                    name: "nats", ok: false,
                    message: "the broker refuses this node \(subject): \(error); containers keep running, the API keeps serving")
            }
            return HealthReport.Check(
                name: "nats", ok: false, message: "\(brokers): \(transport.status); containers keep running, the API keeps serving")
        }
        return transport
    }
}

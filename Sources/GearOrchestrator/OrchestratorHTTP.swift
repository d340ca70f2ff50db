import Foundation
public import Hummingbird

/// What a replica answers over HTTP (`gear-orchestrator --listen`, loopback by default): `GET /healthz` (200 while
/// the process runs, with what it is doing), `GET /readyz` (200 once it has reached etcd and knows who leads, 503
/// with the reason otherwise) and `GET /metrics` (Prometheus' text format).
public enum OrchestratorHTTP {
    public static func router(
        _ orchestrator: Orchestrator, metrics: @escaping @Sendable () -> [UInt8]
    ) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/healthz") { _, _ in answer(.ok, orchestrator.state) }
        router.get("/readyz") { _, _ in
            let state = orchestrator.state
            return answer(state.leading || state.leader != nil ? .ok : .serviceUnavailable, state)
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics())))
        }
        return router
    }

    static func answer(_ status: HTTPResponse.Status, _ state: OrchestratorState) -> Response {
        var object: [String: Any] = ["leading": state.leading, "deployments": state.deployments]
        if let leader = state.leader { object["leader"] = leader }
        if state.term > 0 { object["term"] = state.term }
        if let error = state.lastError { object["lastError"] = error }
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: Array(body) + [0x0A])))
    }
}

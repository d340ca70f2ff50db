import GearAuthorization
import Hummingbird
import NIOCore
import Prometheus

/// `GET /metrics`: every figure geard keeps, in Prometheus' text format.
struct MetricsRoutes {
    let registry: PrometheusCollectorRegistry

    func register(on routes: EndpointRegistrar) {
        routes.on(.get, "/metrics", .metricsRead, use: metrics)
    }

    @Sendable func metrics(_ request: Request, context: GearRequestContext) async throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }
}

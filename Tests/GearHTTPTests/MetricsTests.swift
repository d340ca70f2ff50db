import Foundation
import GearAuthorization
import GearCore
import GearMetrics
import GearTestSupport
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import NIOCore
import Prometheus
import Testing

@testable import GearHTTP

/// `/metrics` in Prometheus' format, with the requests the router answered and the agent's job figures.
@Suite struct MetricsTests {
    /// The metrics system is global and bootstraps once per process.
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetrics.factory(registry: registry))
        return registry
    }()

    @Test func metricsNameRoutesStatusesAndJobs() async throws {
        let registry = Self.registry
        let root = NSTemporaryDirectory() + "gear-metrics-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/systemd", withIntermediateDirectories: true)
        let agent = try await makeTestAgent(root: root, systemd: MemorySystemd(unitDirectory: root + "/systemd"))
        let router = GearHTTPServer.makeRouter(agent: agent, metrics: registry)
        let app = Application(responder: CallerResponder(caller: .local(listener: "test"), router: router))
        try await app.test(.router) { client in
            let body = ByteBuffer(string: #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"Started":true}"#)
            try await client.execute(uri: "/container/metered?wait=10", method: .put, body: body) { #expect($0.status == .ok) }
            try await client.execute(uri: "/container/nosuch/status", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(buffer: response.body)
                #expect(text.contains(#"hb_requests_total{http_route="/container/{id}",http_request_method="PUT",http_response_status_code="200"}"#))
                #expect(text.contains(#"http_response_status_code="404""#))
                #expect(text.contains(#"gear_job_duration_seconds_count{kind="install",state="succeeded"}"#))
                // The gauges are process-wide: other suites' agents run jobs in parallel, so only their presence is certain.
                #expect(text.contains("gear_jobs_queued ") && text.contains("gear_jobs_running "))
                #expect(text.contains("gear_systemd_reloads_total"))
                for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                    #expect(line.wholeMatch(of: /[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (-?[0-9.eE+-]+|NaN|\+Inf)/) != nil, "\(line)")
                }
            }
        }
    }
}

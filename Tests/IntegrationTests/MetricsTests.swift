import Foundation
import Testing

/// `/metrics` from the real geard, read with curl: requests, jobs, reloads, in Prometheus' format.
@Suite(.enabled(if: Sandbox.enabled))
struct MetricsIntegrationTests {
    @Test func aLiveGeardExportsItsFigures() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("metrics")
        #expect(
            try curl(
                "PUT", "http://127.0.0.1:\(geard.port)/container/\(id)?wait=30",
                body: #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"Started":true}"#
            )
            .status == 200)
        let answer = try curl("GET", "http://127.0.0.1:\(geard.port)/metrics")
        #expect(answer.status == 200 && answer.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        for expected in [
            #"hb_requests_total{http_route="/container/{id}",http_request_method="PUT",http_response_status_code="200"}"#,
            #"http_server_request_duration_bucket{http_route="/container/{id}""#,
            #"gear_job_duration_seconds_count{kind="install",state="succeeded"}"#,
            "gear_jobs_queued ", "gear_jobs_running ", "gear_systemd_reloads_total ",
        ] {
            #expect(answer.body.contains(expected), "\(expected) missing")
        }
        #expect(try curl("DELETE", "http://127.0.0.1:\(geard.port)/container/\(id)?wait=30").status == 200)
        // Prometheus' own linter: every family has HELP, counters end in _total, names and types are valid.
        _ = try curl("GET", "http://127.0.0.1:\(geard.port)/container/\(id)/log")
        _ = try curl("GET", "http://127.0.0.1:\(geard.port)/nothing-here")
        let check = try sh("curl -s 127.0.0.1:\(geard.port)/metrics | promtool check metrics")
        #expect(check.status == 0 && check.output.isEmpty, "promtool: \(check.output)")
    }
}

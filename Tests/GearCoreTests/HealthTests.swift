import Foundation
import GearAPI
import Testing

@testable import GearCore

/// Health check fields as an install validates them, and the health a run of check results makes.
@Suite struct HealthTests {
    func spec(_ json: String) throws -> ContainerSpec {
        try ContainerSpec(validating: try GearJSON.decoder().decode(InstallRequest.self, from: Data(json.utf8)))
    }

    @Test func checksWithTheirDefaults() throws {
        let http = try #require(try spec(#"{"Image":"localhost/busybox","Ports":[{"Internal":8080}],"HealthHTTP":{"Port":8080}}"#).health)
        #expect(http.probe == .http(port: 8080, path: "/"))
        #expect(http.intervalMs == 30_000 && http.timeoutMs == 30_000 && http.retries == 3 && http.startPeriodMs == 0 && http.onFailure == .none)
        let command = try #require(
            try spec(#"{"Runtime":"exec","Cmd":["/bin/sleep","9"],"HealthCmd":["/bin/true"],"HealthInterval":"2s","HealthOnFailure":"RESTART"}"#)
                .health)
        #expect(command.probe == .command(["/bin/true"]) && command.intervalMs == 2000 && command.timeoutMs == 2000 && command.onFailure == .restart)
        // An exec container listens on the node: any port.
        let tcp = try #require(try spec(#"{"Runtime":"exec","Cmd":["/bin/sleep","9"],"HealthTCP":5432,"HealthStartPeriod":"1m"}"#).health)
        #expect(tcp.probe == .tcp(port: 5432) && tcp.startPeriodMs == 60_000)
        #expect(try spec(#"{"Image":"localhost/busybox"}"#).health == nil)
    }

    @Test(
        arguments: [
            (#""Image":"i","HealthTCP":8080"#, "not published"),
            (#""Image":"i","HealthTCP":0"#, "from 1 to 65535"),
            (#""Image":"i","Ports":[{"Internal":80}],"HealthTCP":80,"HealthHTTP":{"Port":80}"#, "give one health check"),
            (#""Image":"i","HealthCmd":["true"],"HealthInterval":"999ms""#, "at least 1s"),
            (#""Image":"i","HealthCmd":["true"],"HealthTimeout":"10ms""#, "HealthTimeout"),
            (#""Image":"i","HealthCmd":["true"],"HealthRetries":101"#, "HealthRetries"),
            (#""Image":"i","HealthCmd":["true"],"HealthOnFailure":"reboot""#, "HealthOnFailure"),
            (#""Image":"i","HealthRetries":3"#, "HealthRetries needs a health check"),
            (#""Image":"i","Ports":[{"Internal":80}],"HealthHTTP":{"Port":80,"Path":"/a b"}"#, "HealthHTTP.Path"),
            (#""Image":"i","Ports":[{"Internal":80}],"HealthHTTP":{"Port":80,"Path":"/\r\nX: y"}"#, "HealthHTTP.Path"),
            (#""Image":"i","HealthCmd":[]"#, "HealthCmd"),
            (#""Image":"i","HealthCmd":["a=b"]"#, "HealthCmd"),
            (#""Image":"i","HealthCmd":["sh","\n"]"#, "HealthCmd"),
        ])
    func refusals(_ fields: String, _ message: String) throws {
        do {
            _ = try spec("{\(fields)}")
            Issue.record("accepted: \(fields)")
        } catch let error as GearError {
            #expect(error.code == .invalidRequest && error.message.contains(message), "\(error.message)")
        }
    }

    func result(_ healthy: Bool) -> HealthCheckResult {
        HealthCheckResult(time: Date(), healthy: healthy, output: healthy ? "ok" : "no", durationMs: 1)
    }

    @Test func healthFromResults() {
        var tracker = HealthTracker()
        #expect(tracker.health.status == "starting")
        // Failures in the start period do not count while it is starting.
        #expect(tracker.record(result(false), inStartPeriod: true, retries: 1) == nil)
        #expect(tracker.health.status == "starting" && tracker.health.failingStreak == 0)
        #expect(tracker.record(result(true), inStartPeriod: true, retries: 1) == .becameHealthy)
        #expect(tracker.record(result(true), inStartPeriod: false, retries: 2) == nil)
        // Once healthy, failures count even within the start period.
        #expect(tracker.record(result(false), inStartPeriod: true, retries: 2) == nil)
        #expect(tracker.health.status == "healthy" && tracker.health.failingStreak == 1)
        #expect(tracker.record(result(false), inStartPeriod: false, retries: 2) == .becameUnhealthy)
        #expect(tracker.record(result(false), inStartPeriod: false, retries: 2) == nil)
        #expect(tracker.health.status == "unhealthy" && tracker.health.failingStreak == 3)
        #expect(tracker.record(result(true), inStartPeriod: false, retries: 2) == .becameHealthy)
        #expect(tracker.health.failingStreak == 0)
        // The last five results are kept, oldest first.
        #expect(tracker.health.log.count == HealthTracker.keptResults && tracker.health.log.last?.healthy == true)
        // Never healthy, failing past the start period: unhealthy straight from starting.
        var never = HealthTracker()
        #expect(never.record(result(false), inStartPeriod: false, retries: 1) == .becameUnhealthy)
    }

    @Test func theBoardCountsAndVersions() {
        let board = HealthBoard()
        let a = try! ContainerID("a"), b = try! ContainerID("b")
        let before = board.generation
        board.set(a, HealthStatus(status: "healthy"))
        let counts = board.set(b, HealthStatus(status: "starting"))
        #expect(counts == ["healthy": 1, "starting": 1, "unhealthy": 0])
        #expect(board.generation == before + 2)
        #expect(board.set(b, HealthStatus(status: "starting")) == nil)
        #expect(board.generation == before + 2, "an equal health is no change")
        // A new result of the same status changes the health (and the generation), not the counts.
        #expect(board.set(b, HealthStatus(status: "starting", log: [.init(time: Date(), healthy: false, output: "", durationMs: 0)])) == nil)
        #expect(board.generation == before + 3)
        #expect(board.set(a, nil) == ["healthy": 0, "starting": 1, "unhealthy": 0])
        #expect(board[a] == nil && board.counts["healthy"] == 0)
    }

    @Test func unitCgroups() {
        #expect(NodeAgent.unitCgroup("/gear.slice/ctr-web.service/supervisor", "ctr-web.service") == "/gear.slice/ctr-web.service")
        #expect(NodeAgent.unitCgroup("/gear.slice/ctr-web.service", "ctr-web.service") == "/gear.slice/ctr-web.service")
        #expect(NodeAgent.unitCgroup("/gear.slice/ctr-web.service2/x", "ctr-web.service") == nil)
    }
}

import Foundation
import GearAPI
import GearClient
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `GET /events` against real systemd: container state events from its signals, job events, the history kept
/// across restarts with what changed while geard was down, gaps, SSE resume, filters and bad queries.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct EventTests {
    /// The events geard keeps after `since` (`follow=0`), decoded.
    func events(_ geard: GeardProcess, since: UInt64, query: String = "") throws -> [GearEvent] {
        let answer = try curl("GET", "http://127.0.0.1:\(geard.port)/events?since=\(since)&follow=0\(query)")
        #expect(answer.status == 200)
        #expect(answer.headers["content-type"] == "application/x-ndjson")
        return try answer.body.split(separator: "\n").map { try GearJSON.decoder().decode(GearEvent.self, from: Data($0.utf8)) }
    }

    func lastSeq(_ geard: GeardProcess) throws -> UInt64 {
        try events(geard, since: 0).last?.seq ?? 0
    }

    func types(_ events: [GearEvent], of id: String) -> [String] {
        events.filter { $0.container == id }.map(\.type.rawValue)
    }

    @Test func aLifecycleMakesContainerAndJobEventsInOrderWhileAFollowerWatches() async throws {
        let geard = try await GeardProcess.start()
        defer { Task { await geard.stop() } }
        let id = uniqueID("ev")
        let start = try lastSeq(geard)
        // A live follower (curl, from now on) beside the history read afterwards: both must see the same events.
        let followed = NSTemporaryDirectory() + "events-\(UUID().uuidString)"
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        follower.arguments = ["-sN", "-o", followed, "http://127.0.0.1:\(geard.port)/events?id=\(id)"]
        try follower.run()
        try await Task.sleep(for: .milliseconds(300))

        let sleeper = InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true)
        #expect(try await geard.client.install(id, sleeper, wait: 60).job.state == .succeeded)
        let mainPID = try await geard.client.status(id).mainPID
        #expect(try await geard.client.stop(id, wait: 60).job.state == .succeeded)
        #expect(try await geard.client.start(id, wait: 60).job.state == .succeeded)
        // A crash that systemd restarts by the policy, then one it gives up on.
        let crasher = InstallRequest(runtime: "exec", cmd: ["/bin/sh", "-c", "sleep 0.3; exit 3"], started: true, restart: "on-failure")
        _ = try await geard.client.install(id, crasher, wait: 60)
        #expect(try await eventually { try self.types(self.events(geard, since: start), of: id).contains("container.restarted") })
        #expect(try await geard.client.delete(id, wait: 60).job.state == .succeeded)

        let history = try events(geard, since: start)
        // Numbered one by one, nothing skipped.
        #expect(history.map(\.seq) == Array((start + 1)...(start + UInt64(history.count))))
        let ours = types(history, of: id)
        let firstStart = try #require(ours.firstIndex(of: "container.started"))
        #expect(
            ours.prefix(firstStart + 1).filter { !$0.hasPrefix("job.") && $0 != "container.starting" } == [
                "container.installed", "container.started",
            ])
        let started = try #require(history.first { $0.container == id && $0.type == .started })
        #expect(started.mainPID == mainPID && started.activeState == "active")
        #expect(ours.contains("container.stopping") && ours.contains("container.stopped"))
        let failed = try #require(history.first { $0.container == id && $0.type == .failed })
        #expect(failed.result == "exit-code" && failed.exitStatus == 3)
        let restarted = try #require(history.first { $0.container == id && $0.type == .restarted })
        #expect(restarted.restarts == 1)
        #expect(ours.last == "job.succeeded" && ours.dropLast().last == "container.deleted")
        let jobs = history.filter { $0.container == id && $0.kind == "stop" }.map(\.type.rawValue)
        #expect(jobs == ["job.queued", "job.running", "job.succeeded"])

        // The follower got the same events of this container, live.
        #expect(
            try await eventually {
                let text = (try? String(contentsOfFile: followed, encoding: .utf8)) ?? ""
                return text.split(separator: "\n").count == history.filter { $0.container == id }.count
            })
        kill(follower.processIdentifier, SIGKILL)
        follower.waitUntilExit()
        let live = try String(contentsOfFile: followed, encoding: .utf8).split(separator: "\n")
            .map { try GearJSON.decoder().decode(GearEvent.self, from: Data($0.utf8)) }
        #expect(live == history.filter { $0.container == id })
    }

    @Test func theHistorySurvivesARestartAndTellsWhatChangedMeanwhile() async throws {
        let geard = try await GeardProcess.start()
        defer { Task { await geard.stop() } }
        let id = uniqueID("evr")
        _ = try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true), wait: 60)
        let before = try lastSeq(geard)
        await geard.stop(signal: SIGKILL)
        // While geard is gone, the container stops (an operator, or a crash).
        #expect(try sh("systemctl stop ctr-\(id).service").status == 0)
        try await geard.restart()
        var after: [GearEvent] = []
        #expect(
            try await eventually {
                after = try self.events(geard, since: before)
                return after.contains { $0.container == id && $0.type == .stopped }
            })
        #expect(after.first?.seq == before + 1)
        #expect(after.first?.type == .agentStarted)
        #expect(try events(geard, since: 0).count >= Int(before))
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func aReaderBehindTheHistoryGetsAGapAndSSEResumes() async throws {
        let geard = try await GeardProcess.start(arguments: ["--event-history", "16"])
        defer { Task { await geard.stop() } }
        let id = uniqueID("evg")
        _ = try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true), wait: 60)
        for _ in 0..<4 {
            _ = try await geard.client.restart(id, wait: 60)
        }
        let all = try events(geard, since: 0)
        let gap = try #require(all.first)
        #expect(gap.type == .gap && gap.missedFrom == 1)
        #expect(all.count == 17)
        #expect(all[1].seq == (gap.missedTo ?? 0) + 1)

        // SSE: an EventSource reconnecting with Last-Event-ID gets what follows that id.
        let resumeFrom = all[10].seq
        let sse = try curl(
            "GET", "http://127.0.0.1:\(geard.port)/events?follow=0",
            headers: [("Accept", "text/event-stream"), ("Last-Event-ID", "\(resumeFrom)")])
        #expect(sse.headers["content-type"] == "text/event-stream")
        let ids = sse.body.split(separator: "\n").filter { $0.hasPrefix("id: ") }.map { UInt64($0.dropFirst(4)) }
        #expect(ids == all.dropFirst(11).map(\.seq))
        #expect(sse.body.contains("\nevent: \(all[11].type.rawValue)\ndata: {"))
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func filtersPickTypesAndContainers() async throws {
        let geard = try await SharedGeard.get()
        let start = try lastSeq(geard)
        let a = uniqueID("evfa")
        let b = uniqueID("evfb")
        for id in [a, b] {
            _ = try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true), wait: 60)
        }
        let onlyA = try events(geard, since: start, query: "&id=\(a)")
        #expect(!onlyA.isEmpty && onlyA.allSatisfy { $0.container == a })
        let jobsOfB = try events(geard, since: start, query: "&type=job&id=\(b.prefix(8))*")
        #expect(jobsOfB.map(\.type.rawValue) == ["job.queued", "job.running", "job.succeeded"])
        let started = try events(geard, since: start, query: "&type=container.started,container.installed&id=\(a),\(b)")
        #expect(Set(started.map(\.type)) == [.started, .installed])
        #expect(started.count == 4)
        for id in [a, b] { _ = try await geard.client.delete(id, wait: 60) }
    }

    @Test(arguments: [
        ("since=abc", "since"), ("since=-1", "since"), ("type=container.exploded", "unknown event type"), ("type=", "event type"),
        ("id=../x", "id must"), ("id=a%0Ab", "id must"), ("format=xml", "format"), ("follow=maybe", "follow"),
    ])
    func badQueriesAreRefused(_ query: String, _ message: String) async throws {
        let geard = try await SharedGeard.get()
        let answer = try curl("GET", "http://127.0.0.1:\(geard.port)/events?\(query)")
        #expect(answer.status == 400)
        let error = try answer.decode(APIError.self)
        #expect(error.error == "invalid_request")
        #expect(error.message.contains(message))
    }
}

import Foundation
import GearAPI
import GearClient
import NIOHTTP1
import Testing

/// Jobs: accepted at once, waited for, replayed by request id, run in order per container, bounded.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct JobQueueTests {
    static func sleeper(started: Bool = true) -> InstallRequest {
        InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: started)
    }

    @Test func aMutatingCallAnswers202WithTheJobAndALocation() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("async")
        let body = try String(decoding: GearJSON.encoder().encode(Self.sleeper()), as: UTF8.self)
        let started = ContinuousClock.now
        let answer = try curl("PUT", "http://127.0.0.1:\(geard.port)/container/\(id)", body: body)
        let elapsed = ContinuousClock.now - started
        #expect(answer.status == 202)
        let job = try GearJSON.decoder().decode(Job.self, from: Data(answer.body.utf8))
        #expect(job.state == .queued || job.state == .running)
        #expect(answer.headers["location"] == "/jobs/\(job.id)")
        #expect(answer.headers["x-request-id"] == job.id)
        #expect(elapsed < .seconds(1))

        let waited = try await geard.client.wait(job: job.id, timeout: 60)
        #expect(waited.status == 200 && waited.job.state == .succeeded)
        #expect(waited.job.result?.container?.activeState == "active")
        let fetched = try await geard.client.job(job.id)
        #expect(fetched == waited.job)
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func preferWaitAnswersWithTheResult() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("prefer")
        let body = try String(decoding: GearJSON.encoder().encode(Self.sleeper()), as: UTF8.self)
        let answer = try curl("PUT", "http://127.0.0.1:\(geard.port)/container/\(id)", body: body, headers: [("Prefer", "wait=60")])
        #expect(answer.status == 200)
        #expect(answer.headers["preference-applied"] == "wait=60")
        #expect(try GearJSON.decoder().decode(Job.self, from: Data(answer.body.utf8)).state == .succeeded)
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func aRepeatedRequestIDReturnsTheSameJobAndRunsItOnce() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("idem")
        let requestID = UUID().uuidString.lowercased()
        // Sent twice at once, then again after it finished.
        async let first = geard.client.install(id, Self.sleeper(), requestID: requestID)
        async let second = geard.client.install(id, Self.sleeper(), requestID: requestID)
        let (a, b) = try await (first, second)
        #expect(a.job.id == requestID && b.job.id == requestID)
        let done = try await geard.client.wait(job: requestID, timeout: 60)
        #expect(done.job.state == .succeeded)
        let again = try await geard.client.install(id, Self.sleeper(), requestID: requestID.uppercased())
        #expect(again.status == 200 && again.job == done.job)
        let jobs = try await geard.client.send(.GET, "/jobs?container=\(id)").decode(JobList.self).jobs
        #expect(jobs.count == 1)
        #expect(try unitProperty("ctr-\(id).service", "NRestarts") == "0")

        // The same id for a different request is refused, and changes nothing.
        let conflict = try await geard.client.send(.PUT, "/container/\(id)/stopped", requestID: requestID)
        #expect(conflict.status == 409)
        #expect(try conflict.decode(APIError.self).error == "request_id_conflict")
        #expect(try unitProperty("ctr-\(id).service", "ActiveState") == "active")
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func jobsOnOneContainerRunInOrder() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("order")
        _ = try await geard.client.install(id, Self.sleeper(), wait: 60)
        var accepted: [Job] = []
        for i in 0..<10 {
            let answer = try await (i % 2 == 0 ? geard.client.stop(id) : geard.client.start(id))
            accepted.append(answer.job)
        }
        var finished: [Job] = []
        for job in accepted {
            finished.append(try await geard.client.wait(job: job.id, timeout: 60).job)
        }
        #expect(finished.allSatisfy { $0.state == .succeeded })
        for (earlier, later) in zip(finished, finished.dropFirst()) {
            #expect(later.startedAt! >= earlier.finishedAt!)
        }
        // The last job was a start.
        #expect(try unitProperty("ctr-\(id).service", "ActiveState") == "active")
        _ = try await geard.client.delete(id, wait: 60)
    }

    @Test func aFullQueueAnswers503WithRetryAfter() async throws {
        let geard = try await GeardProcess.start(arguments: ["--max-running-jobs", "1", "--max-queued-jobs", "2"])
        defer { Task { await geard.stop() } }
        let ids = (0..<8).map { _ in uniqueID("flood") }
        let answers = try await withThrowingTaskGroup(of: CurlAnswer.self) { group in
            let body = try String(decoding: GearJSON.encoder().encode(Self.sleeper()), as: UTF8.self)
            for id in ids {
                group.addTask { try curl("PUT", "http://127.0.0.1:\(geard.port)/container/\(id)", body: body) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let refused = answers.filter { $0.status == 503 }
        let accepted = answers.filter { $0.status == 202 }
        #expect(!refused.isEmpty && !accepted.isEmpty)
        #expect(refused.allSatisfy { $0.headers["retry-after"] != nil && $0.body.contains("queue_full") })
        for answer in accepted {
            let job = try GearJSON.decoder().decode(Job.self, from: Data(answer.body.utf8))
            #expect(try await geard.client.wait(job: job.id, timeout: 60).job.state == .succeeded)
        }
        for id in ids { _ = try await geard.client.delete(id, wait: 60) }
    }

    @Test func waitForJobTimesOutWith202() async throws {
        let geard = try await GeardProcess.start(arguments: ["--max-running-jobs", "1"])
        defer { Task { await geard.stop() } }
        // Starting a podman container keeps the single worker busy for a few hundred milliseconds; a job queued
        // behind it is still queued when a short wait ends.
        let slow = uniqueID("slow")
        _ = try await geard.client.install(slow, InstallRequest(image: "localhost/busybox", cmd: ["httpd", "-f"], started: true))
        let behind = try await geard.client.install(uniqueID("behind"), Self.sleeper(started: false))
        let answer = try await geard.client.send(.GET, "/jobs/\(behind.job.id)/wait?timeout=0.05")
        #expect(answer.status == 202)
        #expect(try answer.decode(Job.self).state != .succeeded)
        #expect(try await geard.client.wait(job: behind.job.id, timeout: 60).job.state == .succeeded)
        _ = try await geard.client.delete(slow, wait: 60)
        _ = try await geard.client.delete(behind.job.container, wait: 60)
    }
}

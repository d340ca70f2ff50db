import Foundation
import GearAPI
import GearClient
import NIOHTTP1
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `POST /jobs`: programs and images run once as transient units, against the real systemd, journald and podman:
/// output, exit status, sandbox, timeout, cancel, follows, request ids, a restart of geard mid-run, `gear run`,
/// and bad input.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct RunJobTests {
    static func post(_ geard: GeardProcess, _ body: String, wait: Int? = 60, headers: [(String, String)] = []) throws -> (CurlAnswer, Job?) {
        let answer = try curl("POST", "http://127.0.0.1:\(geard.port)/jobs" + (wait.map { "?wait=\($0)" } ?? ""), body: body, headers: headers)
        let decoder = GearJSON.decoder()
        let job =
            (try? decoder.decode(Job.self, from: Data(answer.body.utf8)))
            ?? (try? decoder.decode(APIError.self, from: Data(answer.body.utf8)))?.job
        return (answer, job)
    }

    static func log(_ geard: GeardProcess, _ id: String) throws -> String {
        try curl("GET", "http://127.0.0.1:\(geard.port)/jobs/\(id)/log?lines=all").body
    }

    static func unitIsGone(_ unit: String) throws -> Bool {
        try sh("systemctl show -p LoadState --value \(unit)").output.trimmingCharacters(in: .whitespacesAndNewlines) == "not-found"
    }

    @Test func anExecRunIsSandboxedAndItsOutputAndExitStatusAreKept() async throws {
        let geard = try await SharedGeard.get()
        let (failed, job) = try Self.post(
            geard,
            #"""
            {"Runtime":"exec","Cmd":["/bin/sh","-c","echo out; echo err >&2; id -un; touch /usr/x 2>/dev/null || echo read-only; echo secret=$SECRET; exit 3"],
             "Environment":{"SECRET":"s3cret"}}
            """#)
        #expect(failed.status == 422 && failed.body.contains(#""error":"unit_failed""#), "\(failed.body)")
        let ran = try #require(job)
        #expect(ran.kind == .run && ran.state == .failed && ran.exit == JobExit(exitCode: 3, result: "exit-code"), "\(ran)")
        #expect(ran.error?.message.contains("exited with status 3") == true)
        let output = try Self.log(geard, ran.id)
        for line in ["out\n", "err\n", "read-only\n", "secret=s3cret\n", "gear-run-\(ran.id.prefix(16))\n"] {
            #expect(output.contains(line), "\(line) in \(output)")
        }
        // The unit is gone (its journal stays), and so is the variables file; the value never was in the unit.
        let unit = try #require(ran.unit)
        #expect(try Self.unitIsGone(unit))
        #expect(!FileManager.default.fileExists(atPath: "\(geard.stateDir)/jobs/\(ran.id).env"))

        let (succeeded, ok) = try Self.post(geard, #"{"Runtime":"exec","Cmd":["echo","plain name"]}"#)
        #expect(succeeded.status == 200 && ok?.state == .succeeded && ok?.exit == JobExit(exitCode: 0, result: "success"), "\(succeeded.body)")
        #expect(try Self.log(geard, try #require(ok).id).contains("plain name\n"))
    }

    @Test func aPodmanRunSeesTheImagesRootAndLeavesNoContainer() async throws {
        let geard = try await SharedGeard.get()
        let (answer, job) = try Self.post(
            geard,
            #"{"Image":"localhost/busybox","Command":"/bin/sh","Arguments":["-c","test -x /bin/busybox && echo busybox-root; test -e /usr/bin/podman || echo no-host-podman"]}"#
        )
        #expect(answer.status == 200, "\(answer.body)")
        let id = try #require(job).id
        let output = try Self.log(geard, id)
        #expect(output.contains("busybox-root\n") && output.contains("no-host-podman\n"), "\(output)")
        #expect(!output.contains("container create"), "no podman events in the output")
        #expect(try sh("podman ps -a -q --filter label=io.gear.job=\(id)").output.isEmpty)
    }

    @Test func aRunPastItsTimeoutIsStoppedAndACanceledOneLeavesNothing() async throws {
        let geard = try await SharedGeard.get()
        let (timedOut, job) = try Self.post(geard, #"{"Runtime":"exec","Cmd":["/bin/sleep","100"],"Timeout":"1s"}"#)
        #expect(timedOut.status == 422 && job?.exit?.result == "timeout", "\(timedOut.body)")
        #expect(job?.error?.message.contains("ran past its Timeout of 1 s") == true)

        let (accepted, running) = try Self.post(geard, #"{"Runtime":"exec","Cmd":["/bin/sleep","100"]}"#, wait: nil)
        #expect(accepted.status == 202)
        let id = try #require(running).id
        #expect(try await eventually { try curl("GET", "http://127.0.0.1:\(geard.port)/jobs/\(id)").body.contains(#""state":"running""#) })
        try await Task.sleep(for: .milliseconds(300))
        let began = ContinuousClock.now
        let canceled = try curl("DELETE", "http://127.0.0.1:\(geard.port)/jobs/\(id)")
        #expect(
            canceled.status == 200 && canceled.body.contains(#""error":"canceled""#) && canceled.body.contains(#""result":"canceled""#),
            "\(canceled.body)")
        #expect(ContinuousClock.now - began < .seconds(5))
        #expect(try Self.unitIsGone("gear-run-\(id).service"))
        // Finished: nothing more to cancel.
        #expect(try curl("DELETE", "http://127.0.0.1:\(geard.port)/jobs/\(id)").status == 409)
    }

    @Test func aFollowedRunLogEndsWhenTheRunEnds() async throws {
        let geard = try await SharedGeard.get()
        let (_, job) = try Self.post(
            geard, #"{"Runtime":"exec","Cmd":["/bin/sh","-c","for i in 1 2 3; do echo tick-$i; sleep 0.5; done"]}"#, wait: nil)
        let id = try #require(job).id
        let began = ContinuousClock.now
        let followed = try curl("GET", "http://127.0.0.1:\(geard.port)/jobs/\(id)/log?follow=1&lines=all", options: "--max-time 20")
        #expect(followed.status == 200)
        // The program's lines in order (systemd's own lines about the unit may fall between them).
        #expect(followed.body.split(separator: "\n").filter { $0.hasPrefix("tick-") } == ["tick-1", "tick-2", "tick-3"], "\(followed.body)")
        #expect(ContinuousClock.now - began < .seconds(10), "the follow ended with the run, not at curl's limit")
        #expect(try await geard.client.job(id).state == .succeeded)
    }

    @Test func aRetryWithTheSameRequestIDRunsNothingTwice() async throws {
        let geard = try await SharedGeard.get()
        let requestID = UUID().uuidString.lowercased()
        let body = #"{"Runtime":"exec","Cmd":["/bin/sh","-c","echo once-\#(requestID)"]}"#
        let (first, job) = try Self.post(geard, body, headers: [("X-Request-Id", requestID)])
        let (again, replay) = try Self.post(geard, body, headers: [("X-Request-Id", requestID)])
        #expect(first.status == 200 && again.status == 200 && job?.id == requestID && replay?.id == requestID)
        #expect(try Self.log(geard, requestID).components(separatedBy: "once-\(requestID)").count == 2, "one run")
        let (other, _) = try Self.post(geard, #"{"Runtime":"exec","Cmd":["/bin/true"]}"#, headers: [("X-Request-Id", requestID)])
        #expect(other.status == 409 && other.body.contains("request_id_conflict"), "\(other.body)")
    }

    @Test(arguments: [SIGTERM, SIGKILL])
    func aRunGoesOnAcrossARestartOfGeardAndItsJobEndsAsTheRunDid(signal: Int32) async throws {
        let geard = try await GeardProcess.start()
        let (_, job) = try Self.post(geard, #"{"Runtime":"exec","Cmd":["/bin/sh","-c","sleep 3; echo finished; exit 4"]}"#, wait: nil)
        let id = try #require(job).id
        #expect(try await eventually { try await geard.client.job(id).state == .running })
        let began = ContinuousClock.now
        try await geard.restart(signal: signal)
        #expect(ContinuousClock.now - began < .seconds(3), "the stop did not wait for the run")
        let answer = try curl("GET", "http://127.0.0.1:\(geard.port)/jobs/\(id)/wait?timeout=30")
        let ended = try await geard.client.job(id)
        #expect(answer.status == 422 && ended.state == .failed && ended.exit == JobExit(exitCode: 4, result: "exit-code"), "\(ended)")
        #expect(try Self.log(geard, id).contains("finished\n"))
        #expect(try Self.unitIsGone("gear-run-\(id).service"))
        await geard.stop()
    }

    @Test func gearRunShowsTheOutputAndExitsWithTheProgramsStatus() async throws {
        let geard = try await SharedGeard.get()
        let host = "127.0.0.1:\(geard.port)"
        // A value that starts with a combining mark (U+0363) still splits at its `=`.
        let exec = try sh("\(Sandbox.gearPath) run \(host) -e WHO=cli -e MARK=\u{0363}x -- /bin/sh -c 'echo via-$WHO-$MARK; exit 5'")
        #expect(exec.status == 5 && exec.output.contains("via-cli-\u{0363}x"), "\(exec.output)")
        let image = try sh("\(Sandbox.gearPath) run --image localhost/busybox \(host) -- sh -c 'echo in-image'")
        #expect(image.status == 0 && image.output.contains("in-image"), "\(image.output)")
        let detached = try sh("\(Sandbox.gearPath) run --detach \(host) -- /bin/true")
        #expect(detached.status == 0 && detached.output.contains("job "), "\(detached.output)")
    }

    /// geard's client sends `X-Api-Version: 1` and geard's `RunContainerRequest`; geard streamed the output.
    @Test func geardsClientGetsTheRunsOutputAsItComes() async throws {
        let geard = try await SharedGeard.get()
        // geard's client's request ids: 16 bytes in base64url; the job id is their hex.
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
        let requestID = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        let answer = try curl(
            "POST", "http://127.0.0.1:\(geard.port)/jobs",
            body: #"{"Name":"ignored","Image":"localhost/busybox","Command":"/bin/sh","Arguments":["-c","echo geard-style; sleep 0.3; echo done"]}"#,
            headers: [("X-Api-Version", "1"), ("X-Request-Id", requestID)], options: "--max-time 60")
        #expect(answer.status == 202 && answer.body.contains("geard-style\n") && answer.body.contains("done\n"), "\(answer.body)")
        let job = try await geard.client.job(bytes.map { String(format: "%02x", $0) }.joined())
        #expect(job.kind == .run && job.state == .succeeded, "\(job)")
    }

    @Test func badRunsAreRefusedAndQueueNothing() async throws {
        let geard = try await SharedGeard.get()
        let before = try await geard.client.send(.GET, "/jobs?limit=1000").decode(JobList.self).jobs.count
        for (body, status, text) in [
            (#"{"Runtime":"exec","Cmd":["/bin/true"],"Ports":[{"Internal":80}]}"#, 400, "Ports"),
            ("", 400, "a JSON body is required"),
            (#"{"Runtime":"exec","Cmd":["/bin/echo","a\nb"]}"#, 400, "forbidden character"),
            (#"{"Runtime":"exec","Cmd":["/bin/true"],"Timeout":"forever"}"#, 400, "Timeout"),
            (#"{"Runtime":"exec","Cmd":["/bin/true"],"EnvironmentId":"nope"}"#, 400, "no environment nope"),
            ("[1,2]", 400, "expected an object"),
        ] {
            let (answer, _) = try Self.post(geard, body)
            #expect(answer.status == status && answer.body.contains(text) && answer.body.contains(#""error""#), "\(body): \(answer.body)")
        }
        #expect(try await geard.client.send(.GET, "/jobs?limit=1000").decode(JobList.self).jobs.count == before)
        // A lifecycle job has no run log; unknown jobs are 404, bad ids 400.
        let id = uniqueID("runlog")
        let install = try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "100"]), wait: 30)
        #expect(try curl("GET", "http://127.0.0.1:\(geard.port)/jobs/\(install.job.id)/log").status == 404)
        #expect(try curl("DELETE", "http://127.0.0.1:\(geard.port)/jobs/0123456789abcdef0123456789abcdef").status == 404)
        #expect(try curl("DELETE", "http://127.0.0.1:\(geard.port)/jobs/not-an-id").status == 400)
        _ = try await geard.client.delete(id, wait: 30)
    }
}

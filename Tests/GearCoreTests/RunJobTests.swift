import Foundation
import GearAPI
import GearTestSupport
import Logging
import Testing

@testable import GearCore

/// Run jobs (`POST /jobs`): validation, the transient unit's settings, and their place in the queue, against an
/// in-memory systemd (the integration tests run them for real).
@Suite struct RunJobTests {
    let root: String
    let systemd: MemorySystemd

    init() throws {
        root = NSTemporaryDirectory() + "gear-run-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/systemd", withIntermediateDirectories: true)
        systemd = MemorySystemd(unitDirectory: root + "/systemd")
    }

    func agent(_ configure: (inout AgentConfiguration) -> Void = { _ in }) async throws -> NodeAgent {
        var configuration = AgentConfiguration(layout: try StateLayout(root: root + "/state", systemdUnitDirectory: root + "/systemd"))
        configuration.hostPortIsFree = { _ in true }
        configure(&configuration)
        let agent = NodeAgent(configuration: configuration, systemd: systemd, logger: Logger(label: "test"))
        try await agent.prepare()
        return agent
    }

    static func decode(_ json: String) throws -> RunRequest {
        try GearJSON.decoder().decode(RunRequest.self, from: Data(json.utf8))
    }

    @Test func geardsCommandAndArgumentsMeanAnEntrypointForPodmanAndTheProgramForExec() throws {
        let podman = try RunSpec(validating: try Self.decode(#"{"Image":"localhost/busybox","Command":"/bin/sh","Arguments":["-c","id"]}"#))
        #expect(podman.runtime == .podman && podman.entrypoint == "/bin/sh" && podman.cmd == ["-c", "id"])
        let exec = try RunSpec(validating: try Self.decode(#"{"runtime":"exec","command":"/usr/bin/env","arguments":["-0"]}"#))
        #expect(exec.runtime == .exec && exec.entrypoint == nil && exec.cmd == ["/usr/bin/env", "-0"])
        #expect(exec.timeoutMs == RunSpec.defaultTimeoutMs)
        #expect(try RunSpec(validating: try Self.decode(#"{"Runtime":"exec","Cmd":["true"],"Timeout":"90s"}"#)).timeoutMs == 90_000)
    }

    @Test(
        arguments: [
            (#"{"Runtime":"exec","Cmd":["true"],"Command":"true"}"#, "not both"),
            (#"{"Runtime":"exec","Arguments":["x"]}"#, "Command is required"),
            (#"{"Runtime":"exec"}"#, "Cmd is required"),
            (#"{"Runtime":"exec","Image":"x","Cmd":["true"]}"#, "takes no Image"),
            (#"{"Cmd":["true"]}"#, "Image is required"),
            (#"{"Runtime":"exec","Cmd":["true"],"Timeout":"0.5s"}"#, "at least 1s"),
            (#"{"Runtime":"exec","Cmd":["true"],"Timeout":"31d"}"#, "at most 30 days"),
            (#"{"Runtime":"exec","Cmd":["-x"]}"#, "absolute path to a program (/usr/bin/env) or a program name"),
            (#"{"Runtime":"exec","Cmd":["/bin/echo","a\nb"]}"#, "forbidden character"),
            (#"{"Image":"localhost/busybox","Relax":["PrivateUsers"]}"#, "Relax applies to the exec runtime"),
            (#"{"Runtime":"exec","Cmd":["true"],"Memory":"1k"}"#, "Memory"),
        ])
    func badRunsAreRefusedNamingTheField(body: String, message: String) throws {
        #expect {
            try RunSpec(validating: try Self.decode(body))
        } throws: { error in
            (error as? GearError)?.code == .invalidRequest && (error as? GearError)?.message.contains(message) == true
        }
    }

    @Test func whatOnlyAContainerHasIsAnUnknownField() {
        for field in [#""Ports":[{"Internal":80}]"#, #""Started":true"#, #""Volumes":[]"#, #""HealthCmd":["true"]"#, #""Restart":"always""#] {
            #expect(throws: (any Error).self) { try Self.decode(#"{"Runtime":"exec","Cmd":["true"],\#(field)}"#) }
        }
    }

    @Test func anExecRunGetsTheSandboxOfExecContainersAndItsVariablesOnlyFromAFile() throws {
        var request = try Self.decode(#"{"Runtime":"exec","Cmd":["/bin/sh","-c","env"],"Environment":{"SECRET":"s3"},"Memory":"64M","CPUs":0.5}"#)
        request.relax = ["MemoryDenyWriteExecute"]
        let spec = try RunSpec(validating: request)
        let renderer = UnitRenderer(layout: try StateLayout(root: root + "/state", systemdUnitDirectory: root + "/systemd"))
        let id = "0123456789abcdef0123456789abcdef"
        let settings = spec.settings(id: id, renderer: renderer, environmentFile: "/state/jobs/\(id).env")
        let byName = Dictionary(settings.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        #expect(byName["DynamicUser"] == .bool(true) && byName["User"] == .string("gear-run-0123456789abcdef"))
        #expect(byName["ExecStart"] == .commands([["/bin/sh", "-c", "env"]]))
        #expect(byName["EnvironmentFiles"] == .environmentFiles(["/state/jobs/\(id).env"]))
        #expect(byName["Environment"] == nil, "variables never in Environment=, which systemctl show tells anyone")
        #expect(byName["MemoryMax"] == .uint64(64 << 20) && byName["CPUQuotaPerSecUSec"] == .uint64(500_000))
        #expect(byName["RuntimeMaxUSec"] == .uint64(3_600_000_000) && byName["RemainAfterExit"] == .bool(true))
        // The sandbox is the exec containers' own, relaxed alike.
        let sandbox = ExecSandbox.settings(relax: [.memoryDenyWriteExecute])
        #expect(Array(settings.suffix(sandbox.count)) == sandbox)
        #expect(!settings.contains { $0.name == "MemoryDenyWriteExecute" } && settings.contains { $0.name == "SystemCallFilter" })
    }

    @Test func aPodmanRunIsPodmanRunRemoveInTheForeground() throws {
        let spec = try RunSpec(validating: try Self.decode(#"{"Image":"localhost/busybox","Command":"/bin/sh","Arguments":["-c","echo hi"]}"#))
        let renderer = UnitRenderer(layout: try StateLayout(root: root + "/state", systemdUnitDirectory: root + "/systemd"))
        let settings = spec.settings(id: "abc", renderer: renderer, environmentFile: nil)
        guard case .commands(let lines) = settings.first(where: { $0.name == "ExecStart" })?.value, let line = lines.first else {
            Issue.record("no ExecStart")
            return
        }
        #expect(Array(line.prefix(5)) == ["/usr/bin/podman", "--events-backend", "none", "run", "--rm"])
        #expect(Array(line.suffix(5)) == ["--entrypoint", "/bin/sh", "localhost/busybox", "-c", "echo hi"])
        #expect(line.contains("--cgroups=split") && !settings.contains { $0.name == "DynamicUser" })
        #expect(settings.contains { $0.name == "ExecStopPost" })
    }

    @Test func runsDoNotTakeTheLifecycleJobsPlacesAndAQueuedJobCanBeCanceled() async throws {
        let agent = try await agent { $0.maxRunningJobs = 1 }
        systemd.hold("ctr-a.service")
        let running = try await agent.install(try ContainerID("a"), NodeAgentTests.sleeper, requestID: nil).job
        try await Task.sleep(for: .milliseconds(50))
        let queued = try await agent.install(try ContainerID("b"), NodeAgentTests.sleeper, requestID: nil).job
        // The one lifecycle place is taken; a run still runs.
        let run = try await agent.run(try Self.decode(#"{"Runtime":"exec","Cmd":["/bin/true"]}"#), requestID: nil).job
        #expect(run.kind == .run && run.unit == "gear-run-\(run.id).service" && run.container == "")
        let ran = await agent.wait(run.id, timeout: .seconds(10))
        #expect(ran?.state == .succeeded && ran?.exit == JobExit(exitCode: 0, result: "success"), "\(String(describing: ran))")
        #expect(systemd.operations.contains("stop gear-run-\(run.id).service"), "the finished run's unit is let go")

        // The queued install never runs; the running one cannot be canceled.
        let canceled = try await agent.cancel(queued.id)
        #expect(canceled.state == .failed && canceled.error?.error == "canceled")
        await #expect(throws: GearError(.conflict, "")) { try await agent.cancel(running.id) }
        systemd.release("ctr-a.service")
        #expect(await agent.wait(running.id, timeout: .seconds(10))?.state == .succeeded)
        #expect(!systemd.operations.contains("start ctr-b.service"))
        await #expect(throws: GearError(.conflict, "")) { try await agent.cancel(queued.id) }
        await #expect(throws: GearError(.notFound, "")) { try await agent.cancel("0123456789abcdef0123456789abcdef") }
    }

    @Test func aRunThatWasRunningWhenGeardStoppedIsWaitedForAgainAfterTheRestart() async throws {
        let id = "fedcba9876543210fedcba9876543210"
        let spec = try RunSpec(validating: try Self.decode(#"{"Runtime":"exec","Cmd":["/bin/true"]}"#))
        // As a stop left it: the job on disk as it was accepted (`queued`), its unit loaded (its program ended
        // meanwhile).
        let layout = try StateLayout(root: root + "/state", systemdUnitDirectory: root + "/systemd")
        try FileManager.default.createDirectory(atPath: layout.jobs, withIntermediateDirectories: true)
        let job = Job(id: id, kind: .run, container: "", state: .queued, createdAt: Date(), unit: RunSpec.unitName(id))
        try GearJSON.encoder().encode(StoredJob(job: job, fingerprint: "f", run: spec)).write(to: URL(fileURLWithPath: layout.jobFile(id)))
        _ = try await systemd.startTransient(RunSpec.unitName(id), settings: [])
        let agent = try await agent()
        let resumed = await agent.wait(id, timeout: .seconds(10))
        #expect(resumed?.state == .succeeded && resumed?.exit?.exitCode == 0, "\(String(describing: resumed))")
        #expect(systemd.operations.filter { $0.hasPrefix("start-transient") }.count == 1, "not started a second time")
    }
}

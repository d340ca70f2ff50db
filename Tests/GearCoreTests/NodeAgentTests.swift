import Foundation
import GearAPI
import GearTestSupport
import Logging
import Testing

@testable import GearCore

/// The agent's queue and bookkeeping, against an in-memory systemd.
@Suite struct NodeAgentTests {
    let root: String
    let systemd: MemorySystemd

    init() throws {
        root = NSTemporaryDirectory() + "gear-agent-\(UUID().uuidString)"
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

    static let sleeper = InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true)

    func wait(_ agent: NodeAgent, _ job: Job) async -> Job {
        await agent.wait(job.id, timeout: .seconds(10)) ?? job
    }

    @Test func installWritesDefinitionUnitAndLinksThenStarts() async throws {
        let agent = try await agent()
        let id = try ContainerID("web")
        let job = await wait(agent, try await agent.install(id, Self.sleeper, requestID: nil).job)
        #expect(job.state == .succeeded)
        #expect(FileManager.default.fileExists(atPath: "\(root)/state/containers/web.json"))
        #expect(FileManager.default.fileExists(atPath: "\(root)/state/units/ctr-web.service"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/systemd/ctr-web.service") == "\(root)/state/units/ctr-web.service")
        #expect(FileManager.default.fileExists(atPath: "\(root)/systemd/gear-active.target.wants/ctr-web.service"))
        #expect(systemd.operations.suffix(2) == ["link ctr-web.service", "start ctr-web.service"])
        #expect(job.result?.container?.activeState == "active")
    }

    @Test func jobsOnOneContainerRunInSubmissionOrder() async throws {
        let agent = try await agent()
        let id = try ContainerID("web")
        _ = await wait(agent, try await agent.install(id, Self.sleeper, requestID: nil).job)
        var jobs: [Job] = []
        for i in 0..<20 {
            jobs.append(try await (i % 2 == 0 ? agent.stop(id, requestID: nil) : agent.start(id, requestID: nil)).job)
        }
        for job in jobs { #expect(await wait(agent, job).state == .succeeded) }
        let ops = systemd.operations.filter { $0.hasSuffix("ctr-web.service") && ($0.hasPrefix("stop") || $0.hasPrefix("start")) }
        #expect(Array(ops.suffix(20)) == (0..<20).map { $0 % 2 == 0 ? "stop ctr-web.service" : "start ctr-web.service" })
    }

    @Test func aSlowContainerDoesNotHoldUpOthers() async throws {
        let agent = try await agent()
        systemd.hold("ctr-slow.service")
        let slow = try await agent.install(try ContainerID("slow"), Self.sleeper, requestID: nil).job
        let fast = try await agent.install(try ContainerID("fast"), Self.sleeper, requestID: nil).job
        #expect(await wait(agent, fast).state == .succeeded)
        #expect(await agent.job(slow.id)?.state == .running)
        systemd.release("ctr-slow.service")
        #expect(await wait(agent, slow).state == .succeeded)
    }

    @Test func runningJobsAreBounded() async throws {
        let agent = try await agent { $0.maxRunningJobs = 3 }
        let ids = try (0..<10).map { try ContainerID("c\($0)") }
        for id in ids { systemd.hold(id.unitName) }
        var jobs: [Job] = []
        for id in ids { jobs.append(try await agent.install(id, Self.sleeper, requestID: nil).job) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(await agent.queueCounts.running == 3)
        for id in ids { systemd.release(id.unitName) }
        for job in jobs { #expect(await wait(agent, job).state == .succeeded) }
        #expect(systemd.maxConcurrent <= 3)
    }

    @Test func aFullQueueRefusesNewJobs() async throws {
        let agent = try await agent {
            $0.maxRunningJobs = 1
            $0.maxQueuedJobs = 2
        }
        for i in 0..<3 { systemd.hold("ctr-q\(i).service") }
        _ = try await agent.install(try ContainerID("q0"), Self.sleeper, requestID: nil)
        try await Task.sleep(for: .milliseconds(50))
        _ = try await agent.install(try ContainerID("q1"), Self.sleeper, requestID: nil)
        _ = try await agent.install(try ContainerID("q2"), Self.sleeper, requestID: nil)
        await #expect(throws: GearError(.queueFull, "")) {
            try await agent.install(try ContainerID("q3"), Self.sleeper, requestID: nil)
        }
        #expect(!FileManager.default.fileExists(atPath: "\(root)/state/containers/q3.json"))
        for i in 0..<3 { systemd.release("ctr-q\(i).service") }
    }

    @Test func shutdownFailsQueuedJobsAndWaitsForRunningOnesOnlyForItsGrace() async throws {
        let agent = try await agent {
            $0.maxRunningJobs = 1
            $0.shutdownGrace = .milliseconds(300)
        }
        systemd.hold("ctr-s0.service")
        let running = try await agent.install(try ContainerID("s0"), Self.sleeper, requestID: nil)
        try await Task.sleep(for: .milliseconds(50))
        let queued = try await agent.install(try ContainerID("s1"), Self.sleeper, requestID: nil)
        async let waited = agent.wait(queued.job.id, timeout: .seconds(10))
        let clock = ContinuousClock()
        let began = clock.now
        await agent.shutdown()
        let took = clock.now - began
        // The held start never ends by itself: the shutdown gave up on it after its grace, not after 10 s.
        #expect(took >= .milliseconds(250) && took < .seconds(5), "shutdown took \(took)")
        let failed = await waited
        #expect(failed?.state == .failed && failed?.error?.error == "interrupted")
        #expect(await agent.job(running.job.id)?.state == .running)
        await #expect(throws: GearError(.shuttingDown, "")) {
            try await agent.install(try ContainerID("s2"), Self.sleeper, requestID: nil)
        }
        #expect(await agent.readiness().checks.first { $0.name == "accepting" }?.ok == false)
        systemd.release("ctr-s0.service")
        #expect(await agent.wait(running.job.id, timeout: .seconds(10))?.state == .succeeded)
    }

    @Test func aRequestIDNamesOneJob() async throws {
        let agent = try await agent()
        let id = try ContainerID("web")
        let requestID = try RequestID("0123456789abcdef0123456789abcdef")
        let first = try await agent.install(id, Self.sleeper, requestID: requestID)
        let second = try await agent.install(id, Self.sleeper, requestID: requestID)
        #expect(!first.replayed && second.replayed && first.job.id == second.job.id)
        _ = await wait(agent, first.job)
        #expect(systemd.operations.filter { $0 == "start ctr-web.service" }.count == 1)
        await #expect(throws: GearError(.requestIDConflict, "")) {
            try await agent.stop(id, requestID: requestID)
        }
    }

    @Test func pendingInstallsReserveTheirPorts() async throws {
        let agent = try await agent { $0.portRange = 5000...5001 }
        systemd.hold("ctr-a.service")
        let request = InstallRequest(image: "localhost/busybox", started: true, ports: [PortRequest(internal: 80)])
        let a = try await agent.install(try ContainerID("a"), request, requestID: nil)
        let b = try await agent.install(try ContainerID("b"), request, requestID: nil)
        #expect(a.ports.first?.externalPort == 5000 && b.ports.first?.externalPort == 5001)
        await #expect(throws: GearError(.portsExhausted, "")) {
            try await agent.install(try ContainerID("c"), request, requestID: nil)
        }
        await #expect(throws: GearError(.portConflict, "")) {
            try await agent.install(
                try ContainerID("d"), InstallRequest(image: "x", ports: [PortRequest(internal: 80, external: 5000)]), requestID: nil)
        }
        systemd.release("ctr-a.service")
        _ = await wait(agent, a.job)
        _ = await wait(agent, try await agent.delete(try ContainerID("a"), requestID: nil).job)
        let c = try await agent.install(try ContainerID("c"), request, requestID: nil)
        #expect(c.ports.first?.externalPort == 5000)
    }

    @Test func ifFitsCountsInstallsNotYetAppliedAndRefusesTheOneThatDoesNotFit() async throws {
        let agent = try await agent()
        let total = HostFacts.memory.total
        systemd.hold("ctr-a.service")
        var request = Self.sleeper
        request.memory = MemoryLimit(String(total / 5 * 3))
        request.ifFits = true
        // a is accepted (its job waits): b asks for as much again and does not fit beside it.
        let a = try await agent.install(try ContainerID("a"), request, requestID: nil)
        await #expect {
            try await agent.install(try ContainerID("b"), request, requestID: nil)
        } throws: { error in
            let error = error as? GearError
            return error?.code == .insufficientCapacity && error!.message.contains("Memory: needs") && error!.message.contains("left")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(root)/state/containers/b.json"))
        // Without IfFits limits may add up to more than the node has.
        var loose = request
        loose.ifFits = nil
        _ = try await agent.install(try ContainerID("c"), loose, requestID: nil)
        // a's re-install does not count a's old grant against itself: c's 60% and a's new 10% fit.
        systemd.release("ctr-a.service")
        _ = await wait(agent, a.job)
        request.memory = MemoryLimit(String(total / 10))
        let again = await wait(agent, try await agent.install(try ContainerID("a"), request, requestID: nil).job)
        #expect(again.state == .succeeded)
        var cpus = Self.sleeper
        cpus.cpus = Double(HostFacts.cpus) + 1
        cpus.ifFits = true
        await #expect(throws: GearError(.insufficientCapacity, "")) {
            try await agent.install(try ContainerID("d"), cpus, requestID: nil)
        }
    }

    @Test func aFailedStartFailsTheJobWithTheUnitsLog() async throws {
        let agent = try await agent()
        systemd.failStarts(of: "ctr-bad.service")
        let job = await wait(agent, try await agent.install(try ContainerID("bad"), Self.sleeper, requestID: nil).job)
        #expect(job.state == .failed && job.error?.error == "unit_failed")
        #expect(job.error?.message.contains("simulated failure") == true)
    }

    @Test func stateAndJobsSurviveANewAgentAndUnfinishedJobsAreMarkedInterrupted() async throws {
        let first = try await agent()
        let done = await wait(first, try await first.install(try ContainerID("web"), Self.sleeper, requestID: nil).job)
        systemd.hold("ctr-stuck.service")
        let stuck = try await first.install(try ContainerID("stuck"), Self.sleeper, requestID: nil).job
        try await Task.sleep(for: .milliseconds(100))
        // A second agent on the same state, as after a crash of the first.
        let second = try await agent()
        let reloaded = try #require(await second.job(done.id))
        #expect(try GearJSON.encoder().encode(reloaded) == GearJSON.encoder().encode(done))
        let interrupted = try #require(await second.job(stuck.id))
        #expect(interrupted.state == .failed && interrupted.error?.error == "interrupted")
        #expect(try await second.status(try ContainerID("web")).started)
        systemd.release("ctr-stuck.service")
    }

    @Test func finishedJobsBeyondTheRetainedCountAreDroppedOldestFirst() async throws {
        let agent = try await agent { $0.maxRetainedJobs = 5 }
        let id = try ContainerID("web")
        var ids: [String] = []
        ids.append(await wait(agent, try await agent.install(id, Self.sleeper, requestID: nil).job).id)
        for i in 0..<11 {
            ids.append(await wait(agent, try await (i % 2 == 0 ? agent.stop(id, requestID: nil) : agent.start(id, requestID: nil)).job).id)
        }
        let kept = await agent.jobs().map(\.id)
        #expect(Set(kept) == Set(ids.suffix(5)))
        for old in ids.prefix(7) { #expect(await agent.job(old) == nil) }
        // Pruning removes the files after the job's waiters were answered.
        var files: Set<String> = []
        for _ in 0..<100 {
            files = Set(try FileManager.default.contentsOfDirectory(atPath: "\(root)/state/jobs").filter { $0.hasSuffix(".json") })
            if files.count == 5 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(files == Set(ids.suffix(5).map { "\($0).json" }))
        // A new agent keeps the same ones, and goes on dropping the oldest.
        let again = try await self.agent { $0.maxRetainedJobs = 5 }
        #expect(Set(await again.jobs().map(\.id)) == Set(ids.suffix(5)))
        let next = await wait(again, try await again.stop(id, requestID: nil).job).id
        #expect(Set(await again.jobs().map(\.id)) == Set(ids.suffix(4) + [next]))
    }

    @Test func deleteRemovesEverything() async throws {
        let agent = try await agent()
        let id = try ContainerID("web")
        _ = await wait(
            agent,
            try await agent.install(
                id, InstallRequest(runtime: "exec", cmd: ["/bin/true"], started: true, volumes: [VolumeRequest(name: "d", path: "/d")]),
                requestID: nil
            ).job)
        #expect(FileManager.default.fileExists(atPath: "\(root)/state/volumes/web/d"))
        let deleted = await wait(agent, try await agent.delete(id, requestID: nil).job)
        #expect(deleted.state == .succeeded)
        for path in [
            "state/containers/web.json", "state/units/ctr-web.service", "state/volumes/web", "systemd/ctr-web.service",
            "systemd/gear-active.target.wants/ctr-web.service",
        ] {
            #expect(!FileManager.default.fileExists(atPath: "\(root)/\(path)"), "\(path)")
        }
        await #expect(throws: GearError(.notFound, "")) { try await agent.status(id) }
    }

    @Test func newInstallsDeletesAndReplacingStoppedContainersNeedNoReload() async throws {
        let agent = try await agent()
        let before = systemd.reloads
        let jobs = try await withThrowingTaskGroup(of: Job.self) { group in
            for i in 0..<20 { group.addTask { try await agent.install(try ContainerID("n\(i)"), Self.sleeper, requestID: nil).job } }
            return try await group.reduce(into: [Job]()) { $0.append($1) }
        }
        for job in jobs { #expect(await wait(agent, job).state == .succeeded) }
        let id = try ContainerID("n0")
        #expect(await wait(agent, try await agent.stop(id, requestID: nil).job).state == .succeeded)
        let stopped = InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "2000"], started: false)
        #expect(await wait(agent, try await agent.install(id, stopped, requestID: nil).job).state == .succeeded)
        #expect(await wait(agent, try await agent.delete(try ContainerID("n1"), requestID: nil).job).state == .succeeded)
        #expect(systemd.reloads == before)
        // The replace of the stopped container asked systemd for no stop: it holds no unit to stop.
        #expect(systemd.operations.filter { $0 == "stop ctr-n0.service" }.count == 1)
    }

    @Test func replacingRunningContainersReloadsAndABurstSharesReloads() async throws {
        let agent = try await agent()
        let jobs = try await withThrowingTaskGroup(of: Job.self) { group in
            for i in 0..<40 { group.addTask { try await agent.install(try ContainerID("b\(i)"), Self.sleeper, requestID: nil).job } }
            return try await group.reduce(into: [Job]()) { $0.append($1) }
        }
        for job in jobs { #expect(await wait(agent, job).state == .succeeded) }
        let before = systemd.reloads
        let changed = InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "3000"], started: true)
        let replacements = try await withThrowingTaskGroup(of: Job.self) { group in
            for i in 0..<40 { group.addTask { try await agent.install(try ContainerID("b\(i)"), changed, requestID: nil).job } }
            return try await group.reduce(into: [Job]()) { $0.append($1) }
        }
        for job in replacements { #expect(await wait(agent, job).state == .succeeded) }
        #expect(systemd.reloads - before >= 1)
        #expect(systemd.reloads - before < 10)
    }

    /// A container a reload saw wanted at boot stays loaded in systemd after its file is gone (gear-active.target
    /// wants it) until the next reload: its delete reloads, and deletes at once share reloads.
    @Test func deletingAContainerSystemdHoldsPinnedReloadsOnce() async throws {
        let agent = try await agent()
        let ids = try (0..<10).map { try ContainerID("p\($0)") }
        for id in ids { #expect(await wait(agent, try await agent.install(id, Self.sleeper, requestID: nil).job).state == .succeeded) }
        try await systemd.reload()
        let before = systemd.reloads
        #expect(await wait(agent, try await agent.delete(ids[0], requestID: nil).job).state == .succeeded)
        #expect(systemd.reloads == before + 1)
        let jobs = try await withThrowingTaskGroup(of: Job.self) { group in
            for id in ids.dropFirst() { group.addTask { try await agent.delete(id, requestID: nil).job } }
            return try await group.reduce(into: [Job]()) { $0.append($1) }
        }
        for job in jobs { #expect(await wait(agent, job).state == .succeeded) }
        #expect(systemd.reloads - before >= 2 && systemd.reloads - before < 10, "\(systemd.reloads - before)")
    }

    /// geard's install (`keepRunning`) leaves a running container running through a changed definition and an
    /// install without `Started`; gear's restarts a changed running one and stops one installed without `Started`.
    @Test func geardsReinstallKeepsARunningContainerGearsReplacesIt() async throws {
        let agent = try await agent()
        let web = try ContainerID("web")
        #expect(await wait(agent, try await agent.install(web, Self.sleeper, requestID: nil).job).state == .succeeded)
        var changed = Self.sleeper
        changed.cmd = ["/bin/sleep", "2000"]
        changed.started = false
        let before = systemd.operations.count
        #expect(await wait(agent, try await agent.install(web, changed, requestID: nil, keepRunning: true).job).state == .succeeded)
        let geards = systemd.operations.dropFirst(before).filter { $0.hasSuffix("ctr-web.service") }
        #expect(!geards.contains("stop ctr-web.service") && !geards.contains("restart ctr-web.service"), "\(geards)")
        #expect(agent.definition(web)?.started == true, "still wanted at boot")
        #expect(agent.definition(web)?.spec.cmd == ["/bin/sleep", "2000"])

        changed.cmd = ["/bin/sleep", "3000"]
        changed.started = true
        let mark = systemd.operations.count
        #expect(await wait(agent, try await agent.install(web, changed, requestID: nil).job).state == .succeeded)
        #expect(systemd.operations.dropFirst(mark).contains("restart ctr-web.service"), "gear's install restarts a changed running one")
        changed.started = false
        #expect(await wait(agent, try await agent.install(web, changed, requestID: nil).job).state == .succeeded)
        #expect(systemd.operations.last == "stop ctr-web.service", "and stops one installed without Started")
    }

    /// geard's environment description without variables names that environment, which is made, empty, when there is
    /// none (geard's client's deploy names each instance's own); one that exists keeps its variables.
    @Test func anEnvironmentNamedWithoutVariablesIsMadeWhenMissing() async throws {
        let agent = try await agent()
        var request = InstallRequest(runtime: "exec", cmd: ["/bin/true"])
        request.environmentDescriptionID = "dp-web-1"
        #expect(await wait(agent, try await agent.install(try ContainerID("dp-web-1"), request, requestID: nil).job).state == .succeeded)
        #expect(try await agent.environment(try EnvironmentID("dp-web-1")).variables.isEmpty)
        #expect(agent.definition(try ContainerID("dp-web-1"))?.spec.environmentID?.rawValue == "dp-web-1")

        _ = try await agent.putEnvironment(try EnvironmentID("shared"), EnvironmentChange(set: [EnvironmentVariable(name: "A", value: "1")]))
        request.environmentDescriptionID = "shared"
        #expect(await wait(agent, try await agent.install(try ContainerID("other"), request, requestID: nil).job).state == .succeeded)
        #expect(try await agent.environment(try EnvironmentID("shared")).variables == [EnvironmentVariable(name: "A", value: "1")])
        // A refused install leaves no environment of its own behind.
        request.environmentDescriptionID = "never"
        request.cmd = ["bin/relative"]
        await #expect(throws: GearError.self) { try await agent.install(try ContainerID("bad"), request, requestID: nil) }
        await #expect(throws: GearError.self) { try await agent.environment(try EnvironmentID("never")) }
    }
}

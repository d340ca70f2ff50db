import CoreMetrics
import Foundation
public import GearAPI
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Health checks: one task per container that has a check, which probes it every `HealthInterval` while systemd
/// says it runs. Probes of HTTP and TCP checks are NIO operations (no process); a command check runs as exec runs.
/// While a container is not running its task only reads the signal-fed unit state, once a second: no process and
/// no D-Bus call. Results go to the `HealthBoard` that status and list read, transitions to events and metrics, and
/// becoming unhealthy to `HealthOnFailure`.
extension NodeAgent {
    /// A container's health now; nil without a check or while it does not run.
    public nonisolated func health(_ id: ContainerID) -> HealthStatus? {
        healthBoard[id]
    }

    /// Containers by health status (`starting`, `healthy`, `unhealthy`), for `/node`.
    public nonisolated var healthCounts: [String: Int] { healthBoard.counts }

    /// Keeps one check task per installed container with a check (the one of its current definition) until
    /// cancelled.
    nonisolated func superviseHealth() async {
        var running: [ContainerID: (spec: HealthSpec, task: Task<Void, Never>)] = [:]
        while !Task.isCancelled {
            var wanted: [ContainerID: HealthSpec] = [:]
            for entry in index.entries {
                if let spec = entry.definition.spec.health { wanted[entry.definition.id] = spec }
            }
            for (id, current) in running where wanted[id] != current.spec {
                current.task.cancel()
                running[id] = nil
                recordHealthCounts(healthBoard.set(id, nil))
            }
            for (id, spec) in wanted where running[id] == nil {
                running[id] = (spec, Task { await self.watchHealth(id, spec) })
            }
            try? await Task.sleep(for: .seconds(1))
        }
        for (_, current) in running { current.task.cancel() }
    }

    /// Probes one container while it runs, until cancelled (deleted, or its check changed).
    nonisolated func watchHealth(_ id: ContainerID, _ spec: HealthSpec) async {
        var tracker = HealthTracker()
        var run: UInt64 = 0  // the activeEnterTimestamp of the run being checked; 0 while not running
        // The unit's state, read again only when systemd announced a change of any unit's state since (the
        // connection's state generation): in the steady state a check reads nothing but the probe's answer.
        var seen: (generation: UInt64, unit: UnitState)? = nil
        func unitState() async -> UnitState? {
            let generation = systemd.stateGeneration
            if let generation, let seen, seen.generation == generation { return seen.unit }
            guard let unit = try? await systemd.status(id.unitName) else { return nil }
            if let generation { seen = (generation, unit) }
            return unit
        }
        while !Task.isCancelled {
            guard let unit = await unitState(), unit.activeState == "active", unit.mainPID > 0 else {
                if run != 0 {
                    run = 0
                    recordHealthCounts(healthBoard.set(id, nil))
                }
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            if unit.activeEnterTimestamp != run {
                // A new run (started, restarted by hand or by systemd): its health starts over; the first check
                // comes a second in (or after the interval, when shorter).
                run = unit.activeEnterTimestamp
                tracker = HealthTracker()
                recordHealthCounts(healthBoard.set(id, tracker.health, run: run))
                try? await Task.sleep(for: .milliseconds(min(spec.intervalMs, 1000)))
                continue
            }
            let started = ContinuousClock.now
            let outcome = await probe(id, spec)
            let elapsed = ContinuousClock.now - started
            let result = HealthCheckResult(
                time: Date(), healthy: outcome.healthy, output: outcome.output,
                durationMs: Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000))
            guard !Task.isCancelled else { break }
            let sinceStart = Date().timeIntervalSince1970 * 1000 - Double(run) / 1000
            let transition = tracker.record(result, inStartPeriod: sinceStart < Double(spec.startPeriodMs), retries: spec.retries)
            // The run may have ended while the probe ran: only a run still current gets the result.
            if let now = await unitState(), now.activeEnterTimestamp == run, now.activeState == "active" {
                recordHealthCounts(healthBoard.set(id, tracker.health, run: run))
                (outcome.healthy ? HealthMetrics.healthyChecks : HealthMetrics.unhealthyChecks).increment()
                if let transition { await healthChanged(id, spec, transition, result, mainPID: Int32(now.mainPID)) }
            }
            await HealthProbe.sleep(milliseconds: spec.intervalMs)
        }
    }

    /// Waits until the run of a container that a start job just began is healthy (Quadlet's `Notify=healthy`);
    /// throws `.unhealthy` with the checks' last results when it becomes unhealthy, and `.unitFailed` when the
    /// container stops first. Bounded by the check's own rules: the start period, then `retries` failures in a row;
    /// and a later job for the container (a stop, a delete, `HealthOnFailure`'s restart) ends the wait at once,
    /// so that it never waits behind a start that may take the whole start period.
    func awaitHealthy(_ id: ContainerID, _ spec: HealthSpec) async throws {
        let bound = spec.startPeriodMs + Int64(spec.retries + 1) * (spec.intervalMs + spec.timeoutMs) + 5000
        let deadline = ContinuousClock.now + .milliseconds(bound)
        var run: UInt64 = 0
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            let unit = try await systemd.status(id.unitName)
            guard unit.activeState == "active" || unit.activeState == "activating" || unit.activeState == "reloading" else {
                let lines = (await systemd.recentLog(id.unitName, lines: 8)).map(\.line)
                throw GearError(
                    .unitFailed,
                    "container \(id) stopped (\(unit.activeState)/\(unit.subState)) before it became healthy"
                        + (lines.isEmpty ? "" : "; last log lines:\n" + lines.joined(separator: "\n")))
            }
            if run == 0 || unit.activeEnterTimestamp == run {
                run = unit.activeEnterTimestamp
            } else {
                throw GearError(.unitFailed, "container \(id) exited and was started again before it became healthy")
            }
            let health = run > 0 ? healthBoard.health(id, run: run) : nil
            if let health {
                if health.status == HealthStatus.healthy { return }
                if health.status == HealthStatus.unhealthy { throw GearError(.unhealthy, Self.describe(id, health)) }
            }
            if queue.hasQueued(id) {
                throw GearError(
                    .unhealthy,
                    (health.map { Self.describe(id, $0) } ?? "container \(id) was not checked yet")
                        + "; a later job for it ended the wait")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let last = run > 0 ? healthBoard.health(id, run: run) : nil
        throw GearError(.unhealthy, last.map { Self.describe(id, $0) } ?? "container \(id) was not checked within \(bound / 1000) s")
    }

    static func describe(_ id: ContainerID, _ health: HealthStatus) -> String {
        var message = "container \(id) is \(health.status)"
        if health.failingStreak > 0 { message += " after \(health.failingStreak) failed check\(health.failingStreak == 1 ? "" : "s")" }
        if let last = health.log.last, !last.output.isEmpty { message += "; last check: \(last.output)" }
        return message
    }

    private nonisolated func probe(_ id: ContainerID, _ spec: HealthSpec) async -> HealthProbe.Outcome {
        let timeout = Duration.milliseconds(spec.timeoutMs)
        switch spec.probe {
        case .tcp(let port):
            guard let target = healthPort(id, port) else { return .init(healthy: false, output: "port \(port) is not published") }
            return await HealthProbe.tcp(port: target, timeout: timeout)
        case .http(let port, let path):
            guard let target = healthPort(id, port) else { return .init(healthy: false, output: "port \(port) is not published") }
            return await HealthProbe.http(port: target, path: path, timeout: timeout)
        case .command(let cmd):
            do {
                let session = try await exec(id, ExecRequest(cmd: cmd, timeout: Double(spec.timeoutMs) / 1000))
                var output: [UInt8] = []
                let exit = try await session.run { chunk in
                    switch chunk {
                    case .stdout(let bytes), .stderr(let bytes):
                        if output.count < Self.healthOutputBytes { output += bytes.prefix(Self.healthOutputBytes - output.count) }
                    }
                }
                var text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if exit.timedOut {
                    text = "timed out after \(timeout)" + (text.isEmpty ? "" : ": " + text)
                } else if exit.exitCode != 0 {
                    let how = exit.exitCode.map { "exit status \($0)" } ?? "signal \(exit.signal ?? 0)"
                    text = how + (text.isEmpty ? "" : ": " + text)
                }
                return .init(healthy: exit.exitCode == 0 && !exit.timedOut, output: text)
            } catch let error as GearError {
                return .init(healthy: false, output: error.message)
            } catch {
                return .init(healthy: false, output: "\(error)")
            }
        }
    }

    static let healthOutputBytes = 512

    /// Where the node reaches a check's port: the published port of a podman container, the port itself for exec.
    private nonisolated func healthPort(_ id: ContainerID, _ port: Int) -> Int? {
        guard let definition = index[id] else { return nil }
        guard definition.spec.runtime == .podman else { return port }
        return definition.ports.first { $0.internalPort == port }?.externalPort
    }

    private nonisolated func healthChanged(
        _ id: ContainerID, _ spec: HealthSpec, _ transition: HealthTracker.Transition, _ result: HealthCheckResult, mainPID: Int32
    ) async {
        switch transition {
        case .becameHealthy:
            logger.info("container is healthy", metadata: ["container.id": "\(id)"])
            events.append(.healthy, container: id.rawValue) { $0.message = result.output }
        case .becameUnhealthy:
            logger.warning(
                "container is unhealthy",
                metadata: ["container.id": "\(id)", "health.output": "\(result.output)", "health.action": "\(spec.onFailure)"])
            events.append(.unhealthy, container: id.rawValue) { $0.message = result.output }
            switch spec.onFailure {
            case .none:
                break
            case .restart:
                _ = try? await restart(id, requestID: nil)
            case .stop:
                _ = try? await stop(id, requestID: nil)
            case .kill:
                // Every process of the unit at once (cgroup.kill); systemd then applies its Restart= policy.
                if let cgroup = Self.cgroup(of: mainPID), let unitCgroup = Self.unitCgroup(cgroup, id.unitName),
                    let directory = Self.cgroupDirectory(unitCgroup), let handle = FileHandle(forWritingAtPath: directory + "/cgroup.kill")
                {
                    try? handle.write(contentsOf: Data("1".utf8))
                    try? handle.close()
                } else {
                    _ = Glibc.kill(mainPID, SIGKILL)
                }
            }
        }
    }

    /// The unit's own cgroup from a process's (podman's conmon runs in a sub-cgroup of it).
    static func unitCgroup(_ cgroup: String, _ unit: String) -> String? {
        guard let range = cgroup.range(of: "/" + unit) else { return nil }
        let end = range.upperBound
        guard end == cgroup.endIndex || cgroup[end] == "/" else { return nil }
        return String(cgroup[..<end])
    }

    private nonisolated func recordHealthCounts(_ counts: [String: Int]?) {
        guard let counts else { return }
        for (status, count) in counts { HealthMetrics.gauges[status]?.record(count) }
    }
}

/// The health metrics' handles, made once (a handle per call is a registry lookup per check).
enum HealthMetrics {
    static let healthyChecks = Counter(label: "gear_health_checks_total", dimensions: [("result", "healthy")])
    static let unhealthyChecks = Counter(label: "gear_health_checks_total", dimensions: [("result", "unhealthy")])
    static let gauges: [String: Gauge] = Dictionary(
        uniqueKeysWithValues: [HealthStatus.starting, HealthStatus.healthy, HealthStatus.unhealthy].map {
            ($0, Gauge(label: "gear_containers_health", dimensions: [("status", $0)]))
        })
}

import Foundation
public import GearAPI
import Logging
import Synchronization
import SystemdJournal

/// Run jobs (`POST /jobs`): a program or image run once as the transient unit `gear-run-{id}.service`, in the job's
/// own lane. The unit stays loaded after the program ended (`RemainAfterExit=`) until geard has read how it ended,
/// so that a restart of geard in between loses nothing: the job resumes waiting for its unit. Its output is in the
/// journal under the unit (`GET /jobs/{id}/log`) for as long as the journal keeps it.
extension NodeAgent {
    /// Accepts a run (or finds the job its request id names).
    public func run(_ request: RunRequest, requestID: RequestID?) async throws(GearError) -> Submission {
        let spec = try RunSpec(validating: request)
        var bytes = Array("run\n".utf8)
        bytes += Array((try? GearJSON.encoder().encode(spec)) ?? Data())
        let print = fnv1aFingerprint(bytes)
        let id: String
        switch try queue.admit(requestID: requestID, fingerprint: print) {
        case .replay(let existing):
            return Submission(job: existing.job, ports: [], replayed: true)
        case .new(let new):
            id = new
        }
        if let environment = spec.environmentID, sharedEnvironments[environment] == nil {
            throw GearError(.invalidRequest, "EnvironmentId: no environment \(environment); create it first")
        }
        let job = try await queue.enqueue(id: id, kind: .run, container: .runLane(id), fingerprint: print, work: .run(spec))
        return Submission(job: job, ports: [], replayed: false)
    }

    /// Cancels a job (`DELETE /jobs/{id}`): one that waits in the queue never runs; a run job that runs is stopped
    /// (its program gets SIGTERM, then SIGKILL after 30 s) and fails with `canceled`. Other running jobs and
    /// finished jobs cannot be canceled (`.conflict`). Answers the job as it then is.
    public func cancel(_ id: String) async throws(GearError) -> Job {
        guard let job = queue.job(id) else { throw GearError(.notFound, "no job \(id)") }
        if job.state.isFinished { throw GearError(.conflict, "job \(id) has \(job.state.rawValue) already") }
        if job.state == .queued, let canceled = await queue.cancelQueued(id) { return canceled }
        guard job.kind == .run, let unit = job.unit else {
            throw GearError(.conflict, "job \(id) (\(job.kind.rawValue)) is running: only queued jobs and running runs can be canceled")
        }
        runs.cancel(id)
        do {
            _ = try await systemd.stop(unit)
        } catch {
            throw Self.gearError(error)
        }
        return await queue.wait(id, timeout: .seconds(10)) ?? job
    }

    /// Runs job `id`: starts its transient unit (or finds it, when resuming after a restart), waits until the program
    /// ended, reads how, and lets the unit go.
    func applyRun(_ id: String, _ spec: RunSpec) async throws -> JobResult {
        let unit = RunSpec.unitName(id)
        let environmentFile = layout.jobs + "/\(id).env"
        if try await !systemd.isLoaded(unit) {
            if !spec.environment.isEmpty {
                let text = UnitRenderer.environmentFile(spec.environment, podman: spec.runtime == .podman)
                try await BlockingIO.run { try FileSystem.writeAtomically(environmentFile, Data(text.utf8), mode: 0o600) }
            }
            let settings = spec.settings(id: id, renderer: renderer, environmentFile: spec.environment.isEmpty ? nil : environmentFile)
            let result = try await systemd.startTransient(unit, settings: settings)
            logger.info("run started", metadata: ["job.id": "\(id)", "unit": "\(unit)", "job.result": "\(result)"])
        }
        // Until the program ended: `active`/`exited` after a clean exit, `failed` otherwise, `inactive` after a
        // stop. The state comes from the signal-fed cache: no D-Bus round trip per look.
        // Looks come often at first (a short program is done in milliseconds), then every 100 ms.
        var state = try await systemd.status(unit)
        var pause = 2
        while state.activeState == "activating" || (state.activeState == "active" && state.subState != "exited")
            || state.activeState == "deactivating"
        {
            if !isAccepting { throw RunDetached() }
            try await Task.sleep(for: .milliseconds(pause))
            pause = min(pause * 2, 100)
            state = try await systemd.status(unit)
        }
        let canceled = runs.takeCancel(id)
        var exit = JobExit(result: canceled ? "canceled" : state.result.isEmpty ? "success" : state.result)
        switch state.execMainCode {
        case 1: exit.exitCode = Int(state.execMainStatus)
        case 2, 3: exit.signal = Int(state.execMainStatus)
        default: break
        }
        queue.recordExit(id, exit)
        let lines = exit.result == "success" && exit.exitCode == 0 ? [] : (await systemd.recentLog(unit, lines: 8)).map(\.line)
        // Let the unit go: systemd collects it (its journal stays).
        if state.activeState == "failed" {
            try? await systemd.resetFailed(unit)
        } else if state.activeState == "active" {
            _ = try? await systemd.stop(unit)
        }
        try? await BlockingIO.run { try FileSystem.remove(environmentFile) }
        runs.ended(id)
        if canceled { throw GearError(.canceled, "canceled by DELETE /jobs/\(id)") }
        if exit.result == "success" && exit.exitCode == 0 {
            return JobResult(container: nil, message: "run \(id) exited with status 0")
        }
        var message = "run \(id) "
        if let code = exit.exitCode, exit.result == "exit-code" || exit.result == "success" {
            message += "exited with status \(code)"
        } else if exit.result == "timeout" {
            message += "ran past its Timeout of \(spec.timeoutMs / 1000) s and was stopped"
        } else if let signal = exit.signal {
            message += "was ended by signal \(signal) (\(exit.result))"
        } else {
            message += "failed to start (\(exit.result))"
        }
        if !lines.isEmpty { message += "; last log lines:\n" + lines.joined(separator: "\n") }
        throw GearError(.unitFailed, message)
    }

    /// The output of run job `id` (`GET /jobs/{id}/log`); a follow ends once the job finished and its last lines
    /// were read.
    public nonisolated func runLog(_ id: String, query: LogQuery, fields: LogFields) async throws(GearError) -> LogStream {
        guard let job = await self.job(id), job.kind == .run, let unit = job.unit else { throw GearError(.notFound, "no run job \(id)") }
        let runs = self.runs
        let finishedBefore = job.state.isFinished && runs.end(of: id) == nil
        return try await openLog(unit: unit, query: query, fields: fields, recheck: .milliseconds(250)) {
            // Going on while it runs, and a second after (journald may write its last lines a little later).
            if finishedBefore { return false }
            guard let at = runs.end(of: id) else { return true }
            return ContinuousClock.now - at < .seconds(1)
        }
    }
}

/// Run jobs being canceled, and when runs ended since geard started (a log follow ends a second after).
final class RunRegistry: Sendable {
    private let state = Mutex<(canceled: Set<String>, ended: [String: ContinuousClock.Instant])>(([], [:]))

    func cancel(_ id: String) { state.withLock { _ = $0.canceled.insert(id) } }
    /// Whether `id` was being canceled (and forgets it).
    func takeCancel(_ id: String) -> Bool { state.withLock { $0.canceled.remove(id) != nil } }
    func ended(_ id: String) {
        state.withLock { state in
            state.ended[id] = .now
            // Only recent ends matter (follows stop a second after): keep the map small.
            if state.ended.count > 4096 { state.ended = state.ended.filter { ContinuousClock.now - $0.value < .seconds(60) } }
        }
    }
    func end(of id: String) -> ContinuousClock.Instant? { state.withLock { $0.ended[id] } }
}

/// A run job let go at shutdown (see `JobQueue.detach`).
struct RunDetached: Error {}

import Foundation
import GearAPI
import Logging

/// Running jobs: each function does one job's work against the files and systemd, and throws when the job
/// failed. One container's jobs never run concurrently (the queue guarantees it).
extension NodeAgent {
    func apply(_ work: JobWork, to id: ContainerID) async throws -> JobResult {
        switch work {
        case .install(let definition, let replaceRunning): try await applyInstall(definition, replaceRunning: replaceRunning)
        case .delete: try await applyDelete(id)
        case .start: try await applyStart(id)
        case .stop: try await applyStop(id)
        case .restart: try await applyRestart(id)
        case .importImage(let archive, let name): try await applyImageImport(archive, name: name)
        case .link(let links): try await applyLinks(id, links)
        case .run(let spec): try await applyRun(id.runJobID ?? "", spec)
        }
    }

    // MARK: install

    private func applyInstall(_ definition: ContainerDefinition, replaceRunning: Bool) async throws -> JobResult {
        let id = definition.id
        let unit = id.unitName
        let replacing = definitions[id] != nil
        let unitText = renderer.unitFile(definition)
        let changed = try await writeDefinitionFiles(definition, unitText: unitText)
        let previous = definitions[id]
        definitions[id] = definition
        if previous?.spec != definition.spec || previous?.ports != definition.ports || previous?.started != definition.started {
            events.append(.installed, container: id.rawValue) { $0.message = replacing ? "definition replaced" : "installed" }
        }
        let linked = try await ensureLinked(id)
        let loaded = try await systemd.isLoaded(unit)
        if (changed || linked) && loaded {
            // systemd holds the old definition: only a reload makes it read the new file. A unit it does not hold
            // (new, or collected after it stopped) is read from the file when it loads.
            try await reloader.reloadNow()
        }
        try await setBootWant(id, definition.started)
        if definition.started {
            let state = try await systemd.status(unit)
            let running = state.activeState == "active" || state.activeState == "activating" || state.activeState == "reloading"
            try await allowStart(unit)
            let restarting = running && changed && replaceRunning
            let result = try await (restarting ? systemd.restart(unit) : systemd.start(unit))
            try await expectActive(id, result: result, action: restarting ? "restart" : "start")
            if let health = definition.spec.health { try await awaitHealthy(id, health) }
        } else if loaded && replaceRunning {
            // A unit systemd does not hold is not running; asking it to stop would load it.
            _ = try await systemd.stop(unit)
        }
        await reconcileLinks(id)
        let verb = replacing ? (changed ? "replaced" : "unchanged") : "installed"
        return JobResult(container: try await currentStatus(id), message: "container \(id) \(verb)\(definition.started ? " and started" : "")")
    }

    /// Writes volumes, the definition, the environment file and the unit file; returns true when the unit
    /// file's content changed (or is new).
    private func writeDefinitionFiles(_ definition: ContainerDefinition, unitText: String) async throws -> Bool {
        let layout = self.layout
        let environment = renderer.environmentFile(definition)
        let record = try GearJSON.encoder(pretty: true).encode(definition)
        return try await BlockingIO.run {
            let id = definition.id
            for volume in definition.spec.volumes {
                let path = layout.volume(id, volume.name)
                try FileSystem.makeDirectory(path, mode: 0o755)
            }
            try FileSystem.writeAtomically(layout.definitionFile(id), record, mode: 0o600)
            if let environment {
                try FileSystem.writeAtomically(layout.environmentFile(id), environment, mode: 0o600)
            } else {
                try FileSystem.remove(layout.environmentFile(id))
            }
            let unitPath = layout.unitFile(id)
            let old = try FileSystem.readText(unitPath)
            guard old != unitText else { return false }
            try FileSystem.writeAtomically(unitPath, unitText, mode: 0o644)
            return true
        }
    }

    /// Links the container's unit into systemd when it is not linked yet; returns true when it linked.
    @discardableResult
    func ensureLinked(_ id: ContainerID) async throws -> Bool {
        let unitPath = layout.unitFile(id)
        let link = layout.systemdLink(id.unitName)
        if FileSystem.symlinkTarget(link) == unitPath { return false }
        try await systemd.link([unitPath])
        return true
    }

    /// Links the container's unit when it is not linked, and reloads when systemd holds the unit loaded (as
    /// `not-found`, from before the link): the state changes run on the file that is on disk.
    private func ensureLinkedForStart(_ id: ContainerID) async throws {
        if try await ensureLinked(id), try await systemd.isLoaded(id.unitName) {
            try await reloader.reloadNow()
        }
    }

    /// Makes `gear-active.target` want the container (or not), which decides whether it starts at boot.
    func setBootWant(_ id: ContainerID, _ wanted: Bool) async throws {
        let want = layout.bootWant(id)
        let target = layout.unitFile(id)
        try await BlockingIO.run {
            if wanted { try FileSystem.setSymlink(want, to: target) } else { try FileSystem.remove(want) }
        }
    }

    /// Throws `.unitFailed`, with the unit's state and last log lines, unless systemd's job ended with `done`.
    private func expectActive(_ id: ContainerID, result: String, action: String) async throws {
        guard result != "done" else { return }
        let unit = id.unitName
        let state = try? await systemd.status(unit)
        let lines = (await systemd.recentLog(unit, lines: 8)).map(\.line)
        var message = "\(unit) failed to \(action) (job \(result)"
        if let state {
            message += ", unit \(state.activeState)/\(state.subState)"
            if !state.result.isEmpty, state.result != "success" { message += ", result \(state.result)" }
            if state.execMainStartTimestamp > 0 || state.execMainStatus != 0 { message += ", exit status \(state.execMainStatus)" }
        }
        message += ")"
        if !lines.isEmpty { message += "; last log lines:\n" + lines.joined(separator: "\n") }
        throw GearError(.unitFailed, message)
    }

    // MARK: delete

    private func applyDelete(_ id: ContainerID) async throws -> JobResult {
        let unit = id.unitName
        let layout = self.layout
        guard definitions[id] != nil else {
            return JobResult(container: nil, message: "container \(id) is not installed")
        }
        if try await systemd.isLoaded(unit) { _ = try await systemd.stop(unit) }
        // A unit another one depends on (gear-active.target, once a reload read the boot want) stays loaded after
        // its file is gone, until a reload: then systemd is told, below.
        let pinned = try await systemd.isPinned(unit)
        await linkProxy.close(id)
        // The definition is the source of truth: once it is gone the container is gone, and a crash past this
        // point leaves files that the next start of geard removes.
        try await BlockingIO.run { try FileSystem.remove(layout.definitionFile(id)) }
        definitions[id] = nil
        events.append(.deleted, container: id.rawValue)
        // Otherwise no reload: systemd forgets a stopped unit whose file is gone when it collects it, and a new
        // install of the same id reloads if systemd still holds the old one.
        try await removeUnitAndFiles(id)
        try? await systemd.resetFailed(unit)
        if pinned { try await reloader.reloadNow() }
        return JobResult(container: nil, message: "container \(id) deleted")
    }

    /// Unlinks the unit and removes its unit file, environment file, boot want and volumes.
    func removeUnitAndFiles(_ id: ContainerID) async throws {
        let layout = self.layout
        let unit = id.unitName
        if FileSystem.exists(layout.systemdLink(unit)) || FileSystem.exists(layout.bootWant(id)) {
            try await systemd.disable([unit])
        }
        try await BlockingIO.run {
            try FileSystem.remove(layout.bootWant(id))
            try FileSystem.remove(layout.unitFile(id))
            try FileSystem.remove(layout.environmentFile(id))
            try FileSystem.removeTree(layout.volumeRoot(id))
        }
    }

    // MARK: state changes

    private func applyStart(_ id: ContainerID) async throws -> JobResult {
        try await setStarted(id, true)
        try await ensureLinkedForStart(id)
        try await setBootWant(id, true)
        try await allowStart(id.unitName)
        try await expectActive(id, result: try await systemd.start(id.unitName), action: "start")
        if let health = definitions[id]?.spec.health { try await awaitHealthy(id, health) }
        await reconcileLinks(id)
        return JobResult(container: try await currentStatus(id), message: "container \(id) started")
    }

    private func applyStop(_ id: ContainerID) async throws -> JobResult {
        try await setStarted(id, false)
        try await setBootWant(id, false)
        // A unit systemd does not hold is stopped already (asking would load it to stop nothing).
        guard try await systemd.isLoaded(id.unitName) else {
            return JobResult(container: try await currentStatus(id), message: "container \(id) stopped")
        }
        let result = try await systemd.stop(id.unitName)
        await linkProxy.close(id)
        guard result == "done" else { throw GearError(.unitFailed, "\(id.unitName) failed to stop (job \(result))") }
        return JobResult(container: try await currentStatus(id), message: "container \(id) stopped")
    }

    private func applyRestart(_ id: ContainerID) async throws -> JobResult {
        try await setStarted(id, true)
        try await ensureLinkedForStart(id)
        try await setBootWant(id, true)
        try await allowStart(id.unitName)
        try await expectActive(id, result: try await systemd.restart(id.unitName), action: "restart")
        if let health = definitions[id]?.spec.health { try await awaitHealthy(id, health) }
        await reconcileLinks(id)
        return JobResult(container: try await currentStatus(id), message: "container \(id) restarted")
    }

    /// Clears a failed state and systemd's start rate limit (`StartLimitBurst=`, 5 starts in 10 s by default)
    /// before a start the client asked for: the limit guards against restart loops of `Restart=`, and a deliberate
    /// start must not be refused because of earlier ones.
    private func allowStart(_ unit: String) async throws {
        try await systemd.resetFailed(unit)
    }

    /// Records the desired state in the definition (only writes when it changes).
    private func setStarted(_ id: ContainerID, _ started: Bool) async throws {
        guard var definition = definitions[id] else { throw GearError(.notFound, "no container \(id) is installed") }
        guard definition.started != started else { return }
        definition.started = started
        definition.updatedAt = Date()
        let record = try GearJSON.encoder(pretty: true).encode(definition)
        let path = layout.definitionFile(id)
        try await BlockingIO.run { try FileSystem.writeAtomically(path, record, mode: 0o600) }
        definitions[id] = definition
    }

    // MARK: links

    /// Sets the container's links in its definition (the unit does not change: geard listens for them), and
    /// makes them listen now when it runs.
    private func applyLinks(_ id: ContainerID, _ links: [LinkSpec]) async throws -> JobResult {
        guard var definition = definitions[id] else { throw GearError(.notFound, "no container \(id) is installed") }
        if definition.spec.links ?? [] != links {
            definition.spec.links = links.isEmpty ? nil : links
            definition.updatedAt = Date()
            let record = try GearJSON.encoder(pretty: true).encode(definition)
            let path = layout.definitionFile(id)
            try await BlockingIO.run { try FileSystem.writeAtomically(path, record, mode: 0o600) }
            definitions[id] = definition
            events.append(.installed, container: id.rawValue) { $0.message = "links set" }
        }
        await reconcileLinks(id)
        let complete = links.filter(\.isComplete).count
        return JobResult(container: try await currentStatus(id), message: "container \(id) has \(complete) link\(complete == 1 ? "" : "s")")
    }
}

extension NodeAgent {
    /// Makes the container's links listen in its namespace while its unit is active, and closes them otherwise.
    nonisolated func reconcileLinks(_ id: ContainerID) async {
        guard let definition = index[id] else {
            await linkProxy.close(id)
            return
        }
        let links = definition.spec.links ?? []
        guard !links.isEmpty else {
            await linkProxy.close(id)
            return
        }
        let state = try? await systemd.status(id.unitName)
        let running = state?.activeState == "active"
        await linkProxy.reconcile(id, links: links, mainPID: running ? state.map { Int($0.mainPID) } : nil)
    }
}

import Foundation
import GearAPI
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Start-up: rebuild the agent's view from disk and systemd, and repair what a crash may have left half done.
extension NodeAgent {
    /// Prepares the state directory and systemd, loads definitions and jobs, and reconciles: unit files are
    /// re-rendered from definitions, links and boot wants restored, leftovers of interrupted deletes removed,
    /// jobs cut off by the previous stop marked failed. Running containers are left running.
    public func prepare() async throws {
        var startedAt = timespec()
        clock_gettime(CLOCK_REALTIME, &startedAt)
        let layout = self.layout
        let (loaded, unreadable) = try await BlockingIO.run { () throws -> ([ContainerDefinition], [String]) in
            try FileSystem.makeDirectory(layout.root, mode: 0o700)
            for directory in layout.allDirectories { try FileSystem.makeDirectory(directory, mode: 0o755) }
            for directory in [layout.containers, layout.units, layout.environments] {
                try FileSystem.removeTemporaryFiles(in: directory)
            }
            let decoder = GearJSON.decoder()
            var definitions: [ContainerDefinition] = []
            var unreadable: [String] = []
            for name in try FileSystem.list(layout.containers) where name.hasSuffix(".json") {
                let path = "\(layout.containers)/\(name)"
                if let data = try FileSystem.read(path), let definition = try? decoder.decode(ContainerDefinition.self, from: Data(data)),
                    "\(definition.id).json" == name
                {
                    definitions.append(definition)
                } else {
                    unreadable.append(path)
                }
            }
            return (definitions, unreadable)
        }
        for path in unreadable {
            logger.error("ignoring an unreadable container definition", metadata: ["file": "\(path)"])
        }
        definitions = Dictionary(loaded.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        try await loadEnvironments()
        let history = events
        knownUnitStates = try await BlockingIO.run { try history.open(directory: layout.events) }
        try await loadJobs()
        logger.debug("jobs loaded")
        var changedUnits = try await prepareInfrastructure()
        logger.debug("infrastructure units ready")
        changedUnits += try await reconcileUnits()
        // Only a unit systemd holds loaded needs a reload to see its new file; others are read when they load.
        var stale: [String] = []
        for unit in changedUnits where try await systemd.isLoaded(unit) { stale.append(unit) }
        logger.debug("units reconciled", metadata: ["units.changed": "\(changedUnits.count)", "units.stale": "\(stale.count)"])
        if !stale.isEmpty { try await reloader.reloadNow() }
        await sweepArchiveStaging()
        sweepUploadLeftovers(roots: volumeRoots, startedAt: startedAt)
        try await sweepImageUploads()
        // Run jobs that were running when geard stopped: wait for their units again.
        queue.startRestored()
        events.append(.agentStarted) { $0.message = "geard started with \(self.definitions.count) containers" }
        logger.info(
            "state loaded", metadata: ["containers": "\(definitions.count)", "jobs": "\(queue.retainedCount)", "events": "\(events.lastSeq)"])
    }

    private func loadJobs() async throws {
        let (stored, skipped) = try await JobStore(layout: layout).loadAll()
        for path in skipped { logger.error("ignoring an unreadable job file", metadata: ["file": "\(path)"]) }
        let interrupted = try await queue.restore(stored)
        if interrupted > 0 { logger.warning("jobs interrupted by the last stop marked failed", metadata: ["jobs": "\(interrupted)"]) }
        await queue.prune()
    }

    /// Writes and links gear.slice, gear-active.target and the podman cleanup template, and has multi-user.target
    /// want gear-active.target; returns the units whose files or links changed.
    private func prepareInfrastructure() async throws -> [String] {
        let layout = self.layout
        let units = InfrastructureUnits.all(podmanPath: renderer.podmanPath)
        let written = try await BlockingIO.run {
            var changed: [String] = []
            for unit in units {
                let path = layout.unitFile(named: unit.name)
                if try FileSystem.readText(path) != unit.text {
                    try FileSystem.writeAtomically(path, unit.text)
                    changed.append(unit.name)
                }
            }
            return changed
        }
        let unlinked = units.map { layout.unitFile(named: $0.name) }.filter { path in
            FileSystem.symlinkTarget(layout.systemdLink((path as NSString).lastPathComponent)) != path
        }
        if !unlinked.isEmpty { try await systemd.link(unlinked) }
        // The boot want is read at boot; the running manager needs no reload for it.
        let want = "\(layout.systemdUnitDirectory)/multi-user.target.wants/\(InfrastructureUnits.activeTarget)"
        if !FileSystem.exists(want) { try await systemd.enable([InfrastructureUnits.activeTarget]) }
        return Array(Set(written + unlinked.map { ($0 as NSString).lastPathComponent })).sorted()
    }

    /// Re-renders every unit from its definition, restores links and boot wants, removes orphans; returns the
    /// units whose files or links changed.
    private func reconcileUnits() async throws -> [String] {
        let layout = self.layout
        let renderer = self.renderer
        let all = Array(definitions.values)
        let rewritten = try await BlockingIO.run { () throws -> [String] in
            var units: [String] = []
            for definition in all {
                let id = definition.id
                let text = renderer.unitFile(definition)
                if try FileSystem.readText(layout.unitFile(id)) != text {
                    try FileSystem.writeAtomically(layout.unitFile(id), text)
                    units.append(id.unitName)
                }
                if let environment = renderer.environmentFile(definition) {
                    if try FileSystem.readText(layout.environmentFile(id)) != environment {
                        try FileSystem.writeAtomically(layout.environmentFile(id), environment, mode: 0o600)
                    }
                } else {
                    try FileSystem.remove(layout.environmentFile(id))
                }
                if definition.started {
                    try FileSystem.setSymlink(layout.bootWant(id), to: layout.unitFile(id))
                } else {
                    try FileSystem.remove(layout.bootWant(id))
                }
            }
            return units
        }
        let unlinked = all.map { layout.unitFile($0.id) }.filter { path in
            FileSystem.symlinkTarget(layout.systemdLink((path as NSString).lastPathComponent)) != path
        }
        if !unlinked.isEmpty { try await systemd.link(unlinked) }
        let orphans = try await BlockingIO.run { try FileSystem.list(layout.units) }
            .compactMap { ContainerID.fromUnitName($0) }
            .filter { definitions[$0] == nil }
        for id in orphans {
            logger.notice("removing the unit of a container whose delete was interrupted", metadata: ["container.id": "\(id)"])
            if try await systemd.isLoaded(id.unitName) { _ = try await systemd.stop(id.unitName) }
            try await removeUnitAndFiles(id)
        }
        if !rewritten.isEmpty { logger.notice("unit files re-rendered from definitions", metadata: ["units": "\(rewritten.count)"]) }
        return Array(Set(rewritten + unlinked.map { ($0 as NSString).lastPathComponent })).sorted()
    }
}

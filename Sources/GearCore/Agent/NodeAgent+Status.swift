import Foundation
public import GearAPI
import Logging
import Synchronization

/// Reading state: definitions joined with what systemd says about their units.
extension NodeAgent {
    /// A container's status (`GET /container/{id}/status`), without entering the actor: definitions from the
    /// index, unit state from the signal-fed cache.
    public nonisolated func status(_ id: ContainerID) async throws(GearError) -> ContainerStatus {
        try await statusSnapshot(id).status
    }

    /// A container's status with its JSON, shared until the container changes.
    public nonisolated func statusSnapshot(_ id: ContainerID) async throws(GearError) -> StatusSnapshot {
        guard let entry = index.entry(id) else { throw GearError(.notFound, "no container \(id) is installed") }
        do {
            let unit = try await systemd.status(entry.unitName)
            return snapshots.snapshots([entry], units: [unit], health: { self.healthBoard[$0] })[0]
        } catch {
            throw Self.gearError(error)
        }
    }

    nonisolated func currentStatus(_ id: ContainerID) async throws -> ContainerStatus {
        guard let definition = index[id] else { throw GearError(.notFound, "no container \(id) is installed") }
        let unit = try await systemd.status(id.unitName)
        var status = Self.containerStatus(definition, unit: unit)
        status.health = definition.spec.health == nil ? nil : healthBoard[id]
        return status
    }

    /// A container's definition as readers see it (an accepted install counts as installed), without entering the
    /// actor; nil when it is not installed.
    public nonisolated func definition(_ id: ContainerID) -> ContainerDefinition? {
        index[id]
    }

    /// The published ports of a container (`GET /container/{id}/ports`).
    public nonisolated func ports(_ id: ContainerID) throws(GearError) -> [PortMapping] {
        guard let definition = index[id] else { throw GearError(.notFound, "no container \(id) is installed") }
        return definition.ports
    }

    /// Every installed container (`GET /containers`); with `includeOrphans`, also `ctr-*` units systemd has
    /// loaded that geard has no definition for.
    public nonisolated func list(includeOrphans: Bool) async throws(GearError) -> ContainerList {
        let snapshot = try await listSnapshot()
        return ContainerList(containers: snapshot.containers.map(\.status), orphanUnits: includeOrphans ? try await orphanUnits() : nil)
    }

    /// What `list` answers, as snapshots that carry their JSON; the same object while nothing changed.
    public nonisolated func listSnapshot() async throws(GearError) -> ContainerListSnapshot {
        // Both generations are read before what they guard: a change in between makes the next call recompute.
        let units = systemd.stateGeneration
        let (installed, definitions) = index.versioned
        let health = healthBoard.generation
        let key = units.map { ContainerListSnapshot.Key(definitions: definitions, units: $0, health: health) }
        if let key, let last = lastList.withLock({ $0 }), last.key == key { return last }
        do {
            // Unit states come from the signal-fed cache: no round trip for units already seen.
            let states = try await systemd.statuses(installed.map(\.unitName))
            let list = ContainerListSnapshot(
                snapshots.snapshots(installed, units: states, health: { self.healthBoard[$0] }, complete: true), key: key)
            lastList.withLock { $0 = list }
            return list
        } catch {
            throw Self.gearError(error)
        }
    }

    /// `ctr-*` units systemd has loaded that geard has no definition for (left behind by hand), sorted.
    public nonisolated func orphanUnits() async throws(GearError) -> [String] {
        let known = Set(index.entries.map(\.unitName))
        do {
            return try await systemd.list(patterns: [ContainerID.unitPattern]).map(\.name).filter { !known.contains($0) }.sorted()
        } catch {
            throw Self.gearError(error)
        }
    }

    static func date(_ usec: UInt64) -> Date? {
        usec == 0 ? nil : Date(timeIntervalSince1970: Double(usec) / 1_000_000)
    }

    static func containerStatus(_ definition: ContainerDefinition, unit: UnitState) -> ContainerStatus {
        // A unit systemd does not hold (collected after it stopped, or never started) and never saw loaded would
        // load from the file geard linked: `loaded`, as any query of systemd would answer.
        let loadState = unit.loadState.isEmpty && !unit.isLoaded ? "loaded" : unit.loadState
        var status = containerStatus(definition, loadState: loadState, activeState: unit.activeState, subState: unit.subState)
        status.mainPID = unit.mainPID > 0 ? Int(unit.mainPID) : nil
        status.result = unit.result.isEmpty ? nil : unit.result
        status.exitStatus = unit.execMainStartTimestamp > 0 && unit.activeState != "active" ? Int(unit.execMainStatus) : nil
        status.restarts = Int(unit.restarts)
        status.activeSince = unit.activeState == "active" ? date(unit.activeEnterTimestamp) : nil
        status.inactiveSince = unit.activeState == "inactive" || unit.activeState == "failed" ? date(unit.inactiveEnterTimestamp) : nil
        return status
    }

    private static func containerStatus(
        _ definition: ContainerDefinition, loadState: String, activeState: String, subState: String
    ) -> ContainerStatus {
        let spec = definition.spec
        var status = ContainerStatus(
            id: definition.id.rawValue, unit: definition.id.unitName, runtime: spec.runtime.rawValue, image: spec.image,
            cmd: spec.cmd, started: definition.started, loadState: loadState, activeState: activeState, subState: subState,
            mainPID: nil, result: nil, exitStatus: nil, restarts: 0, activeSince: nil, inactiveSince: nil,
            ports: definition.ports,
            volumes: spec.volumes.map { VolumeStatus(name: $0.name, path: $0.path, readOnly: $0.readOnly) },
            restartPolicy: spec.restart.rawValue, memoryLimit: spec.memoryMax.map { Int64(clamping: $0) },
            cpuLimit: spec.cpuQuotaPercent.map { Double($0) / 100 })
        status.labels = spec.labels
        status.networkLinks = spec.links.map { links in
            links.map { NetworkLink(fromHost: $0.fromHost, fromPort: $0.fromPort, toHost: $0.toHost, toPort: $0.toPort) }
        }
        return status
    }
}

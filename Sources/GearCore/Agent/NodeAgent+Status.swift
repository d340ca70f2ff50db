import Foundation
public import GearAPI
import Logging
import SystemdBus

/// Reading state: definitions joined with what systemd says about their units.
extension NodeAgent {
    /// A container's status (`GET /container/{id}/status`), without entering the actor: definitions from the
    /// index, unit state from the signal-fed cache.
    public nonisolated func status(_ id: ContainerID) async throws(GearError) -> ContainerStatus {
        do {
            return try await currentStatus(id)
        } catch {
            throw Self.gearError(error)
        }
    }

    nonisolated func currentStatus(_ id: ContainerID) async throws -> ContainerStatus {
        guard let definition = index[id] else { throw GearError(.notFound, "no container \(id) is installed") }
        let unit = try await systemd.status(id.unitName)
        return Self.containerStatus(definition, unit: unit)
    }

    /// The published ports of a container (`GET /container/{id}/ports`).
    public nonisolated func ports(_ id: ContainerID) throws(GearError) -> [PortMapping] {
        guard let definition = index[id] else { throw GearError(.notFound, "no container \(id) is installed") }
        return definition.ports
    }

    /// Every installed container (`GET /containers`); with `includeOrphans`, also `ctr-*` units systemd has
    /// loaded that geard has no definition for.
    public nonisolated func list(includeOrphans: Bool) async throws(GearError) -> ContainerList {
        let installed = index.sorted
        do {
            // Unit states come from the signal-fed cache: no round trip for units already seen.
            let units = try await systemd.statuses(installed.map(\.id.unitName))
            let containers = zip(installed, units).map { Self.containerStatus($0, unit: $1) }
            var orphans: [String]? = nil
            if includeOrphans {
                let known = Set(installed.map(\.id.unitName))
                orphans = try await systemd.list(patterns: ["ctr-*.service"]).map(\.name).filter { !known.contains($0) }.sorted()
            }
            return ContainerList(containers: containers, orphanUnits: orphans)
        } catch {
            throw Self.gearError(error)
        }
    }

    static func date(_ usec: UInt64) -> Date? {
        usec == 0 ? nil : Date(timeIntervalSince1970: Double(usec) / 1_000_000)
    }

    static func containerStatus(_ definition: ContainerDefinition, unit: UnitStatus) -> ContainerStatus {
        var status = containerStatus(
            definition, loadState: unit.loadState, activeState: unit.activeState, subState: unit.subState)
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
        return ContainerStatus(
            id: definition.id.rawValue, unit: definition.id.unitName, runtime: spec.runtime.rawValue, image: spec.image,
            cmd: spec.cmd, started: definition.started, loadState: loadState, activeState: activeState, subState: subState,
            mainPID: nil, result: nil, exitStatus: nil, restarts: 0, activeSince: nil, inactiveSince: nil,
            ports: definition.ports,
            volumes: spec.volumes.map { VolumeStatus(name: $0.name, path: $0.path, readOnly: $0.readOnly) },
            restartPolicy: spec.restart.rawValue, memoryLimit: spec.memoryMax.map { Int64(clamping: $0) },
            cpuLimit: spec.cpuQuotaPercent.map { Double($0) / 100 })
    }
}

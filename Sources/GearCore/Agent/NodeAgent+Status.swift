import Foundation
public import GearAPI
import Logging
import SystemdBus

/// Reading state: definitions joined with what systemd says about their units.
extension NodeAgent {
    /// The definition in force, or the one an accepted install is about to apply.
    func effectiveDefinition(_ id: ContainerID) -> ContainerDefinition? {
        if let pending = records.values.filter({ $0.container == id && $0.reservation != nil }).max(by: { $0.sequence < $1.sequence }),
            case .install(let definition) = pending.work
        {
            return definition
        }
        return definitions[id]
    }

    /// A container's status (`GET /container/{id}/status`).
    public func status(_ id: ContainerID) async throws(GearError) -> ContainerStatus {
        do {
            return try await currentStatus(id)
        } catch {
            throw Self.gearError(error)
        }
    }

    func currentStatus(_ id: ContainerID) async throws -> ContainerStatus {
        guard let definition = effectiveDefinition(id) else { throw GearError(.notFound, "no container \(id) is installed") }
        let unit = try await systemd.status(id.unitName)
        return Self.containerStatus(definition, unit: unit)
    }

    /// The published ports of a container (`GET /container/{id}/ports`).
    public func ports(_ id: ContainerID) throws(GearError) -> [PortMapping] {
        guard let definition = effectiveDefinition(id) else { throw GearError(.notFound, "no container \(id) is installed") }
        return definition.ports
    }

    /// Every installed container (`GET /containers`); with `includeOrphans`, also `ctr-*` units systemd has
    /// loaded that geard has no definition for.
    public func list(includeOrphans: Bool) async throws(GearError) -> ContainerList {
        let installed = definitions.values.sorted { $0.id < $1.id }
        let units: [UnitListEntry]
        do {
            units = try await systemd.list(patterns: ["ctr-*.service"])
        } catch {
            throw Self.gearError(error)
        }
        let byName = Dictionary(units.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let containers = installed.map { definition in
            Self.containerStatus(definition, entry: byName[definition.id.unitName])
        }
        var orphans: [String]? = nil
        if includeOrphans {
            orphans = units.map(\.name).filter { name in
                guard let id = ContainerID.fromUnitName(name) else { return true }
                return definitions[id] == nil
            }.sorted()
        }
        return ContainerList(containers: containers, orphanUnits: orphans)
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
        status.memoryCurrent = unit.memoryCurrent.map { Int64(clamping: $0) }
        return status
    }

    static func containerStatus(_ definition: ContainerDefinition, entry: UnitListEntry?) -> ContainerStatus {
        containerStatus(
            definition, loadState: entry?.loadState ?? "not-loaded", activeState: entry?.activeState ?? "inactive",
            subState: entry?.subState ?? "dead")
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
            cpuLimit: spec.cpuQuotaPercent.map { Double($0) / 100 }, memoryCurrent: nil)
    }
}

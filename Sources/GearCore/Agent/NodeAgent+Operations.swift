import Foundation
public import GearAPI
import Logging

/// Accepting operations: everything checked against the current state happens here, synchronously, before a
/// job exists; the work itself runs later (`NodeAgent+Apply`).
extension NodeAgent {
    /// Installs or replaces a container (`PUT /container/{id}`).
    public func install(_ id: ContainerID, _ request: InstallRequest, requestID: RequestID?) async throws(GearError) -> Submission {
        let spec = try ContainerSpec(validating: request)
        let print = Self.fingerprint(.install, id, spec)
        return try await submit(.install, id, fingerprint: print, requestID: requestID) {
            if let environment = spec.environmentID, sharedEnvironments[environment] == nil {
                throw GearError(.invalidRequest, "EnvironmentId: no environment \(environment); create it first")
            }
            let previous = latestPendingInstall(id)?.definition ?? definitions[id]
            let ports = try portAllocator.resolve(spec.ports, for: id, owners: portOwners(excluding: id), previous: previous?.ports ?? [])
            let now = Date()
            let definition = ContainerDefinition(
                id: id, spec: spec, ports: ports, started: spec.started, createdAt: definitions[id]?.createdAt ?? now, updatedAt: now)
            return .install(definition)
        }
    }

    /// Removes a container with its unit, state, volumes and ports (`DELETE /container/{id}`); a container that
    /// is not installed is deleted successfully.
    public func delete(_ id: ContainerID, requestID: RequestID?) async throws(GearError) -> Submission {
        try await submit(.delete, id, fingerprint: Self.fingerprint(.delete, id, nil), requestID: requestID) {
            .delete
        }
    }

    /// Starts a container and marks it to start at boot (`PUT /container/{id}/started`).
    public func start(_ id: ContainerID, requestID: RequestID?) async throws(GearError) -> Submission {
        try await stateChange(.start, .start, id, requestID)
    }

    /// Stops a container and keeps it from starting at boot (`PUT /container/{id}/stopped`).
    public func stop(_ id: ContainerID, requestID: RequestID?) async throws(GearError) -> Submission {
        try await stateChange(.stop, .stop, id, requestID)
    }

    /// Restarts a container (a new main process), starting it if it was stopped (`POST /container/{id}/restart`).
    public func restart(_ id: ContainerID, requestID: RequestID?) async throws(GearError) -> Submission {
        try await stateChange(.restart, .restart, id, requestID)
    }

    private func stateChange(_ kind: JobKind, _ work: JobWork, _ id: ContainerID, _ requestID: RequestID?) async throws(GearError) -> Submission {
        try await submit(kind, id, fingerprint: Self.fingerprint(kind, id, nil), requestID: requestID) {
            guard isKnown(id) else { throw GearError(.notFound, "no container \(id) is installed") }
            return work
        }
    }

    /// True when the container is installed, or an install of it is waiting in the queue.
    func isKnown(_ id: ContainerID) -> Bool {
        definitions[id] != nil || latestPendingInstall(id) != nil
    }

    /// The most recently accepted install of `id` that has not finished yet.
    func latestPendingInstall(_ id: ContainerID) -> PendingInstall? {
        pendingInstalls.values.filter { $0.container == id }.max { $0.sequence < $1.sequence }
    }

    /// External ports held by containers other than `id`: installed, or reserved by installs not yet applied.
    func portOwners(excluding id: ContainerID) -> [Int: ContainerID] {
        var owners: [Int: ContainerID] = [:]
        for (other, definition) in definitions where other != id {
            for port in definition.ports { owners[port.externalPort] = other }
        }
        for pending in pendingInstalls.values where pending.container != id {
            for port in pending.definition.ports { owners[port.externalPort] = pending.container }
        }
        return owners
    }

    static func fingerprint(_ kind: JobKind, _ id: ContainerID, _ spec: ContainerSpec?) -> String {
        var bytes = Array("\(kind.rawValue) \(id.rawValue)\n".utf8)
        if let spec, let data = try? GearJSON.encoder().encode(spec) { bytes += data }
        return GearCore.fingerprint(bytes)
    }
}

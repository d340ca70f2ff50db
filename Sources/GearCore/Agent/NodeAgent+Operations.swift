import Foundation
public import GearAPI
import Logging

/// Accepting operations: everything checked against the current state happens here, synchronously, before a
/// job exists; the work itself runs later (`NodeAgent+Apply`).
extension NodeAgent {
    /// Installs or replaces a container (`PUT /container/{id}`).
    ///
    /// geard's fields mean what they meant there: `Id` must be the path's id; `Environment.Id` with `Variables` makes
    /// (replaces) that named environment with them and installs the container with it; without variables it names
    /// that environment, which is made empty when there is none (geard wrote it, which its client's `gear deploy`
    /// relies on: it names each instance's own environment so); `VolumeMounts` mount host directories from the
    /// roots the node allows only.
    ///
    /// - Parameter keepRunning: geard's install (its protocol): a running container keeps running, with the new
    ///   definition taking effect at its next start, and an install without `Started` does not stop it. gear's own
    ///   install replaces: a changed running container restarts, and one installed without `Started` stops.
    public func install(
        _ id: ContainerID, _ request: InstallRequest, requestID: RequestID?, keepRunning: Bool = false
    ) async throws(GearError) -> Submission {
        if let given = request.id, !given.isEmpty, given != id.rawValue {
            throw GearError(.invalidRequest, "Id '\(given.prefix(80).debugEscaped)' is not the container of the path, \(id)")
        }
        var request = request
        var inline: (id: EnvironmentID, variables: [EnvironmentVariable])? = nil
        if let named = request.environmentDescriptionID {
            let environment: EnvironmentID
            do {
                environment = try EnvironmentID(named)
            } catch {
                throw GearError(.invalidRequest, "Environment.Id: \(error.message)")
            }
            if let other = request.environmentID, other != named {
                throw GearError(.invalidRequest, "Environment.Id \(named) and EnvironmentId \(other) name different environments")
            }
            request.environmentID = named
            if let variables = request.environment, !variables.isEmpty {
                inline = (environment, variables)
            } else if sharedEnvironments[environment] == nil {
                // geard made (truncated) it; one that exists is left as it is: others may use it.
                inline = (environment, [])
            }
            request.environment = nil
        }
        let spec = try ContainerSpec(validating: request)
        try checkBinds(spec.binds ?? [])
        let ifFits = request.ifFits ?? false
        guard let inline else { return try await install(id, spec, requestID: requestID, keepRunning: keepRunning, ifFits: ifFits) }
        // geard's inline variables: the named environment first (as geard wrote its file first), put back as it was
        // when the install is refused.
        let before = sharedEnvironments[inline.id]
        _ = try await putEnvironment(inline.id, EnvironmentChange(set: inline.variables))
        do {
            return try await install(id, spec, requestID: requestID, keepRunning: keepRunning, ifFits: ifFits)
        } catch {
            if let before {
                _ = try? await putEnvironment(inline.id, EnvironmentChange(set: before.variables))
            } else if usedBy(inline.id).isEmpty {
                try? await deleteEnvironment(inline.id)
            }
            throw error
        }
    }

    /// Each bind's host path must be a directory within an allowed root, reached without a symlink.
    func checkBinds(_ binds: [BindSpec]) throws(GearError) {
        for (i, bind) in binds.enumerated() {
            let roots = configuration.allowedHostPaths
            guard roots.contains(where: { bind.hostPath == $0 || bind.hostPath.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
                throw GearError(
                    .forbidden,
                    roots.isEmpty
                        ? "VolumeMounts[\(i)]: this node mounts no host directories into containers (geard --allow-host-path DIR allows a tree)"
                        : "VolumeMounts[\(i)].HostPath \(bind.hostPath) is outside the host paths this node allows (\(roots.joined(separator: ", ")))"
                )
            }
            guard let resolved = FileSystem.resolvedDirectory(bind.hostPath), resolved == bind.hostPath else {
                throw GearError(
                    .invalidRequest, "VolumeMounts[\(i)].HostPath \(bind.hostPath) must be an existing directory reached without symlinks")
            }
        }
    }

    private func install(
        _ id: ContainerID, _ spec: ContainerSpec, requestID: RequestID?, keepRunning: Bool, ifFits: Bool
    ) async throws(GearError) -> Submission {
        let print = Self.fingerprint(.install, id, spec)
        return try await submit(.install, id, fingerprint: print, requestID: requestID) {
            if let environment = spec.environmentID, sharedEnvironments[environment] == nil {
                throw GearError(.invalidRequest, "EnvironmentId: no environment \(environment); create it first")
            }
            if ifFits { try checkFits(id, spec) }
            let previous = latestPendingInstall(id)?.definition ?? definitions[id]
            let ports = try portAllocator.resolve(spec.ports, for: id, owners: portOwners(excluding: id), previous: previous?.ports ?? [])
            let now = Date()
            // geard's install leaves a container that should run running (and wanted at boot).
            let started = spec.started || (keepRunning && (previous?.started ?? false))
            let definition = ContainerDefinition(
                id: id, spec: spec, ports: ports, started: started, createdAt: definitions[id]?.createdAt ?? now, updatedAt: now)
            return .install(definition, replaceRunning: !keepRunning)
        }
    }

    /// `IfFits`: what the other containers were granted (installed, or accepted and not yet applied: the latest
    /// install of each counts) plus `spec`'s memory and CPUs must stay within the node's. Runs in the actor before
    /// the job exists, so two installs cannot both take the last room.
    func checkFits(_ id: ContainerID, _ spec: ContainerSpec) throws(GearError) {
        var latest: [ContainerID: (sequence: UInt64, spec: ContainerSpec)] = [:]
        for pending in pendingInstalls.values where pending.container != id {
            if let seen = latest[pending.container], seen.sequence > pending.sequence { continue }
            latest[pending.container] = (pending.sequence, pending.definition.spec)
        }
        var memory: Int64 = 0
        var quota = 0
        for (other, definition) in definitions where other != id && latest[other] == nil {
            memory += Int64(clamping: definition.spec.memoryMax ?? 0)
            quota += definition.spec.cpuQuotaPercent ?? 0
        }
        for (_, pending) in latest {
            memory += Int64(clamping: pending.spec.memoryMax ?? 0)
            quota += pending.spec.cpuQuotaPercent ?? 0
        }
        let totalMemory = HostFacts.memory.total
        let totalQuota = HostFacts.cpus * 100
        let wantMemory = Int64(clamping: spec.memoryMax ?? 0)
        let wantQuota = spec.cpuQuotaPercent ?? 0
        if wantMemory > 0, memory + wantMemory > totalMemory {
            throw GearError(
                .insufficientCapacity,
                "Memory: needs \(wantMemory) bytes, \(max(totalMemory - memory, 0)) of the node's \(totalMemory) left (\(memory) granted to other containers)"
            )
        }
        if wantQuota > 0, quota + wantQuota > totalQuota {
            func cpus(_ percent: Int) -> String { String(format: "%.2f", Double(percent) / 100) }
            throw GearError(
                .insufficientCapacity,
                "CPUs: needs \(cpus(wantQuota)), \(cpus(max(totalQuota - quota, 0))) of the node's \(HostFacts.cpus) left (\(cpus(quota)) granted to other containers)"
            )
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

    /// Sets a container's network links (geard's `POST /containers/links`); they replace the ones it had, and
    /// listen while it runs. Only podman containers have a namespace of their own to link from.
    public func setLinks(_ id: ContainerID, _ links: [LinkSpec], requestID: RequestID?) async throws(GearError) -> Submission {
        var bytes = Array("link \(id.rawValue)\n".utf8)
        if let data = try? GearJSON.encoder().encode(links) { bytes += data }
        return try await submit(.link, id, fingerprint: fnv1aFingerprint(bytes), requestID: requestID) {
            guard let definition = latestPendingInstall(id)?.definition ?? definitions[id] else {
                throw GearError(.notFound, "no container \(id) is installed")
            }
            if !links.isEmpty, definition.spec.runtime == .exec {
                throw GearError(.invalidRequest, "container \(id) runs in the host's network (exec runtime): links need the podman runtime")
            }
            return .link(links)
        }
    }

    /// The ids of the installed containers, sorted.
    public nonisolated func installedIDs() -> [ContainerID] {
        index.entries.map(\.definition.id)
    }

    /// The last `lines` journal entries of a container, oldest first, with their pid and identifier.
    /// (Empty when the journal cannot be read.)
    public nonisolated func recentLog(_ id: ContainerID, lines: Int) async -> [LogRecord] {
        await systemd.recentLog(id.unitName, lines: lines)
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
        return fnv1aFingerprint(bytes)
    }
}

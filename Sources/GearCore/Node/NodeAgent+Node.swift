public import GearAPI

#if canImport(Glibc)
    import Glibc
#endif

/// What the node has and what it granted (`GET /node`), and whether geard can do its work (`/healthz`, `/readyz`).
extension NodeAgent {
    public nonisolated func nodeInfo() async throws(GearError) -> NodeInfo {
        let constant: HostFacts.Constant
        do {
            constant = try await HostFacts.constant(systemd: systemd, podmanPath: configuration.podmanPath)
        } catch {
            throw Self.gearError(error)
        }
        // The list's snapshot: unit states from the signal-fed cache, the same object while nothing changed.
        let list = try await listSnapshot()
        var byState: [String: Int] = [:]
        var byHealth: [String: Int] = [:]
        for container in list.containers {
            byState[container.status.activeState, default: 0] += 1
            if let health = container.status.health { byHealth[health.status, default: 0] += 1 }
        }
        // /proc and statvfs answer from the kernel without touching a disk: no need for the blocking pool.
        let layout = configuration.layout
        let memory = HostFacts.memory
        let disk = HostFacts.disk(layout.root) ?? (0, 0)
        let range = configuration.portRange
        // One pass over the definitions, read in place (no copies).
        var held = Set<Int>()
        var grantedMemory: Int64 = 0
        var grantedCPUs = 0
        var started = 0
        let entries = index.entries
        for entry in entries {
            let definition = entry.definition
            for port in definition.ports where range.contains(port.externalPort) { held.insert(port.externalPort) }
            if let limit = definition.spec.memoryMax { grantedMemory += Int64(clamping: limit) }
            if let quota = definition.spec.cpuQuotaPercent { grantedCPUs += quota }
            if definition.started { started += 1 }
        }
        let allocated = held.count
        // Ports of the range some other process listens on (not a container's own published port).
        let byHost = HostListeners.listening(in: range).filter { !held.contains($0) }
        var info = NodeInfo(
            hostname: HostFacts.hostname, machineID: constant.machineID, bootID: constant.bootID, kernel: constant.kernel,
            systemdVersion: constant.systemdVersion, podmanVersion: constant.podmanVersion, cpus: HostFacts.cpus,
            memory: .init(totalBytes: memory.total, availableBytes: memory.available),
            disk: .init(path: layout.root, totalBytes: disk.total, freeBytes: disk.free),
            ports: .init(
                first: range.lowerBound, last: range.upperBound, allocated: allocated, free: range.count - allocated - byHost.count,
                heldByHost: byHost.isEmpty ? nil : Array(byHost.prefix(NodeInfo.Ports.maxHeldByHost))),
            containers: .init(total: entries.count, started: started, byState: byState),
            granted: .init(memoryBytes: grantedMemory, cpus: Double(grantedCPUs) / 100))
        info.labels = configuration.labels.isEmpty ? nil : configuration.labels
        info.containers.byHealth = byHealth.isEmpty ? nil : byHealth
        return info
    }

    /// Liveness: systemd answers on the bus, the journal opens, the state directory is writable and its disk not
    /// full.
    public nonisolated func health() async -> HealthReport {
        var checks: [HealthReport.Check] = []
        do {
            try await systemd.ping()
            checks.append(.init(name: "systemd", ok: true))
        } catch {
            checks.append(.init(name: "systemd", ok: false, message: "\(Self.gearError(error).message)"))
        }
        let root = configuration.layout.root
        let local =
            (try? await BlockingIO.run { () -> [HealthReport.Check] in
                var checks: [HealthReport.Check] = []
                do {
                    try JournalReaderBox.probe()
                    checks.append(.init(name: "journal", ok: true))
                } catch {
                    checks.append(.init(name: "journal", ok: false, message: "\(error)"))
                }
                let writable = access(root, W_OK) == 0
                checks.append(.init(name: "state", ok: writable, message: writable ? nil : "\(root) is not writable"))
                if let disk = HostFacts.disk(root) {
                    let ok = disk.free > 16 << 20
                    checks.append(.init(name: "disk", ok: ok, message: ok ? nil : "\(disk.free) bytes free under \(root)"))
                } else {
                    checks.append(.init(name: "disk", ok: false, message: "cannot stat \(root)"))
                }
                return checks
            }) ?? [.init(name: "io", ok: false, message: "the blocking pool is not running")]
        return HealthReport(checks: checks + local + healthChecks.run())
    }

    /// Readiness: geard takes jobs (it is not shutting down) and systemd answers.
    public func readiness() async -> HealthReport {
        var checks = [HealthReport.Check(name: "accepting", ok: isAccepting, message: isAccepting ? nil : "geard is shutting down")]
        do {
            try await systemd.ping()
            checks.append(.init(name: "systemd", ok: true))
        } catch {
            checks.append(.init(name: "systemd", ok: false, message: "\(Self.gearError(error).message)"))
        }
        return HealthReport(checks: checks)
    }
}

public import GearAPI
import SystemdBus
import SystemdJournal

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
        let definitions = index.sorted
        var byState: [String: Int] = [:]
        do {
            // Unit states come from the signal-fed cache, like the list's.
            for unit in try await systemd.statuses(definitions.map(\.id.unitName)) { byState[unit.activeState, default: 0] += 1 }
        } catch {
            throw Self.gearError(error)
        }
        // /proc and statvfs answer from the kernel without touching a disk: no need for the blocking pool.
        let layout = configuration.layout
        let memory = HostFacts.memory
        let disk = HostFacts.disk(layout.root) ?? (0, 0)
        let range = configuration.portRange
        let allocated = Set(definitions.flatMap { $0.ports.map(\.externalPort) }).filter(range.contains).count
        let grantedMemory = definitions.compactMap(\.spec.memoryMax).reduce(Int64(0)) { $0 + Int64(clamping: $1) }
        let grantedCPUs = definitions.compactMap(\.spec.cpuQuotaPercent).reduce(0) { $0 + $1 }
        return NodeInfo(
            hostname: HostFacts.hostname, machineID: constant.machineID, bootID: constant.bootID, kernel: constant.kernel,
            systemdVersion: constant.systemdVersion, podmanVersion: constant.podmanVersion, cpus: HostFacts.cpus,
            memory: .init(totalBytes: memory.total, availableBytes: memory.available),
            disk: .init(path: layout.root, totalBytes: disk.total, freeBytes: disk.free),
            ports: .init(first: range.lowerBound, last: range.upperBound, allocated: allocated, free: range.count - allocated),
            containers: .init(total: definitions.count, started: definitions.filter(\.started).count, byState: byState),
            granted: .init(memoryBytes: grantedMemory, cpus: Double(grantedCPUs) / 100))
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
                    _ = try JournalReader()
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
        return HealthReport(checks: checks + local)
    }

    /// Readiness: geard takes jobs (it is not shutting down) and systemd answers.
    public func readiness() async -> HealthReport {
        var checks = [HealthReport.Check(name: "accepting", ok: accepting, message: accepting ? nil : "geard is shutting down")]
        do {
            try await systemd.ping()
            checks.append(.init(name: "systemd", ok: true))
        } catch {
            checks.append(.init(name: "systemd", ok: false, message: "\(Self.gearError(error).message)"))
        }
        return HealthReport(checks: checks)
    }
}

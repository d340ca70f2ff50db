import GearAPI

/// Renders a container definition into its systemd unit file and its environment file.
///
/// The text is a pure function of the definition and the configuration, so that geard can re-render every unit
/// at start and repair one that is missing or stale. Every value from a request goes through `UnitEscaping`.
public struct UnitRenderer: Sendable {
    public var layout: StateLayout
    /// The podman binary the units run.
    public var podmanPath: String
    /// A network namespace (`/run/netns/NAME`) the units run in, for several geards on one machine; nil: the host's.
    public var networkNamespace: String?

    public init(layout: StateLayout, podmanPath: String = "/usr/bin/podman", networkNamespace: String? = nil) {
        self.layout = layout
        self.podmanPath = podmanPath
        self.networkNamespace = networkNamespace
    }

    /// The unit file of `definition`.
    public func unitFile(_ definition: ContainerDefinition) -> String {
        let spec = definition.spec
        var lines: [String] = [
            "# Written by geard for container \(definition.id); geard rewrites it from \(layout.definitionFile(definition.id)).",
            "[Unit]",
            "Description=gear container \(definition.id) (\(spec.runtime.rawValue))",
        ]
        switch spec.runtime {
        case .podman:
            lines += [
                "Wants=network-online.target", "After=network-online.target", "RequiresMountsFor=/run/containers",
                // The safety net when the service did not end cleanly; after a clean stop the container is gone
                // already, and no process runs (an `ExecStopPost=` would cost a process and ~10 ms every stop).
                "OnFailure=\(InfrastructureUnits.podmanCleanupInstance(definition.id))",
            ]
        case .exec:
            lines += ["After=network.target"]
        }
        // geard's SystemdSlice: a slice under gear.slice (systemd makes `gear-{name}.slice` a child of it by name).
        let slice = spec.slice.map { "gear-\($0).slice" } ?? InfrastructureUnits.slice
        lines += ["", "[Service]", "Slice=\(slice)", "Restart=\(spec.restart.rawValue)", "RestartSec=1s"]
        if let memory = spec.memoryMax { lines.append("MemoryMax=\(memory)") }
        if let cpu = spec.cpuQuotaPercent { lines.append("CPUQuota=\(cpu)%") }
        if let networkNamespace { lines.append("NetworkNamespacePath=\(networkNamespace)") }
        switch spec.runtime {
        case .podman: lines += podmanService(definition)
        case .exec: lines += execService(definition)
        }
        lines += ["", "[Install]", "WantedBy=\(InfrastructureUnits.activeTarget)", ""]
        return lines.joined(separator: "\n")
    }

    /// The container's own environment file, or nil when it has no variables of its own: in podman's
    /// `--env-file` syntax or systemd's `EnvironmentFile=` syntax (exec), mode 0600 — unlike `Environment=` lines,
    /// whose values anyone may read with `systemctl show`.
    public func environmentFile(_ definition: ContainerDefinition) -> String? {
        guard !definition.spec.environment.isEmpty else { return nil }
        return Self.environmentFile(definition.spec.environment, podman: definition.spec.runtime == .podman)
    }

    /// Variables as podman reads an `--env-file` (each line `KEY=VALUE` literally; values hold no line breaks,
    /// validation refuses them) or as systemd reads an `EnvironmentFile=`.
    static func environmentFile(_ variables: [EnvironmentVariable], podman: Bool) -> String {
        podman
            ? variables.map { "\($0.name)=\($0.value)\n" }.joined()
            : variables.map { UnitEscaping.environmentFileLine(name: $0.name, value: $0.value) }.joined()
    }

    /// The cidfile podman writes, as `podman generate systemd --new` names it (`%t/%n.ctr-id`).
    func cidFile(_ id: ContainerID) -> String { Self.cidFile(unit: id.unitName) }
    static func cidFile(unit: String) -> String { "/run/\(unit).ctr-id" }

    /// Stops (the container's stop signal, SIGKILL after 10 s) and removes a container, its anonymous volumes with it;
    /// the `--cidfile=` argument follows.
    static func podmanRemove(podmanPath: String) -> [String] { [podmanPath, "rm", "-f", "-v", "--ignore", "-t", "10"] }

    private func podmanService(_ definition: ContainerDefinition) -> [String] {
        let id = definition.id
        let spec = definition.spec
        let cid = "--cidfile=\(cidFile(id))"
        var run = [
            podmanPath, "run", cid, "--cgroups=split", "--rm", "--sdnotify=conmon", "--replace", "-d", "-q", "--init",
            "--name", id.podmanName, "--label", "io.gear.container=\(id)", "--log-driver", "journald",
        ]
        // A named environment first: podman lets a later --env-file override an earlier one, so the container's
        // own variables win.
        if let shared = spec.environmentID { run += ["--env-file", layout.sharedEnvironmentFile(shared, podman: true)] }
        if environmentFile(definition) != nil { run += ["--env-file", layout.environmentFile(id)] }
        for port in definition.ports { run += ["--publish", "\(port.externalPort):\(port.internalPort)"] }
        for volume in spec.volumes {
            run += ["--volume", "\(layout.volume(id, volume.name)):\(volume.path)" + (volume.readOnly ? ":ro" : "")]
        }
        for bind in spec.binds ?? [] { run += ["--volume", "\(bind.hostPath):\(bind.path)" + (bind.readOnly ? ":ro" : "")] }
        run.append(spec.image ?? "")
        run += spec.cmd
        // Anonymous volumes of the image go with the container, as `--rm` removes them.
        let remove = Self.podmanRemove(podmanPath: podmanPath) + [cid]
        return [
            "Environment=PODMAN_SYSTEMD_UNIT=\(id.unitName)",
            "Type=notify",
            "NotifyAccess=all",
            "KillMode=mixed",
            "TimeoutStartSec=120",
            "TimeoutStopSec=70",
            // The container's init (podman --init) exits 143 when a stop's SIGTERM ends it: a clean stop, as
            // systemd counts SIGTERM for a main process it signals itself.
            "SuccessExitStatus=143",
            "ExecStartPre=" + UnitEscaping.commandLine(["/bin/rm", "-f", cidFile(id)]),
            "ExecStart=" + UnitEscaping.commandLine(run),
            // Stops and removes in one podman process, as Quadlet does (a `podman stop`, then a `podman rm` after
            // the main process ended, cost a podman start-up more per stop).
            "ExecStop=" + UnitEscaping.commandLine(remove),
        ]
    }

    private func execService(_ definition: ContainerDefinition) -> [String] {
        let id = definition.id
        let spec = definition.spec
        var lines = ["Type=exec", "DynamicUser=yes", "User=\(id.execUserName)"]
        let writable = spec.volumes.filter { !$0.readOnly }.map { layout.volume(id, $0.name) }
        if !writable.isEmpty {
            // Volumes belong to the container's dynamic user. Its uid is usually stable (systemd derives it from the
            // name) but may change; then, as systemd does for StateDirectory=, ownership is given back recursively.
            let fixOwnership = "for d; do [ \"$(stat -c %U \"$d\")\" = \"$USER\" ] || chown -R \"$USER:$USER\" \"$d\"; done"
            lines.append("ExecStartPre=+" + UnitEscaping.commandLine(["/bin/sh", "-c", fixOwnership, "sh"] + writable))
        }
        lines.append("ExecStart=" + UnitEscaping.commandLine(spec.cmd))
        // Later files override earlier ones: the named environment, then the container's own variables.
        if let shared = spec.environmentID {
            lines.append("EnvironmentFile=" + UnitEscaping.path(layout.sharedEnvironmentFile(shared, podman: false)))
        }
        if environmentFile(definition) != nil { lines.append("EnvironmentFile=" + UnitEscaping.path(layout.environmentFile(id))) }
        lines += ExecSandbox.settings(relax: Set(spec.relax ?? [])).map(\.line)
        for volume in spec.volumes {
            let setting = volume.readOnly ? "BindReadOnlyPaths" : "BindPaths"
            lines.append("\(setting)=\(UnitEscaping.path(layout.volume(id, volume.name))):\(UnitEscaping.path(volume.path))")
        }
        for bind in spec.binds ?? [] {
            lines.append("\(bind.readOnly ? "BindReadOnlyPaths" : "BindPaths")=\(UnitEscaping.path(bind.hostPath)):\(UnitEscaping.path(bind.path))")
        }
        return lines
    }
}

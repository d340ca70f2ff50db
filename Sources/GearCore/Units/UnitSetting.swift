/// A systemd setting as geard writes it in a unit file and as it sets it on a transient unit (`StartTransientUnit`
/// properties), from one definition: a run job gets the very sandbox an exec container's unit file has.
public struct UnitSetting: Sendable, Hashable {
    /// The directive and D-Bus property name (`ProtectSystem`).
    public var name: String
    /// The value in a unit file (`strict`).
    public var file: String
    /// The value as a transient unit's property.
    public var value: TransientValue

    public init(_ name: String, _ file: String, _ value: TransientValue) {
        self.name = name
        self.file = file
        self.value = value
    }

    /// `name=file`.
    public var line: String { "\(name)=\(file)" }

    static func yes(_ name: String) -> UnitSetting { UnitSetting(name, "yes", .bool(true)) }
}

/// A transient unit property's value, in the D-Bus types systemd's manager takes for it.
public enum TransientValue: Sendable, Hashable {
    case bool(Bool)
    case string(String)
    case strings([String])
    case uint64(UInt64)
    case uint32(UInt32)
    case int32(Int32)
    /// `ExecStart=`-like (`a(sasb)`): each command line (program first), not ignoring failure.
    case commands([[String]])
    /// `SystemCallFilter=`/`RestrictAddressFamilies=`-like (`(bas)`): an allow list, or with `allow` false a deny list.
    case list(allow: Bool, [String])
    /// `EnvironmentFile=` (`a(sb)`): files that must exist.
    case environmentFiles([String])
}

/// The sandbox of an exec-runtime unit (a container's or a run job's), but the parts a request relaxed.
enum ExecSandbox {
    static func settings(relax: Set<SandboxRelaxation>) -> [UnitSetting] {
        var settings: [UnitSetting] = [
            UnitSetting("WorkingDirectory", "/", .string("/")),
            .yes("NoNewPrivileges"),
            .yes("PrivateTmp"),
            .yes("PrivateDevices"),
            UnitSetting("ProtectSystem", "strict", .string("strict")),
            UnitSetting("ProtectHome", "yes", .string("yes")),
            .yes("ProtectKernelTunables"),
            .yes("ProtectKernelModules"),
            .yes("ProtectKernelLogs"),
            .yes("ProtectControlGroups"),
            .yes("RestrictSUIDSGID"),
            .yes("RestrictRealtime"),
            .yes("LockPersonality"),
            UnitSetting("KillMode", "control-group", .string("control-group")),
            // No privilege at all: the dynamic user holds no capability and cannot gain one.
            UnitSetting("CapabilityBoundingSet", "", .uint64(0)),
            UnitSetting("AmbientCapabilities", "", .uint64(0)),
            .yes("ProtectClock"),
            .yes("ProtectHostname"),
            UnitSetting("SystemCallArchitectures", "native", .strings(["native"])),
            UnitSetting("KeyringMode", "private", .string("private")),
            UnitSetting("UMask", "0077", .uint32(0o077)),
        ]
        if !relax.contains(.memoryDenyWriteExecute) { settings.append(.yes("MemoryDenyWriteExecute")) }
        if !relax.contains(.systemCallFilter) {
            settings += [
                UnitSetting("SystemCallFilter", "@system-service", .list(allow: true, ["@system-service"])),
                UnitSetting("SystemCallFilter", "~@privileged @resources", .list(allow: false, ["@privileged", "@resources"])),
                UnitSetting("SystemCallErrorNumber", "EPERM", .int32(1)),
            ]
        }
        if !relax.contains(.privateUsers) { settings.append(.yes("PrivateUsers")) }
        if !relax.contains(.protectProc) {
            settings += [UnitSetting("ProtectProc", "invisible", .string("invisible")), UnitSetting("ProcSubset", "pid", .string("pid"))]
        }
        if !relax.contains(.restrictAddressFamilies) {
            let families = ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"]
            settings.append(UnitSetting("RestrictAddressFamilies", families.joined(separator: " "), .list(allow: true, families)))
        }
        // The allowed namespace types: none.
        if !relax.contains(.restrictNamespaces) { settings.append(UnitSetting("RestrictNamespaces", "yes", .uint64(0))) }
        return settings
    }
}

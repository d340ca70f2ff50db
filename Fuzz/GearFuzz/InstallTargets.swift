import Foundation
import GearAPI

@testable import GearCore

/// Install and environment bodies (geard's flexible, case-insensitive keys) and the unit files they become.
enum InstallTargets {
    /// The directives geard's unit renderer writes; a line with any other is a directive an install body injected.
    static let directives: Set<String> = [
        "After", "AmbientCapabilities", "CPUQuota", "CapabilityBoundingSet", "Description", "DynamicUser", "Environment",
        "EnvironmentFile", "ExecStart", "ExecStartPre", "ExecStop", "KeyringMode", "KillMode", "LockPersonality",
        "MemoryDenyWriteExecute", "MemoryMax", "NetworkNamespacePath", "NoNewPrivileges", "NotifyAccess", "OnFailure", "PrivateDevices",
        "PrivateTmp", "PrivateUsers", "ProcSubset", "ProtectClock", "ProtectControlGroups", "ProtectHome", "ProtectHostname",
        "ProtectKernelLogs", "ProtectKernelModules", "ProtectKernelTunables", "ProtectProc", "ProtectSystem", "RequiresMountsFor",
        "Restart", "RestartSec", "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "Slice",
        "SuccessExitStatus", "SystemCallArchitectures", "SystemCallErrorNumber", "SystemCallFilter", "TimeoutStartSec",
        "TimeoutStopSec", "Type", "UMask", "User", "WantedBy", "Wants", "WorkingDirectory",
    ]
    static let sections: Set<String> = ["[Unit]", "[Service]", "[Install]"]

    static let renderer: UnitRenderer = {
        guard let layout = try? StateLayout(root: "/var/lib/gear") else { fatalError("the state layout is refused") }
        return UnitRenderer(layout: layout)
    }()

    /// `PUT /container/{id}`: a body the validation accepts renders to a unit file of geard's own lines only, and
    /// an environment file of one variable per line.
    static func installBody(_ input: [UInt8]) {
        guard let request = try? GearJSON.decoder().decode(InstallRequest.self, from: Data(input)),
            let spec = try? ContainerSpec(validating: request),
            let id = try? ContainerID("fuzz-1")
        else { return }
        let ports = spec.ports.enumerated().map { PortMapping(internal: $1.internalPort, external: $1.externalPort ?? 40000 + $0) }
        let now = Date(timeIntervalSince1970: 0)
        let definition = ContainerDefinition(id: id, spec: spec, ports: ports, started: spec.started, createdAt: now, updatedAt: now)
        checkUnitFile(renderer.unitFile(definition), input)
        if let environment = renderer.environmentFile(definition) {
            checkEnvironmentFile(environment, variables: spec.environment, podman: spec.runtime == .podman, input)
        }
    }

    /// `PUT`/`PATCH /environment/{id}`: what the validation accepts renders one line per variable, in both syntaxes.
    static func environmentBody(_ input: [UInt8]) {
        guard let change = try? EnvironmentChange.parse(input), let variables = try? ContainerSpec.validateEnvironment(change.set) else { return }
        for podman in [true, false] {
            checkEnvironmentFile(UnitRenderer.environmentFile(variables, podman: podman), variables: variables, podman: podman, input)
        }
    }

    static func checkUnitFile(_ unit: String, _ input: [UInt8]) {
        if let bad = unit.unicodeScalars.first(where: { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || $0.value == 0x7F }) {
            violated("the unit file holds U+\(String(bad.value, radix: 16))", input)
        }
        for line in unit.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasSuffix("\\") { violated("a unit line ends in a backslash (continues on the next): \(line)", input) }
            if line.isEmpty || line.hasPrefix("#") || sections.contains(String(line)) { continue }
            guard let eq = line.firstIndex(of: "="), directives.contains(String(line[..<eq])) else {
                violated("the unit file has a line geard does not write: \(line.prefix(200))", input)
            }
        }
    }

    /// Each line sets one of the variables, to its value.
    static func checkEnvironmentFile(_ file: String, variables: [EnvironmentVariable], podman: Bool, _ input: [UInt8]) {
        guard file.hasSuffix("\n") || variables.isEmpty else { violated("the environment file does not end its last line", input) }
        let lines = file.split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.count == variables.count else {
            violated("\(variables.count) variables became \(lines.count) lines (podman: \(podman))", input)
        }
        for (line, variable) in zip(lines, variables) {
            let read = podman ? podmanLine(line) : systemdLine(line)
            guard let read, read.name == variable.name, read.value == variable.value else {
                violated("\(variable) reads back as \(String(describing: read)) (podman: \(podman))", input)
            }
        }
    }

    /// podman's `--env-file`: `KEY=VALUE`, the value as it is.
    static func podmanLine(_ line: Substring) -> (name: String, value: String)? {
        KeyValue.split(line).map { (name: $0.key, value: $0.value) }
    }

    /// systemd's `EnvironmentFile=` reading of a double-quoted value: a backslash before `"`, `\`, `` ` `` or `$` is
    /// that character, before anything else a backslash.
    static func systemdLine(_ line: Substring) -> (name: String, value: String)? {
        guard let (name, rest) = KeyValue.split(line) else { return nil }
        let quoted = Array(rest.unicodeScalars)
        guard quoted.count >= 2, quoted.first == "\"", quoted.last == "\"" else { return nil }
        var value = String.UnicodeScalarView()
        var i = 1
        while i < quoted.count - 1 {
            if quoted[i] == "\\", i + 1 < quoted.count - 1, "\"\\`$".unicodeScalars.contains(quoted[i + 1]) {
                i += 1
            } else if quoted[i] == "\\" && i + 1 == quoted.count - 1 {
                return nil  // the closing quote escaped
            } else if quoted[i] == "\"" {
                return nil
            }
            value.append(quoted[i])
            i += 1
        }
        return (name, String(value))
    }
}

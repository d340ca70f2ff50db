import ArgumentParser
import Foundation
import GearAPI
import GearCore

/// This node: where its state lives, how it reaches systemd and podman, its port range, labels, network namespace
/// and the host paths installs may mount.
struct NodeOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: "Where definitions, unit files, volumes and jobs are kept.")
    var stateDir: String = "/var/lib/gear"

    @Option(name: .customLong("unit-dir"), help: "systemd's configuration directory (links and .wants folders).")
    var unitDir: String = "/etc/systemd/system"

    @Option(name: .customLong("port-range"), help: "External ports to allocate from, FIRST-LAST.")
    var portRange: String = "4000-4999"

    @Option(name: .long, help: "The podman binary container units run.")
    var podman: String = "/usr/bin/podman"

    @Option(name: .long, help: "How to reach systemd: auto (its private socket when root, else the system bus), private or system.")
    var bus: String = "auto"

    @Option(name: .customLong("label"), help: "A label of this node, KEY=VALUE, shown in /node for placement rules (gear deploy); repeatable.")
    var labels: [String] = []

    @Option(
        name: .customLong("network-namespace"),
        help:
            "Run the containers' units in this network namespace (/run/netns/NAME), for several geards on one machine each with a network of its own."
    )
    var networkNamespace: String?

    @Option(
        name: .customLong("allow-host-path"),
        help: "A host directory whose tree installs may mount into containers (geard's VolumeMounts); repeatable, none by default.")
    var allowHostPath: [String] = []

    @Flag(name: .customLong("no-reload-coalescing"), help: .hidden)
    var noReloadCoalescing = false

    func validate() throws {
        guard Self.range(portRange, within: 1...65535) != nil else { throw ValidationError("--port-range must be FIRST-LAST within 1-65535") }
        guard SystemdBusChoice(rawValue: bus) != nil else { throw ValidationError("--bus must be auto, private or system") }
        var keys = Set<String>()
        for label in labels {
            if let problem = AgentConfiguration.problem(withLabel: label) { throw ValidationError("--label \(label): \(problem)") }
            guard let key = KeyValue.split(label)?.key, keys.insert(key).inserted else {
                throw ValidationError("--label \(label): the key is given twice")
            }
        }
        if let networkNamespace {
            guard networkNamespace.hasPrefix("/"), networkNamespace.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/._-".contains($0)) }),
                FileManager.default.fileExists(atPath: networkNamespace)
            else {
                throw ValidationError("--network-namespace must be an existing absolute path of letters, digits and / . _ - (/run/netns/NAME)")
            }
        }
        for path in allowHostPath {
            if let problem = AgentConfiguration.problem(withAllowedHostPath: path) { throw ValidationError("--allow-host-path \(path) \(problem)") }
        }
        do {
            _ = try StateLayout(root: stateDir, systemdUnitDirectory: unitDir)
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// The agent's configuration from these flags.
    func configuration() throws -> AgentConfiguration {
        var configuration = AgentConfiguration(layout: try StateLayout(root: stateDir, systemdUnitDirectory: unitDir))
        configuration.portRange = Self.range(portRange, within: 1...65535)!
        configuration.podmanPath = podman
        configuration.coalesceReloads = !noReloadCoalescing
        configuration.labels = Dictionary(labels.compactMap { KeyValue.split($0) }, uniquingKeysWith: { a, _ in a })
        configuration.networkNamespace = networkNamespace
        configuration.allowedHostPaths = allowHostPath.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        return configuration
    }

    var busChoice: SystemdBusChoice { SystemdBusChoice(rawValue: bus) ?? .auto }

    static func range(_ text: String, within bounds: ClosedRange<Int>) -> ClosedRange<Int>? {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), low <= high, bounds.contains(low), bounds.contains(high) else {
            return nil
        }
        return low...high
    }
}

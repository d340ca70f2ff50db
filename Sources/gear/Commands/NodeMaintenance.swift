import ArgumentParser
import Foundation
import GearAPI
import GearEtcd

/// `gear node`: what hosts have (the default), and an operator's maintenance of nodes in the pool.
struct Node: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what hosts have, or cordon, uncordon and drain nodes of the pool (gear-orchestrator).",
        discussion: """
            Without a subcommand it shows the hosts (gear node info). cordon, uncordon and drain write \
            /gear/v1/maintenance/NODE in etcd, which gear-orchestrator follows: a cordoned node takes no new instances \
            and keeps what it runs; a draining node's instances are moved to others, --max-unavailable of a \
            deployment at a time (the orchestrator's), each next one once the moved ones are ready. They need an \
            operator's etcd identity (gear etcd grant --operator).

            Examples:
              gear node cordon node3 --etcd https://10.0.0.9:2379
              gear node drain node3 --etcd https://10.0.0.9:2379 --reason "kernel update"
              gear node uncordon node3 --etcd https://10.0.0.9:2379
            """,
        subcommands: [NodeInfo.self, NodeCordon.self, NodeUncordon.self, NodeDrain.self],
        defaultSubcommand: NodeInfo.self)
}

/// Writes maintenance entries, and checks that an orchestrator leads to act on them.
enum Maintenance {
    static func validate(_ nodes: [String]) throws {
        guard !nodes.isEmpty else { throw ValidationError("name at least one node") }
        for node in nodes {
            if let problem = GearKeys.problem(withNode: node) { throw ValidationError("'\(node)' \(problem)") }
        }
    }

    static func put(_ client: EtcdClient, _ nodes: [String], _ entry: NodeMaintenance) async throws(EtcdError) {
        let value: Data
        do {
            value = try GearJSON.encoder().encode(entry)
        } catch {
            throw EtcdError(.invalid, "cannot encode the maintenance entry: \(error)")
        }
        _ = try await client.transaction(then: nodes.map { .put(GearKeys.maintenance($0), value) })
    }

    /// The leading orchestrator's name, or nil when none leads.
    static func leader(_ client: EtcdClient) async throws(EtcdError) -> String? {
        try await client.get(GearKeys.orchestratorLeader).map { String(decoding: $0.value, as: UTF8.self) }
    }

    /// The instances of deployments desired on `node` (entries with a deployment's label).
    static func instances(on node: String, _ client: EtcdClient) async throws(EtcdError) -> [String] {
        let keys = try GearKeys(node: node)
        let decoder = GearJSON.decoder()
        return try await client.range(prefix: keys.desiredContainers).values.compactMap { entry in
            guard let request = try? decoder.decode(InstallRequest.self, from: entry.value),
                request.labels?[DeploymentLabel.deployment] != nil
            else { return nil }
            return String(entry.key.dropFirst(keys.desiredContainers.count))
        }
    }

    static func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("gear: \(message)\n".utf8))
        return ExitCode(1)
    }
}

struct NodeCordon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cordon", abstract: "Place nothing new on these nodes; what runs there stays.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var etcdOptions: EtcdOptions
    @Option(name: .long, help: "Why, for whoever reads the entry.") var reason: String?
    @Argument(help: "Node names.") var nodes: [String]

    func validate() throws { try Maintenance.validate(nodes) }

    func run() async throws {
        let (nodes, reason, quiet) = (self.nodes, self.reason, global.quiet)
        do {
            try await EtcdClient.with(try etcdOptions.configuration(global)) { client in
                try await Maintenance.put(client, nodes, NodeMaintenance(mode: .cordon, reason: reason))
                let leader = try await Maintenance.leader(client)
                if !quiet { for node in nodes { print("\(node): cordoned") } }
                if leader == nil { FileHandle.standardError.write(Data("gear: no orchestrator leads now; it will see this when one does\n".utf8)) }
            }
        } catch let error as EtcdError {
            throw Maintenance.fail(error.message)
        }
    }
}

struct NodeUncordon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uncordon", abstract: "End a cordon or a drain: the nodes take new instances again.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var etcdOptions: EtcdOptions
    @Argument(help: "Node names.") var nodes: [String]

    func validate() throws { try Maintenance.validate(nodes) }

    func run() async throws {
        let (nodes, quiet) = (self.nodes, global.quiet)
        do {
            try await EtcdClient.with(try etcdOptions.configuration(global)) { client in
                _ = try await client.transaction(then: nodes.map { .delete(GearKeys.maintenance($0)) })
                if !quiet { for node in nodes { print("\(node): schedulable") } }
            }
        } catch let error as EtcdError {
            throw Maintenance.fail(error.message)
        }
    }
}

struct NodeDrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Move the instances of deployments off these nodes, and place nothing new there.",
        discussion: """
            Refused when no orchestrator leads (nothing would move them; nothing is written). Then waits until no \
            instance of a deployment is desired on the nodes, printing each change, for --timeout seconds at most \
            (exit 1 when some are left: the drain goes on; see gear-orchestrator's status of the deployments for why \
            they wait). The nodes stay cordoned until gear node uncordon.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var etcdOptions: EtcdOptions
    @Option(name: .long, help: "Why, for whoever reads the entry.") var reason: String?
    @Flag(name: .customLong("no-wait"), help: "Write the drain and return at once.") var noWait = false
    @Argument(help: "Node names.") var nodes: [String]

    func validate() throws { try Maintenance.validate(nodes) }

    func run() async throws {
        let (nodes, reason, quiet, wait, timeout) = (self.nodes, self.reason, global.quiet, !noWait, global.timeout)
        do {
            try await EtcdClient.with(try etcdOptions.configuration(global)) { client in
                guard try await Maintenance.leader(client) != nil else {
                    throw EtcdError(
                        .unavailable, "no orchestrator leads: nothing would move the instances (start gear-orchestrator); nothing was written")
                }
                try await Maintenance.put(client, nodes, NodeMaintenance(mode: .drain, reason: reason))
                guard wait else { return }
                let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
                var last: [String: Int] = [:]
                while true {
                    var left = 0
                    for node in nodes {
                        let count = try await Maintenance.instances(on: node, client).count
                        left += count
                        if last[node] != count, !quiet { print(count == 0 ? "\(node): drained" : "\(node): \(count) instances to move") }
                        last[node] = count
                    }
                    if left == 0 { return }
                    guard ContinuousClock.now < deadline else {
                        throw EtcdError(
                            .other, "\(left) instances are still on \(nodes.joined(separator: ", ")) after \(Int(timeout)) s; the drain goes on")
                    }
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
        } catch let error as EtcdError {
            throw Maintenance.fail(error.message)
        }
    }
}

import ArgumentParser
import Foundation
import GearAPI
import GearClient

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the state of containers.",
        discussion: """
            With --etcd: what every node reports in etcd (or the instances of the deployments named), whether each \
            container is as desired, and which nodes are silent (they have desired state but no observed entry: down, or \
            their lease expired). With --nats: each NODE/ID asked over the bus with a signed request, and @all \
            broadcast to every node (those of --expect that do not answer are listed as silent).

            Examples: gear status web node2/web
                      gear status --etcd https://10.0.0.9:2379 shop
                      gear status --nats tls://10.0.0.9:4222 node1/web @all --expect node1 --expect node2
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var etcdOptions: EtcdOptions
    @OptionGroup(title: "NATS (the message bus)") var natsOptions: NATSOptions
    @Argument(help: "[host[:port]/]id (with --etcd: deployment names, none for everything)") var locators: [String] = []

    func validate() throws {
        if etcdOptions.etcd == nil, ProcessInfo.processInfo.environment["GEAR_ETCD"].map({ $0.isEmpty }) ?? true, locators.isEmpty {
            throw ValidationError("name at least one container: [host[:port]/]id")
        }
    }

    func run() async throws {
        if natsOptions.url != nil { return try await BusStatus.show(locators, options: natsOptions, global: global) }
        if etcdOptions.etcd != nil || ProcessInfo.processInfo.environment["GEAR_ETCD"].map({ !$0.isEmpty }) == true {
            return try await EtcdStatus.show(deployments: locators, configuration: try etcdOptions.configuration(global), global: global)
        }
        let outcomes = await FanOut.run(try global.locators(locators), options: global) { client, locator in
            try await client.status(locator.id)
        }
        let output = Output(options: global)
        if global.output == .json {
            output.json(outcomes)
        } else {
            let many = Output.manyHosts(outcomes)
            var rows = [["CONTAINER", "RUNTIME", "STARTED", "STATE", "SUB", "HEALTH", "PID", "RESTARTS", "PORTS"]]
            for outcome in outcomes {
                guard case .success(let s) = outcome.result else { continue }
                rows.append([
                    Output.label(outcome, many: many), s.runtime, s.started ? "yes" : "no", s.activeState, s.subState,
                    s.health?.status ?? "-", s.mainPID.map(String.init) ?? "-", String(s.restarts), s.ports.map(\.headerForm).joined(separator: ","),
                ])
            }
            if rows.count > 1 { output.print(Output.table(rows)) }
        }
        try output.finish(outcomes)
    }
}

struct Ports: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the published ports of containers.", discussion: "Example: gear ports web")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "[host[:port]/]id") var locators: [String]

    func run() async throws {
        let outcomes = await FanOut.run(try global.locators(locators), options: global) { client, locator in
            try await client.ports(locator.id)
        }
        let output = Output(options: global)
        if global.output == .json {
            output.json(outcomes)
        } else {
            let many = Output.manyHosts(outcomes)
            for outcome in outcomes {
                guard case .success(let ports) = outcome.result else { continue }
                for port in ports { output.print("\(Output.label(outcome, many: many)): \(port.headerForm)") }
            }
        }
        try output.finish(outcomes)
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the containers of hosts.",
        discussion: "Examples: gear list; gear list node1 node2:43274; gear list --deployment app node1 node2 node3", aliases: ["list-units"])
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Also list ctr-* units that have no definition in geard.") var all = false
    @Option(name: .long, help: "Only the instances of this deployment (gear deploy), with their container and number.")
    var deployment: String?
    @Argument(help: "host[:port]; none for the default geard") var hosts: [String] = []

    func run() async throws {
        let targets = try global.locators(hosts.isEmpty ? ["-"] : hosts.map { $0 + "/-" })
        let all = all
        let deployment = deployment
        let outcomes = await FanOut.run(targets, options: global) { client, _ in
            var list = try await client.list(all: all)
            if let deployment {
                list.containers = list.containers.filter { $0.labels?["gear.deployment"] == deployment }
                list.orphanUnits = nil
            }
            return list
        }
        let output = Output(options: global)
        if global.output == .json {
            output.json(outcomes)
        } else {
            let many = Output.manyHosts(outcomes)
            let named = deployment != nil
            var rows = [(many ? ["HOST"] : []) + (named ? ["OF", "#"] : []) + ["CONTAINER", "RUNTIME", "STARTED", "STATE", "SUB", "PORTS"]]
            for outcome in outcomes {
                guard case .success(let list) = outcome.result else { continue }
                for s in list.containers {
                    let instance = [s.labels?["gear.deployment.container"] ?? "-", s.labels?["gear.deployment.index"] ?? "-"]
                    rows.append(
                        (many ? [outcome.endpoint.description] : []) + (named ? instance : [])
                            + [
                                s.id, s.runtime, s.started ? "yes" : "no", s.activeState, s.subState,
                                s.ports.map(\.headerForm).joined(separator: ","),
                            ])
                }
                for orphan in list.orphanUnits ?? [] {
                    output.print("\(many ? "\(outcome.endpoint): " : "")unit without a definition: \(orphan)")
                }
            }
            output.print(Output.table(rows))
        }
        try output.finish(outcomes)
    }
}

struct NodeInfo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show what hosts have and what they granted: CPUs, memory, disk, ports, containers (the default).",
        discussion: "Examples: gear node; gear node node1 node2:43274 --output json")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "host[:port]; none for the default geard") var hosts: [String] = []

    func run() async throws {
        let targets = try global.locators(hosts.isEmpty ? ["-"] : hosts.map { $0 + "/-" })
        let outcomes = await FanOut.run(targets, options: global) { client, _ in try await client.node() }
        let output = Output(options: global)
        if global.output == .json {
            output.json(outcomes)
        } else {
            var rows = [["HOST", "CPUS", "GRANTED", "MEMORY", "AVAILABLE", "GRANTED", "DISK FREE", "PORTS FREE", "CONTAINERS", "ACTIVE"]]
            for outcome in outcomes {
                guard case .success(let n) = outcome.result else { continue }
                rows.append([
                    n.hostname, String(n.cpus), Self.number(n.granted.cpus), Self.bytes(n.memory.totalBytes), Self.bytes(n.memory.availableBytes),
                    Self.bytes(n.granted.memoryBytes), Self.bytes(n.disk.freeBytes), "\(n.ports.free)/\(n.ports.last - n.ports.first + 1)",
                    String(n.containers.total), String(n.containers.byState["active"] ?? 0),
                ])
            }
            if rows.count > 1 { output.print(Output.table(rows)) }
        }
        try output.finish(outcomes)
    }

    static func bytes(_ value: Int64) -> String {
        let units = ["B", "K", "M", "G", "T"]
        var amount = Double(value)
        var unit = 0
        while amount >= 1024, unit < units.count - 1 {
            amount /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value)B" : String(format: "%.1f", amount) + units[unit]
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.2f", value)
    }
}

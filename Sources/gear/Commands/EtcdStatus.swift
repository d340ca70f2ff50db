import ArgumentParser
import Foundation
import GearAPI
import GearDeploy
import GearEtcd

/// `gear status --etcd`: the fleet as etcd tells it.
enum EtcdStatus {
    struct NodeReport: Encodable {
        var name: String
        var silent: Bool
        var reportedAt: Date?
        var appliedRevision: Int64?
        var containers: [ObservedContainer]
        /// Desired containers the node has not reported (yet).
        var pending: [String]
        var errors: [ObservedError]
    }

    static func show(deployments: [String], configuration: EtcdConfiguration, global: GlobalOptions) async throws {
        let fleet: EtcdFleet
        do {
            fleet = try await EtcdClient.with(configuration) { client in try await EtcdFleet.read(client) }
        } catch let error as EtcdError {
            FileHandle.standardError.write(Data("gear: etcd: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        let decoder = GearJSON.decoder()
        func inDeployment(_ labels: [String: String]?) -> Bool {
            deployments.isEmpty || deployments.contains(labels?[DeploymentLabel.deployment] ?? "\u{0}")
        }
        var reports: [NodeReport] = []
        for node in fleet.nodes.values.sorted(by: { $0.name < $1.name }) {
            let desiredLabels = node.desired.mapValues { (try? decoder.decode(InstallRequest.self, from: $0.value))?.labels }
            let containers = node.containers.values.filter { container in
                inDeployment(container.status?.labels ?? desiredLabels[container.id] ?? nil)
            }.sorted { $0.id < $1.id }
            let pending = node.desired.keys.filter { node.containers[$0] == nil && inDeployment(desiredLabels[$0] ?? nil) }.sorted()
            let silent = fleet.silent.contains(node.name)
            guard !containers.isEmpty || !pending.isEmpty || silent || deployments.isEmpty else { continue }
            reports.append(
                NodeReport(
                    name: node.name, silent: silent || node.observed == nil, reportedAt: node.observed?.reportedAt,
                    appliedRevision: node.observed?.appliedRevision, containers: containers, pending: pending,
                    errors: deployments.isEmpty ? node.errors : []))
        }
        if global.output == .json {
            let encoder = GearJSON.encoder(pretty: true)
            print(String(decoding: try encoder.encode(["revision": AnyEncodable(fleet.revision), "nodes": AnyEncodable(reports)]), as: UTF8.self))
        } else {
            var rows = [["NODE", "CONTAINER", "OWNER", "STARTED", "STATE", "CONVERGED", "DETAIL"]]
            for report in reports {
                if report.silent { rows.append([report.name, "-", "-", "-", "silent", "-", "no observed entry: down, or its lease expired"]) }
                for c in report.containers {
                    rows.append([
                        report.name, c.id, c.owner, c.status.map { $0.started ? "yes" : "no" } ?? "-", c.status?.activeState ?? "-",
                        c.converged ? "yes" : "no", c.error ?? c.reverted ?? c.job.map { "last job \($0.kind) \($0.state)" } ?? "",
                    ])
                }
                for id in report.pending { rows.append([report.name, id, "etcd", "-", "-", "no", "desired, not reported yet"]) }
                for error in report.errors { rows.append([report.name, error.key, "etcd", "-", "-", "no", error.error]) }
            }
            print(Output.table(rows), terminator: "")
            let silent = reports.filter(\.silent).map(\.name)
            if !silent.isEmpty { FileHandle.standardError.write(Data("gear: silent nodes: \(silent.joined(separator: ", "))\n".utf8)) }
        }
        if reports.contains(where: \.silent) { throw ExitCode(1) }
    }
}

/// Wraps any encodable value, for a JSON object with values of several types.
struct AnyEncodable: Encodable {
    let encodeValue: (any Encoder) throws -> Void
    init(_ value: some Encodable) { encodeValue = value.encode }
    func encode(to encoder: any Encoder) throws { try encodeValue(encoder) }
}

import Foundation
import GearAPI
import GearDeploy
import GearEtcd
import Testing

/// `gear deploy --etcd`'s plan: which keys each transaction writes, and which replacements the rollout waits for.
@Suite struct EtcdDeployPlanTests {
    /// Three nodes that report themselves, running what `plan` wrote (desired and observed alike).
    static func fleet(after plan: EtcdDeployPlan?) -> EtcdFleet {
        var nodes: [String: EtcdFleet.Node] = [:]
        for name in ["h1", "h2", "h3"] {
            let state = node(name)
            let observed = ObservedNode(name: name, info: state.info, addresses: [state.address], reportedAt: Date(), appliedRevision: 1)
            nodes[name] = EtcdFleet.Node(name: name, observed: observed)
        }
        for instance in plan?.plan.instances ?? [] {
            let key = "/gear/v1/desired/\(instance.node)/containers/\(instance.id)"
            let value = plan!.operations.compactMap { operation -> Data? in
                if case .put(key, let data, _) = operation { return data }
                return nil
            }.first!
            nodes[instance.node]!.desired[instance.id] = EtcdEntry(key: key, value: value, modRevision: 5)
            nodes[instance.node]!.containers[instance.id] = ObservedContainer(
                id: instance.id, status: running(instance), owner: "etcd", desiredRevision: 5, converged: true)
        }
        return EtcdFleet(nodes: nodes, revision: 5)
    }

    @Test func replacementsRollInBatchesAfterTheCreatesAndDeletes() throws {
        let first = try EtcdDeploy.plan(try parse(linkAlias), fleet: Self.fleet(after: nil))
        #expect(first.waves.count == 1 && first.waves[0].replaced.isEmpty && first.steps.map(\.action) == ["create", "create", "create"])
        let fleet = Self.fleet(after: first)

        // A new image for db: its two instances are replaced one at a time.
        let changed = try parse(linkAlias.replacingOccurrences(of: "test2", with: "test3"))
        let rolling = try EtcdDeploy.plan(changed, fleet: fleet)
        #expect(rolling.waves.map { $0.steps.map(\.id) } == [["db-1"], ["db-2"]])
        #expect(rolling.waves.map { $0.replaced.map(\.id) } == [["db-1"], ["db-2"]])
        #expect(rolling.waves.allSatisfy { $0.conditions == [.modRevision($0.operations[0].key, equals: 5)] })
        #expect(rolling.waves[0].replaced[0].started && !rolling.waves[0].replaced[0].healthChecked)
        let together = try EtcdDeploy.plan(changed, fleet: fleet, maxUnavailable: 2)
        #expect(together.waves.map { $0.replaced.map(\.id) } == [["db-1", "db-2"]])

        // Scaling up at the same time: the new instance and web (its links change) ride with the first batch; a
        // health check is noted for the rollout to wait for.
        let grown = try parse(
            linkAlias.replacingOccurrences(of: "test2", with: "test3").replacingOccurrences(
                of: #""count":2"#, with: #""count":3,"healthcmd":["true"]"#))
        let mixed = try EtcdDeploy.plan(grown, fleet: fleet)
        #expect(mixed.waves.map { $0.steps.map(\.id) } == [["db-3", "web-1"], ["db-1"], ["db-2"]])
        #expect(mixed.waves.flatMap(\.replaced).map(\.healthChecked) == [false, true, true])

        // Nothing changed: nothing to write, no wave.
        #expect(try EtcdDeploy.plan(try parse(linkAlias), fleet: fleet).waves.isEmpty)
    }
}

extension EtcdOperation {
    fileprivate var key: String {
        switch self {
        case .put(let key, _, _), .delete(let key), .deletePrefix(let key): key
        }
    }
}

import Foundation
import GearAPI
import GearEtcd
import Testing

@testable import GearDeploy

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

/// What the orchestrator makes of a node's observed entry for a replacement written at revision 10.
@Suite struct RolloutVerdictTests {
    static func observed(
        revision: Int64 = 10, converged: Bool = true, active: String = "active", health: String? = nil, error: String? = nil
    ) -> ObservedContainer {
        var status = ContainerStatus(
            id: "db-1", unit: "ctr-db-1.service", runtime: "podman", image: "x", cmd: [], started: true, loadState: "loaded", activeState: active,
            subState: active == "active" ? "running" : "failed", mainPID: nil, result: active == "failed" ? "exit-code" : "success", exitStatus: nil,
            restarts: 0, activeSince: nil, inactiveSince: nil, ports: [], volumes: [], restartPolicy: "on-failure", memoryLimit: nil, cpuLimit: nil)
        status.health = health.map {
            HealthStatus(status: $0, log: [HealthCheckResult(time: Date(), healthy: $0 != "unhealthy", output: "no db\n", durationMs: 3)])
        }
        return ObservedContainer(id: "db-1", status: status, owner: "etcd", desiredRevision: revision, converged: converged, error: error)
    }

    @Test func readyOnlyOnceTheNewEntryIsConvergedActiveAndHealthy() {
        func plain(_ observed: ObservedContainer) -> InstanceVerdict {
            Readiness.verdict(observed, started: true, healthChecked: false, revision: 10)
        }
        func checked(_ observed: ObservedContainer) -> InstanceVerdict {
            Readiness.verdict(observed, started: true, healthChecked: true, revision: 10)
        }
        func stopped(_ observed: ObservedContainer) -> InstanceVerdict {
            Readiness.verdict(observed, started: false, healthChecked: false, revision: 10)
        }
        #expect(plain(Self.observed()) == .ready)
        #expect(plain(Self.observed(revision: 12)) == .ready)
        // The old entry's report, however good, is not the new one's.
        #expect(plain(Self.observed(revision: 9)) == .pending("its node has not applied the new entry yet"))
        #expect(plain(Self.observed(converged: false)) == .pending("converging, active"))
        #expect(checked(Self.observed(health: "starting")) == .pending("converged, active (running), starting"))
        #expect(checked(Self.observed(health: "healthy")) == .ready)
        #expect(stopped(Self.observed(active: "inactive")) == .ready)
    }

    @Test func aRefusalAFailureOrAnUnhealthyReplacementStopsTheRollout() {
        func checked(_ observed: ObservedContainer) -> InstanceVerdict {
            Readiness.verdict(observed, started: true, healthChecked: true, revision: 10)
        }
        #expect(checked(Self.observed(error: "refused: bad image")) == .failed("refused: bad image"))
        #expect(checked(Self.observed(active: "failed")) == .failed("failed (exit-code)"))
        #expect(checked(Self.observed(health: "unhealthy")) == .failed("unhealthy: no db"))
        // An error about an older entry is not this one's.
        #expect(checked(Self.observed(revision: 9, error: "old")) != .failed("old"))
    }

    /// The push deploy judges the status its host answers with the same verdict as the etcd deploy judges the
    /// status in a converged observed entry.
    @Test(
        arguments: [
            ("active", nil, false), ("active", "starting", true), ("active", "healthy", true), ("active", "unhealthy", true),
            ("failed", nil, false), ("activating", nil, false),
        ] as [(String, String?, Bool)])
    func bothDeployPathsJudgeAStatusAlike(_ active: String, _ health: String?, _ checked: Bool) throws {
        let observed = Self.observed(active: active, health: health)
        let status = try #require(observed.status)
        let push = Readiness.verdict(status, started: true, healthChecked: checked)
        let etcd = Readiness.verdict(observed, started: true, healthChecked: checked, revision: 10)
        switch (push, etcd) {
        case (.ready, .ready): break
        case (.failed(let a), .failed(let b)): #expect(a == b)
        case (.pending(let a), .pending(let b)): #expect(b == "converged, \(a)")
        default: Issue.record("push \(push), etcd \(etcd)")
        }
        #expect(Readiness.verdict(nil, started: true, healthChecked: checked) == .pending("not installed"))
        #expect(Readiness.verdict(status, started: false, healthChecked: checked) == .ready)
    }
}

extension EtcdOperation {
    fileprivate var key: String {
        switch self {
        case .put(let key, _, _), .delete(let key), .deletePrefix(let key): key
        }
    }
}

/// The etcd deploy chooses ports by the nodes' own rule, over what they report.
@Suite struct EtcdDeployPortTests {
    /// An instance whose port a host process took (its node refused it with `port_in_use` and now lists the port as
    /// the host's) gets another port in the next plan, and is rewritten; the others keep theirs.
    @Test func aPortTheHostHoldsIsGivenUp() throws {
        let first = try EtcdDeploy.plan(try parse(linkAlias), fleet: EtcdDeployPlanTests.fleet(after: nil))
        let db1 = try #require(first.plan.instances.first { $0.id == "db-1" })
        let before = try #require(db1.request.ports?.first?.externalPort)
        var fleet = EtcdDeployPlanTests.fleet(after: first)
        fleet.nodes[db1.node]!.observed!.info.ports.heldByHost = [before]
        fleet.nodes[db1.node]!.containers["db-1"]!.status!.ports = []
        let next = try EtcdDeploy.plan(try parse(linkAlias), fleet: fleet)
        let moved = try #require(next.plan.instances.first { $0.id == "db-1" })
        #expect(moved.node == db1.node && moved.request.ports?.first?.externalPort != before)
        #expect(next.steps.contains { $0.id == "db-1" } && !next.steps.contains { $0.id == "db-2" })
    }

    /// A fixed port the host holds keeps the instance off that node.
    @Test func aFixedPortTheHostHoldsIsNoPlaceForIt() throws {
        var fleet = EtcdDeployPlanTests.fleet(after: nil)
        for name in ["h1", "h2"] { fleet.nodes[name]!.observed!.info.ports.heldByHost = [4500] }
        let fixed = try parse(#"{"containers":[{"name":"db","count":1,"image":"x","publicports":[{"internal":3000,"external":4500}]}]}"#)
        let plan = try EtcdDeploy.plan(fixed, fleet: fleet)
        #expect(plan.plan.instances.map(\.node) == ["h3"])
    }
}

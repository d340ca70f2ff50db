import Foundation
import GearAPI
import GearDeploy
import GearEtcd
import Testing

@testable import GearOrchestrator

/// web ×1 linked to db ×2, as geard's `link_alias.json` fixture has it.
let shop = """
    {"Name":"shop","IdPrefix":"shop-","Containers":[
      {"Name":"web","Count":1,"Image":"localhost/web","Links":[{"To":"db","AliasPorts":[{"Internal":3000,"External":8080}]}]},
      {"Name":"db","Count":2,"Image":"localhost/db","PublicPorts":[{"Internal":3000}]}
    ]}
    """

/// A fleet as etcd would hold it, changed only by what the reconciler writes and by nodes that converge on it.
struct World {
    var fleet = EtcdFleet(nodes: [:], revision: 1)
    var revision: Int64 = 10
    let encoder = GearJSON.encoder()

    init(nodes: [String], memory: Int64 = 8 << 30) {
        for (i, name) in nodes.enumerated() {
            let info = NodeInfo(
                hostname: name, machineID: "m-\(name)", bootID: "b", kernel: "6", systemdVersion: "252", podmanVersion: "4.3.1", cpus: 4,
                memory: .init(totalBytes: memory, availableBytes: memory),
                disk: .init(path: "/var/lib/gear", totalBytes: 100 << 30, freeBytes: 100 << 30),
                ports: .init(first: 4000, last: 4999, allocated: 0, free: 1000), containers: .init(total: 0, started: 0, byState: [:]),
                granted: .init(memoryBytes: 0, cpus: 0))
            report(ObservedNode(name: name, info: info, addresses: ["10.0.0.\(i + 1)"], reportedAt: Date(), appliedRevision: 1), as: name)
        }
    }

    mutating func report(_ node: ObservedNode, as name: String) {
        revision += 1
        fleet.put(EtcdEntry(key: try! GearKeys(node: name).observedNode, value: try! encoder.encode(node), modRevision: revision))
    }

    /// Writes a reconciliation's operations; with `converge`, the nodes then run what their desired entries say.
    mutating func apply(_ decision: Reconciliation, converge: Bool = true) {
        revision += 1
        for operation in decision.operations {
            switch operation {
            case .put(let key, let value, _):
                fleet.put(EtcdEntry(key: key, value: value, modRevision: revision))
                if converge { observe(key, value) }
            case .delete(let key):
                fleet.remove(key)
                if converge, let (node, rest) = GearKeys.split(key, under: GearKeys.desiredRoot) {
                    fleet.remove(GearKeys.observedRoot + node + "/" + rest)
                }
            case .deletePrefix: Issue.record("no prefix deletes")
            }
        }
    }

    /// The node of `key` reports the container of `value` converged and running.
    mutating func observe(_ key: String, _ value: Data) {
        guard let (node, rest) = GearKeys.split(key, under: GearKeys.desiredRoot), rest.hasPrefix("containers/") else { return }
        let id = String(rest.dropFirst("containers/".count))
        let request = try! GearJSON.decoder().decode(InstallRequest.self, from: value)
        var status = ContainerStatus(
            id: id, unit: "ctr-\(id).service", runtime: "podman", image: request.image, cmd: [], started: request.started ?? false,
            loadState: "loaded", activeState: "active", subState: "running", mainPID: 1, result: nil, exitStatus: nil, restarts: 0,
            activeSince: nil, inactiveSince: nil,
            ports: (request.ports ?? []).map { PortMapping(internal: $0.internalPort, external: $0.externalPort ?? 0) }, volumes: [],
            restartPolicy: "on-failure", memoryLimit: nil, cpuLimit: nil)
        status.labels = request.labels
        let observed = ObservedContainer(
            id: id, status: status, owner: "etcd", desiredRevision: fleet.nodes[node]!.desired[id]!.modRevision, converged: true)
        fleet.put(EtcdEntry(key: try! GearKeys(node: node).observedContainer(id), value: try! encoder.encode(observed), modRevision: revision))
    }

    /// The node's lease expires: everything it observed goes.
    mutating func kill(_ node: String) {
        for key in fleet.nodes[node]!.containers.keys.map({ try! GearKeys(node: node).observedContainer($0) }) { fleet.remove(key) }
        fleet.remove(try! GearKeys(node: node).observedNode)
    }

    /// Where each instance of `deployment` is desired: id -> nodes.
    func placement(_ deployment: String = "shop") -> [String: [String]] {
        var result: [String: [String]] = [:]
        for (name, node) in fleet.nodes {
            for (id, entry) in node.desired {
                let request = try! GearJSON.decoder().decode(InstallRequest.self, from: entry.value)
                if request.labels?[DeploymentLabel.deployment] == deployment { result[id, default: []].append(name) }
            }
        }
        return result.mapValues { $0.sorted() }
    }

    func ready(_ except: [String: NodeCondition] = [:]) -> [String: NodeCondition] {
        var result: [String: NodeCondition] = [:]
        for name in fleet.nodes.keys { result[name] = except[name] ?? .ready }
        return result
    }

    func reconcile(
        _ descriptor: String? = shop, nodes: [String: NodeCondition]? = nil, current: DeploymentStatus? = nil, revision: Int64 = 5,
        maxUnavailable: Int = 1, maintenance: [String: NodeMaintenance.Mode] = [:], after seconds: TimeInterval = 0
    ) -> Reconciliation {
        Reconciler.reconcile(
            name: "shop", deployment: descriptor.map { EtcdEntry(key: GearKeys.deployment("shop"), value: Data($0.utf8), modRevision: revision) },
            fleet: fleet, nodes: nodes ?? ready(), current: current, maxUnavailable: maxUnavailable, leader: "o1",
            now: Date(timeIntervalSince1970: 1_800_000_000 + seconds), maintenance: maintenance)
    }

    /// The node running `id` reports it failed (its unit's result).
    mutating func fail(_ id: String) {
        let node = placement()[id]![0]
        var observed = fleet.nodes[node]!.containers[id]!
        observed.status?.activeState = "failed"
        observed.status?.result = "exit-code"
        revision += 1
        fleet.put(EtcdEntry(key: try! GearKeys(node: node).observedContainer(id), value: try! encoder.encode(observed), modRevision: revision))
    }

    /// The node refuses the instance's install: another scheduler took the room (`IfFits`).
    mutating func refuseForWantOfRoom(_ id: String) {
        let node = placement()[id]![0]
        var observed = fleet.nodes[node]!.containers[id]!
        observed.status = nil
        observed.converged = false
        observed.error = "Memory: needs 1073741824 bytes, 0 of the node's 8589934592 left (8589934592 granted to other containers)"
        observed.errorCode = "insufficient_capacity"
        revision += 1
        fleet.put(EtcdEntry(key: try! GearKeys(node: node).observedContainer(id), value: try! encoder.encode(observed), modRevision: revision))
    }

    /// Every node runs what its desired entries say, and stops what they no longer name.
    mutating func convergeAll() {
        for (name, node) in fleet.nodes {
            let keys = try! GearKeys(node: name)
            for id in node.containers.keys where node.desired[id] == nil { fleet.remove(keys.observedContainer(id)) }
            for (id, entry) in node.desired where (node.containers[id]?.desiredRevision ?? -1) < entry.modRevision {
                observe(entry.key, entry.value)
            }
        }
    }
}

@Suite struct ReconcilerTests {
    @Test func aNewDeploymentIsPlacedOnceAndThenLeftAlone() throws {
        var world = World(nodes: ["h1", "h2", "h3"])
        let first = world.reconcile()
        #expect(first.operations.count == 3 && first.conditions.allSatisfy { if case .modRevision(_, 0) = $0 { true } else { false } })
        let status = try #require(first.status)
        #expect(status.state == .converging && status.instances.map(\.state) == ["starting", "starting", "starting"])
        #expect(status.lastEvent?.hasPrefix("create ") == true)
        world.apply(first)
        #expect(world.placement().keys.sorted() == ["shop-db-1", "shop-db-2", "shop-web-1"])
        #expect(Set(world.placement().values.map { $0[0] }).count == 3, "spread over the three nodes")

        let again = world.reconcile(current: status)
        #expect(again.operations.isEmpty)
        #expect(again.status?.state == .running && again.status?.running == 3 && again.status?.placed == 3)
        #expect(again.status?.lastEvent == status.lastEvent, "the last event stays until something else happens")
    }

    @Test func aSilentNodeIsWaitedForThenItsInstancesArePlacedElsewhere() throws {
        var world = World(nodes: ["h1", "h2", "h3"])
        world.apply(world.reconcile())
        let lost = try #require(world.placement()["shop-db-1"]?.first)
        let webBefore = world.fleet.nodes.values.compactMap { $0.desired["shop-web-1"] }.first!.value
        world.kill(lost)

        // Within its grace period: nothing moves.
        let waiting = world.reconcile(nodes: world.ready([lost: .silent(seconds: 5)]))
        #expect(waiting.operations.isEmpty)
        #expect(waiting.status?.state == .waiting && waiting.status?.message?.contains("\(lost) (silent for 5 s)") == true)

        // Past it: db-1 is placed on another node and deleted from the dead one in the same transaction; web's links
        // follow it (its desired entry changes), and every write is conditioned on what was read.
        let replaced = world.reconcile(nodes: world.ready([lost: .dead(seconds: 25)]))
        let keys = replaced.operations.map(\.key)
        #expect(keys.contains(try GearKeys(node: lost).desiredContainer("shop-db-1")))
        #expect(replaced.operations.count == replaced.conditions.count)
        #expect(replaced.events.contains { $0.hasPrefix("delete shop-db-1 on \(lost) (silent for 25 s") })
        world.apply(replaced)
        let after = world.placement()
        #expect(after.count == 3 && after.values.allSatisfy { $0.count == 1 && $0[0] != lost }, "one copy of each slot, none on \(lost)")
        let webAfter = world.fleet.nodes.values.compactMap { $0.desired["shop-web-1"] }.first!.value
        #expect(webAfter != webBefore, "web's NetworkLinks lead to the new db-1")

        // The node comes back, still reporting its stale copy of db-1 until it has stopped it: that copy is on its
        // way out, not an instance of the slot; nothing moves back, nothing runs twice.
        world.report(
            ObservedNode(
                name: lost, info: world.fleet.nodes.values.compactMap(\.observed).first!.info, addresses: ["10.0.0.9"], reportedAt: Date(),
                appliedRevision: 1), as: lost)
        let live = try #require(world.fleet.nodes.values.compactMap { $0.containers["shop-db-1"] }.first)
        let stale = ObservedContainer(id: "shop-db-1", status: live.status, owner: "etcd", desiredRevision: 11, converged: false)
        world.fleet.put(
            EtcdEntry(key: try GearKeys(node: lost).observedContainer("shop-db-1"), value: try GearJSON.encoder().encode(stale), modRevision: 90))
        let back = world.reconcile(nodes: world.ready())
        #expect(back.operations.isEmpty, "\(back.events)")
    }

    @Test func replacementsRollWithinTheBudget() throws {
        var world = World(nodes: ["h1", "h2", "h3"])
        world.apply(world.reconcile())
        let changed = shop.replacingOccurrences(of: "localhost/db", with: "localhost/db:2")
        let first = world.reconcile(changed, revision: 6)
        #expect(first.events == ["replace shop-db-1 on \(world.placement()["shop-db-1"]![0])"])
        // Written, not yet converged: no budget left for the next one.
        world.apply(first, converge: false)
        let blocked = world.reconcile(changed, revision: 6)
        #expect(blocked.operations.isEmpty && blocked.status?.state == .converging)
        // Converged: db-2 goes next; with two at a time both would have gone at once.
        let key = world.fleet.nodes.values.compactMap { node in node.desired["shop-db-1"].map { ($0.key, $0.value) } }.first!
        world.observe(key.0, key.1)
        #expect(world.reconcile(changed, revision: 6).events == ["replace shop-db-2 on \(world.placement()["shop-db-2"]![0])"])
        var fresh = World(nodes: ["h1", "h2", "h3"])
        fresh.apply(fresh.reconcile())
        #expect(fresh.reconcile(changed, revision: 6, maxUnavailable: 2).events.count == 2)
    }

    /// A bad version stops at its first instance (it never becomes ready, so the budget stays spent); the fix
    /// replaces that failing instance at once, and the rest were never touched.
    @Test func theFixOfAFailingReplacementReachesItWhateverTheBudget() throws {
        var world = World(nodes: ["h1", "h2", "h3"])
        world.apply(world.reconcile())
        let bad = shop.replacingOccurrences(of: "localhost/db", with: "localhost/db:bad")
        let first = world.reconcile(bad, revision: 6)
        world.apply(first, converge: false)
        // db-1's node reports the bad version failed.
        let (key, value) = world.fleet.nodes.values.compactMap { node in node.desired["shop-db-1"].map { ($0.key, $0.value) } }.first!
        world.observe(key, value)
        let node = world.placement()["shop-db-1"]![0]
        var observed = try #require(world.fleet.nodes[node]?.containers["shop-db-1"])
        observed.status?.activeState = "failed"
        world.fleet.put(
            EtcdEntry(key: try GearKeys(node: node).observedContainer("shop-db-1"), value: try GearJSON.encoder().encode(observed), modRevision: 95))
        let stuck = world.reconcile(bad, revision: 6)
        #expect(stuck.operations.isEmpty && stuck.status?.instances.first { $0.id == "shop-db-1" }?.state == "failed")
        // The previous version again: db-1 is written back though it leaves no budget; db-2 had not changed.
        let fixed = world.reconcile(shop, revision: 7)
        #expect(fixed.events == ["replace shop-db-1 on \(node)"], "\(fixed.events)")
    }

    /// An instance that fails where it is goes to another node once it has failed for its slot's back-off (30 s,
    /// then 60 s, ...), deleted where it failed in the same transaction; the back-off and the history are in the
    /// status, so the next pass (or a new leader) holds to them.
    @Test func aFailingInstanceIsRescheduledElsewhereWithBackOff() throws {
        var world = World(nodes: ["h1", "h2", "h3", "h4"])
        world.apply(world.reconcile())
        let first = try #require(world.placement()["shop-db-1"]?.first)
        world.fail("shop-db-1")
        let failed = world.reconcile(after: 100)
        #expect(failed.operations.isEmpty, "not before it has failed for 30 s")
        let seen = try #require(failed.status?.instances.first { $0.id == "shop-db-1" })
        #expect(seen.state == "failed" && seen.failedSince == Date(timeIntervalSince1970: 1_800_000_100))
        #expect(world.reconcile(current: failed.status, after: 129).operations.isEmpty)

        let moved = world.reconcile(current: failed.status, after: 130)
        #expect(moved.rescheduled == [.failed: 1])
        let oldKey = try GearKeys(node: first).desiredContainer("shop-db-1")
        let deletesOld = moved.operations.contains(where: { $0.key == oldKey && $0.isDelete })
        #expect(deletesOld)
        let event = try #require(moved.events.first { $0.hasPrefix("reschedule db-1 off \(first) to ") })
        #expect(event.contains("failed (exit-code)") && event.contains("reschedule 1 of the slot, the next no sooner than 60 s"), "\(event)")
        let record = try #require(moved.status?.reschedules?.first)
        #expect(record.slot == "db-1" && record.count == 1 && record.from == first)
        #expect(moved.status?.history?.map(\.text).contains(event) == true)
        world.apply(moved)
        let second = try #require(world.placement()["shop-db-1"]?.first)
        #expect(second != first && world.placement()["shop-db-1"]?.count == 1, "one copy, elsewhere")
        #expect(world.fleet.nodes[first]?.desired["shop-db-1"] == nil)

        // It fails there too: the next reschedule waits 60 s.
        world.fail("shop-db-1")
        let again = world.reconcile(current: moved.status, after: 140)
        #expect(again.operations.isEmpty && again.status?.reschedules?.first?.count == 1)
        #expect(world.reconcile(current: again.status, after: 199).operations.isEmpty)
        let third = world.reconcile(current: again.status, after: 200)
        #expect(third.events.contains { $0.hasPrefix("reschedule db-1 off \(second) to ") }, "\(third.events)")
        #expect(third.status?.reschedules?.first?.count == 2)
    }

    @Test func anInstallANodeRefusedForWantOfRoomIsPlacedAgainAtOnceWithoutBackOff() throws {
        var world = World(nodes: ["h1", "h2", "h3", "h4"])
        let placed = world.reconcile()
        let body = try #require(placed.operations.first { !$0.isDelete }?.value)
        #expect(String(decoding: body, as: UTF8.self).contains(#""IfFits":true"#), "every desired entry carries the precondition")
        world.apply(placed)
        let first = try #require(world.placement()["shop-db-1"]?.first)
        world.refuseForWantOfRoom("shop-db-1")
        let moved = world.reconcile(after: 0)
        #expect(moved.rescheduled == [.noRoom: 1], "\(moved.events)")
        let event = try #require(moved.events.first { $0.hasPrefix("place db-1 again off \(first) to ") }, "\(moved.events)")
        #expect(event.contains("it has no room left"))
        #expect(moved.status?.reschedules == nil || moved.status?.reschedules?.isEmpty == true, "the slot's back-off does not grow")
        world.apply(moved)
        let second = try #require(world.placement()["shop-db-1"]?.first)
        #expect(second != first && world.placement()["shop-db-1"]?.count == 1)
    }

    @Test func aFailingInstanceThatNoOtherNodeCanTakeStays() throws {
        var world = World(nodes: ["h1"])
        world.apply(world.reconcile())
        world.fail("shop-db-1")
        let failed = world.reconcile(after: 0)
        let stays = world.reconcile(current: failed.status, after: 60)
        #expect(stays.operations.isEmpty, "\(stays.events)")
        #expect(stays.status?.message?.contains("no other node can take them") == true, "\(stays.status?.message ?? "")")
        #expect(stays.status?.message?.contains("db#1 failed here") == true, "\(stays.status?.message ?? "")")
    }

    @Test func aDescriptorThatCannotBeReadChangesNothing() throws {
        var world = World(nodes: ["h1", "h2"])
        world.apply(world.reconcile())
        for (bad, says) in [
            ("{", "not valid JSON"), (shop.replacingOccurrences(of: #""Name":"shop""#, with: #""Name":"other""#), "its key names 'shop'"),
            (shop.replacingOccurrences(of: #""Count":2"#, with: #""Count":-1"#), "Containers[1]"),
            (shop.replacingOccurrences(of: #""Image":"localhost/web""#, with: #""Image":"localhost/web","Bogus":1"#), "Bogus"),
        ] {
            let decision = world.reconcile(bad)
            #expect(decision.operations.isEmpty)
            #expect(decision.status?.state == .invalid && decision.status?.message?.contains(says) == true, "\(decision.status?.message ?? "")")
            #expect(decision.status?.placed == 3, "what runs is still reported")
        }
    }

    @Test func whatFitsNowhereWaitsWithEachNodesReason() throws {
        let world = World(nodes: ["h1", "h2"], memory: 1 << 30)
        let big = shop.replacingOccurrences(of: #""Image":"localhost/db""#, with: #""Image":"localhost/db","Memory":"4G""#)
        let decision = world.reconcile(big)
        #expect(decision.operations.isEmpty)
        #expect(decision.status?.state == .pending)
        #expect(decision.status?.pending?.count == 2 && decision.status?.pending?.allSatisfy { $0.contains("memory: needs") } == true)
    }

    @Test func aDeletedDeploymentTakesItsInstancesAndItsStatusAway() throws {
        var world = World(nodes: ["h1", "h2", "h3"])
        world.apply(world.reconcile())
        let gone = world.reconcile(nil)
        #expect(gone.status == nil && gone.operations.count == 3 && gone.events.allSatisfy { $0.contains("(deployment shop removed)") })
        world.apply(gone)
        #expect(world.placement().isEmpty)
    }

    @Test func aCordonedNodeTakesNothingNewAndADrainingOneIsEmptiedAFewAtATime() throws {
        var world = World(nodes: ["h1", "h2", "h3"])
        world.apply(world.reconcile(maintenance: ["h1": .cordon]))
        #expect(world.placement().count == 3 && world.placement().values.allSatisfy { $0 != ["h1"] }, "\(world.placement())")
        #expect(world.reconcile().operations.isEmpty, "uncordoned, nothing moves back")

        let onH2 = world.placement().filter { $0.value == ["h2"] }.count
        #expect(onH2 >= 1)
        var moved = 0
        for _ in 0..<5 {
            let step = world.reconcile(maintenance: ["h2": .drain])
            guard !step.operations.isEmpty else { break }
            #expect(step.events.filter { $0.hasSuffix("(the node is draining)") }.count == 1, "\(step.events)")
            world.apply(step, converge: false)
            // The moved instance is not ready yet: nothing else moves.
            #expect(world.reconcile(maintenance: ["h2": .drain]).operations.isEmpty)
            world.convergeAll()
            moved += 1
        }
        #expect(moved == onH2)
        #expect(world.placement().count == 3 && world.placement().values.allSatisfy { $0.count == 1 && $0[0] != "h2" }, "\(world.placement())")
        #expect(world.reconcile(maintenance: ["h2": .drain]).operations.isEmpty && world.reconcile().operations.isEmpty)
    }

    /// What a node writes under its own prefix is untrusted: an entry too large, unreadable, or describing another
    /// node or container is not believed, and the node takes no new instances while it has one.
    @Test func aNodeThatWritesWhatCannotBeBelievedTakesNothingNew() throws {
        var world = World(nodes: ["h1", "h2"])
        let h2 = try GearKeys(node: "h2")
        let otherNode = try GearJSON.encoder().encode(
            ObservedNode(name: "h1", info: world.fleet.nodes["h2"]!.observed!.info, addresses: [], reportedAt: Date(), appliedRevision: 1))
        world.fleet.put(EtcdEntry(key: h2.observedNode, value: otherNode, modRevision: 30))
        #expect(world.fleet.nodes["h2"]?.observed == nil && world.fleet.nodes["h2"]?.problems[h2.observedNode] != nil)
        #expect(world.fleet.nodes["h1"]?.observed?.name == "h1", "h2 cannot describe h1")

        var liar = World(nodes: ["h1", "h2"])
        let aboutAnother = ObservedContainer(id: "shop-db-1", status: nil, owner: "etcd", desiredRevision: 1, converged: true)
        liar.fleet.put(EtcdEntry(key: h2.observedContainer("x"), value: try GearJSON.encoder().encode(aboutAnother), modRevision: 31))
        liar.fleet.put(EtcdEntry(key: h2.observedContainer("big"), value: Data(count: EtcdFleet.maxObservedBytes + 1), modRevision: 32))
        #expect(liar.fleet.nodes["h2"]?.problems.count == 2 && liar.fleet.nodes["h2"]?.containers.isEmpty == true)
        let decision = liar.reconcile()
        liar.apply(decision)
        #expect(liar.placement().values.allSatisfy { $0 == ["h1"] }, "\(liar.placement())")
        // The lie withdrawn, the node is believed again.
        liar.fleet.remove(h2.observedContainer("x"))
        liar.fleet.remove(h2.observedContainer("big"))
        #expect(liar.fleet.nodes["h2"]?.problems.isEmpty == true)
    }
}

extension EtcdOperation {
    var key: String {
        switch self {
        case .put(let key, _, _), .delete(let key), .deletePrefix(let key): key
        }
    }
}

extension EtcdOperation {
    var isDelete: Bool { if case .delete = self { true } else { false } }
    /// What a put writes (nil for a delete).
    var value: Data? { if case .put(_, let value, _) = self { value } else { nil } }
}

import Foundation
import GearAPI
import GearDeploy
import Testing

/// geard's `deployment/fixtures/link_alias.json`, as geard wrote it (lower-case keys).
let linkAlias = """
    {"containers":[
      {"name":"web","count":1,"image":"test1","links":[{"to":"db","aliasports":[{"internal":3000,"external":8080}]}]},
      {"name":"db","count":2,"image":"test2","publicports":[{"internal":3000}]}
    ]}
    """

func parse(_ json: String, file: String = "app.json") throws -> DeploymentDescriptor {
    try DeploymentDescriptor.parse(Data(json.utf8), fileName: file)
}

func node(
    _ name: String, cpus: Int = 4, memory: Int64 = 8 << 30, granted: Int64 = 0, freePorts: Int = 1000, disk: Int64 = 100 << 30,
    labels: [String: String]? = nil, containers: [ContainerStatus] = []
) -> NodeState {
    var info = NodeInfo(
        hostname: name, machineID: "m-\(name)", bootID: "b", kernel: "6", systemdVersion: "252", podmanVersion: "4.3.1", cpus: cpus,
        memory: .init(totalBytes: memory, availableBytes: memory), disk: .init(path: "/var/lib/gear", totalBytes: disk, freeBytes: disk),
        ports: .init(first: 4000, last: 4999, allocated: 1000 - freePorts, free: freePorts),
        containers: .init(total: containers.count, started: 0, byState: [:]), granted: .init(memoryBytes: granted, cpus: 0))
    info.labels = labels
    return NodeState(name: name, address: "10.0.0.\(name.filter(\.isNumber))", info: info, containers: containers)
}

/// What a host reports for an instance a plan installed there.
func running(_ instance: PlannedInstance, externalBase: Int = 4000) -> ContainerStatus {
    var status = ContainerStatus(
        id: instance.id, unit: "ctr-\(instance.id).service", runtime: instance.request.runtime ?? "podman", image: instance.request.image,
        cmd: instance.request.cmd ?? [], started: instance.started, loadState: "loaded", activeState: "active", subState: "running",
        mainPID: 1, result: nil, exitStatus: nil, restarts: 0, activeSince: nil, inactiveSince: nil,
        ports: (instance.request.ports ?? []).enumerated().map {
            PortMapping(internal: $1.internalPort, external: $1.externalPort ?? externalBase + $0)
        },
        volumes: [], restartPolicy: "on-failure", memoryLimit: instance.request.memory?.bytes.map { Int64($0) },
        cpuLimit: instance.request.cpus)
    status.labels = instance.request.labels
    return status
}

@Suite struct DescriptorTests {
    @Test func geardsLinkAliasFixtureIsRead() throws {
        let d = try parse(linkAlias, file: "/tmp/link_alias.json")
        #expect(d.name == "link_alias")
        #expect(d.containers.map(\.name) == ["web", "db"])
        #expect(d.containers[0].links == [LinkDescriptor(to: "db", aliasPorts: [PortRequest(internal: 3000, external: 8080)])])
        #expect(d.containers[1].count == 2 && d.containers[1].publicPorts == [PortRequest(internal: 3000)])
        try d.validate()
    }

    @Test func aSavedGeardDeploymentWithInstancesIsRead() throws {
        let d = try parse(
            #"{"Containers":[{"Name":"db","Image":"x","PublicPorts":[{"Internal":27017}],"Links":[{"To":"db","MatchPort":true}],"Count":3}],"Instances":[{"Id":"db-1","From":"db","On":"localhost"}],"IdPrefix":"","RandomizeIds":false}"#
        )
        #expect(d.savedInstances == 1)
        try d.validate()
    }

    @Test func gearsInstallFieldsAreTaken() throws {
        let d = try parse(
            #"{"Name":"app","Placement":"binpack","Containers":[{"Name":"job","Runtime":"exec","Cmd":["/bin/true"],"Memory":"64M","CPUs":0.5,"Restart":"always","Environment":{"A":"1"},"Labels":{"team":"x"},"Started":false,"Disk":"1G","Affinity":{"NodeLabels":{"zone":"a"},"Apart":["job"]}}]}"#
        )
        let c = d.containers[0]
        #expect(d.name == "app" && d.placement == .binpack)
        #expect(c.runtimeName == "exec" && c.cmd == ["/bin/true"] && c.memory?.bytes == 64 << 20 && c.cpus == 0.5 && !c.started)
        #expect(c.environment == [EnvironmentVariable(name: "A", value: "1")] && c.labels == ["team": "x"] && c.disk?.bytes == 1 << 30)
        #expect(c.affinity == Affinity(nodeLabels: ["zone": "a"], apart: ["job"]))
        try d.validate()
    }

    @Test func healthChecksArePassedToEachInstance() throws {
        let d = try parse(
            #"{"Containers":[{"Name":"web","Image":"x","Count":2,"PublicPorts":[{"Internal":80}],"HealthHTTP":{"Port":80,"Path":"/up"},"HealthInterval":"5s","HealthRetries":2,"HealthOnFailure":"restart"}]}"#
        )
        try d.validate()
        let plan = try Planner.plan(d, nodes: [node("h1"), node("h2")])
        #expect(plan.instances.count == 2)
        let request = try #require(plan.instances.first?.request)
        #expect(request.healthHTTP == HealthHTTPCheck(port: 80, path: "/up") && request.healthInterval?.milliseconds == 5000)
        #expect(request.healthRetries == 2 && request.healthOnFailure == "restart" && request.healthCmd == nil)
    }

    @Test(arguments: [
        (#"{"Containers":[{"Name":"a","Image":"x","Cont":1}]}"#, "Containers[0].Cont", "unknown field 'Cont'"),
        (#"{"Containers":[{"Image":"x"}]}"#, "Containers[0]", "needs a Name"),
        (#"{"Containers":[{"Name":"a","Image":"x","Count":"two"}]}"#, "Containers[0].Count", "expected a number"),
        (#"{"Containers":[{"Name":"a","Image":"x","Affinity":"close"}]}"#, "Containers[0].Affinity", "distribute"),
        (#"{"Containers":[{"Name":"a","Image":"x","Ports":[{"Internal":1}],"PublicPorts":[{"Internal":1}]}]}"#, "Containers[0]", "not both"),
        (#"{"Containers":[1]"#, "", "not valid JSON"),
    ])
    func malformedDescriptorsNameTheField(_ json: String, field: String, message: String) {
        #expect {
            try parse(json)
        } throws: { error in
            guard let error = error as? DeploymentError else { return false }
            return error.field == field && error.message.contains(message)
        }
    }

    @Test(arguments: [
        (#"{"Containers":[]}"#, "Containers", "at least one"),
        (#"{"Containers":[{"Name":"a","Image":"x"},{"Name":"A","Image":"y"}]}"#, "Containers[1].Name", "also the name"),
        (#"{"Containers":[{"Name":"a b","Image":"x"}]}"#, "Containers[0].Name", "letters"),
        (#"{"Containers":[{"Name":"a","Image":"x","Count":-1}]}"#, "Containers[0].Count", "0 to 1000"),
        (#"{"Containers":[{"Name":"a","Image":"x","Count":5000}]}"#, "Containers[0].Count", "0 to 1000"),
        (#"{"Containers":[{"Name":"a","Count":1}]}"#, "Containers[0].Image", "needs an Image"),
        (#"{"Containers":[{"Name":"a","Runtime":"exec"}]}"#, "Containers[0].Cmd", "needs a Cmd"),
        (#"{"Containers":[{"Name":"a","Image":"x","Links":[{"To":"b"}]}]}"#, "Containers[0].Links[0].To", "no container 'b'"),
        (#"{"Containers":[{"Name":"a","Image":"x","Links":[{"To":"b"}]},{"Name":"b","Image":"y"}]}"#, "Containers[0].Links[0].To", "no PublicPorts"),
        (
            #"{"Containers":[{"Name":"a","Image":"x","Links":[{"To":"b","Ports":[81]}]},{"Name":"b","Image":"y","PublicPorts":[{"Internal":80}]}]}"#,
            "Containers[0].Links[0].Ports[0]", "does not publish port 81"
        ),
        (
            #"{"Containers":[{"Name":"a","Image":"x","Links":[{"To":"b","NonLocal":true}]},{"Name":"b","Image":"y","PublicPorts":[{"Internal":80}]}]}"#,
            "Containers[0].Links[0].NonLocal", "loopback"
        ),
        (
            #"{"Containers":[{"Name":"a","Runtime":"exec","Cmd":["x"],"Links":[{"To":"b"}]},{"Name":"b","Image":"y","PublicPorts":[{"Internal":80}]}]}"#,
            "Containers[0].Links[0]", "podman runtime"
        ),
        (
            #"{"Containers":[{"Name":"a","Image":"x","PublicPorts":[{"Internal":80},{"Internal":80}]}]}"#, "Containers[0].PublicPorts[1].Internal",
            "twice"
        ),
        (#"{"Containers":[{"Name":"a","Image":"x","PublicPorts":[{"Internal":70000}]}]}"#, "Containers[0].PublicPorts[0].Internal", "not a port"),
        (#"{"Containers":[{"Name":"a","Image":"x","Memory":"lots"}]}"#, "Containers[0].Memory", "size"),
        (#"{"Containers":[{"Name":"a","Image":"x","CPUs":0}]}"#, "Containers[0].CPUs", "more than 0"),
        (#"{"Containers":[{"Name":"a","Image":"x","Labels":{"gear.deployment":"b"}}]}"#, "Containers[0].Labels", "kept by gear deploy"),
        (#"{"Containers":[{"Name":"a","Image":"x","Affinity":{"With":["z"]}}]}"#, "Containers[0].Affinity.With[0]", "no container 'z'"),
        (#"{"Containers":[{"Name":"a","Image":"x","Notify":true}]}"#, "Containers[0].Notify", "only false"),
        (#"{"Name":"bad name!","Containers":[{"Name":"a","Image":"x"}]}"#, "Name", "letters"),
        (#"{"IdPrefix":"x/","Containers":[{"Name":"a","Image":"x"}]}"#, "IdPrefix", "letters"),
        (#"{"IdPrefix":"--","Containers":[{"Name":"a","Image":"x"}]}"#, "IdPrefix", "starting with a letter or digit"),
        (#"{"Containers":[{"Name":"a","Image":"x","HealthTCP":80}]}"#, "Containers[0].HealthTCP", "not in PublicPorts"),
        (
            #"{"Containers":[{"Name":"a","Runtime":"exec","Cmd":["x"],"HealthTCP":80,"HealthCmd":["y"]}]}"#, "Containers[0].HealthCmd",
            "one health check"
        ),
        (#"{"Containers":[{"Name":"a","Image":"x","HealthRetries":3}]}"#, "Containers[0].HealthInterval", "need a health check"),
        (
            #"{"Containers":[{"Name":"a","Runtime":"exec","Cmd":["x"],"HealthCmd":["y"],"HealthInterval":"soon"}]}"#, "Containers[0].HealthInterval",
            "duration"
        ),
        (
            #"{"Containers":[{"Name":"a","Runtime":"exec","Cmd":["x"],"HealthCmd":["y"],"HealthOnFailure":"panic"}]}"#,
            "Containers[0].HealthOnFailure", "restart"
        ),
    ])
    func invalidDescriptorsAreRefusedNamingTheField(_ json: String, field: String, message: String) throws {
        let d = try parse(json)
        #expect {
            try d.validate()
        } throws: { error in
            guard let error = error as? DeploymentError else { return false }
            return error.field == field && error.message.contains(message)
        }
    }
}

@Suite struct LinkTests {
    @Test func linkAliasGivesEachDbInstanceItsOwnLoopbackAddressOnTheAliasPort() throws {
        let d = try parse(linkAlias)
        let links = try LinkResolution(d)
        let web = try #require(links.links["web"])
        #expect(web.map(\.alias.description) == ["127.0.0.1:8080", "127.0.0.2:8080"])
        #expect(web.map(\.target) == [Slot("db", 1), Slot("db", 2)])
        let variables = links.variables(for: d.containers[0], in: d)
        #expect(
            variables == [
                EnvironmentVariable(name: "DB_HOST", value: "127.0.0.1"), EnvironmentVariable(name: "DB_PORT", value: "8080"),
                EnvironmentVariable(name: "DB_ADDRS", value: "127.0.0.1:8080,127.0.0.2:8080"),
            ])
    }

    @Test func geardsSimpleDeployGivesPortsCountingUp() throws {
        let d = try parse(
            #"{"containers":[{"name":"web","count":2,"image":"x","publicports":[{"internal":8080,"external":0}],"links":[{"to":"web"}]}]}"#)
        let web = try #require(try LinkResolution(d).links["web"])
        #expect(web.map(\.alias.description) == ["127.0.0.1:8080", "127.0.0.1:8081"])
    }

    @Test func matchedPortsAreReservedFirstAndEveryTargetPortOnce() throws {
        let d = try parse(
            """
            {"containers":[
              {"name":"web","count":2,"image":"x","publicports":[{"internal":8080}],"links":[{"to":"web"},{"to":"db"}]},
              {"name":"db","count":3,"image":"y","publicports":[{"internal":27017}],"links":[{"to":"db","matchport":true}]}
            ]}
            """)
        let links = try LinkResolution(d)
        #expect(links.links["db"]!.map(\.alias.description) == ["127.0.0.1:27017", "127.0.0.2:27017", "127.0.0.3:27017"])
        #expect(links.links["web"]!.map(\.alias.description) == ["127.0.0.1:8080", "127.0.0.1:8081"] + links.links["db"]!.map(\.alias.description))
    }

    @Test func tooManyLinksPerInstanceAreRefused() throws {
        let d = try parse(#"{"containers":[{"name":"a","count":70,"image":"x","publicports":[{"internal":80}],"links":[{"to":"a"}]}]}"#)
        #expect(throws: DeploymentError.self) { try LinkResolution(d) }
    }
}

@Suite struct PlacementTests {
    @Test func spreadPutsInstancesOfOneContainerOnDistinctHosts() throws {
        let plan = try Planner.plan(try parse(linkAlias), nodes: [node("h1"), node("h2"), node("h3")])
        #expect(plan.instances.map(\.id) == ["web-1", "db-1", "db-2"])
        #expect(plan.instances.map(\.node) == ["h1", "h2", "h3"])
        #expect(plan.instances.allSatisfy { $0.action == .create })
    }

    @Test func binpackFillsTheFullestHostThatFitsButKeepsAContainersInstancesApart() throws {
        let nodes = [node("h1", memory: 16 << 30), node("h2", memory: 5 << 30), node("h3", memory: 16 << 30)]
        let one = try parse(#"{"Placement":"binpack","Containers":[{"Name":"w","Image":"x","Count":3,"Memory":"2G"}]}"#)
        #expect(try Planner.plan(one, nodes: nodes).instances.map(\.node) == ["h2", "h1", "h3"])
        let two = try parse(
            #"{"Placement":"binpack","Containers":[{"Name":"a","Image":"x","Count":1,"Memory":"2G"},{"Name":"b","Image":"x","Count":1,"Memory":"2G"}]}"#
        )
        #expect(try Planner.plan(two, nodes: nodes).instances.map(\.node) == ["h2", "h2"])
    }

    @Test func binpackWeighsCPUsWithMemory() throws {
        // By memory alone h2 fits best (2 GiB left) and strands 6 CPUs; h1 is filled on CPUs and keeps memory.
        let nodes = [node("h1", cpus: 4, memory: 16 << 30, granted: 4 << 30), node("h2", cpus: 8, memory: 8 << 30, granted: 2 << 30)]
        var busy = nodes
        busy[0].info.granted.cpus = 2
        let d = try parse(#"{"Placement":"binpack","Containers":[{"Name":"w","Image":"x","Count":1,"Memory":"4G","CPUs":2}]}"#)
        #expect(try Planner.plan(d, nodes: busy).instances.map(\.node) == ["h1"])
    }

    @Test func theSameInputsGiveTheSamePlan() throws {
        let d = try parse(
            #"{"Containers":[{"Name":"a","Image":"x","Count":7,"Memory":"1G","CPUs":0.5},{"Name":"b","Image":"y","Count":5,"PublicPorts":[{"Internal":80}]}]}"#
        )
        let nodes = [node("h1", memory: 6 << 30), node("h2", memory: 3 << 30), node("h3", memory: 9 << 30)]
        let first = try Planner.plan(d, nodes: nodes)
        for _ in 0..<5 { #expect(try Planner.plan(d, nodes: nodes).instances == first.instances) }
    }

    /// Tables of hosts and requests: (memory per host in GiB, granted GiB, instances, memory each in GiB) -> hosts chosen or the error.
    @Test(arguments: [
        ([8, 8], [0, 0], 4, 3, "h1 h2 h1 h2"),
        ([8, 8], [4, 0], 3, 3, "h2 h1 h2"),
        (
            [4, 4], [0, 0], 3, 3,
            "fits on no host: h1: memory: needs 3 GiB, 1 GiB free (short by 2 GiB); h2: memory: needs 3 GiB, 1 GiB free (short by 2 GiB)"
        ),
        ([2], [0], 1, 3, "instance 1 of 'w' (w-1) fits on no host: h1: memory: needs 3 GiB, 2 GiB free (short by 1 GiB)"),
    ])
    func memoryCountsAgainstWhatIsLeft(_ memory: [Int], _ granted: [Int], _ count: Int, _ each: Int, _ expected: String) throws {
        let d = try parse(#"{"Containers":[{"Name":"w","Image":"x","Count":\#(count),"Memory":"\#(each)G"}]}"#)
        let nodes = memory.indices.map { node("h\($0 + 1)", memory: Int64(memory[$0]) << 30, granted: Int64(granted[$0]) << 30) }
        do {
            let plan = try Planner.plan(d, nodes: nodes)
            #expect(plan.instances.map(\.node).joined(separator: " ") == expected)
        } catch {
            #expect(error.message.contains(expected), "\(error)")
            #expect(error.field == "Containers[0]")
        }
    }

    @Test func cpusPortsAndDiskAreCounted() throws {
        let cpus = try parse(#"{"Containers":[{"Name":"c","Image":"x","Count":3,"CPUs":1.5}]}"#)
        #expect {
            try Planner.plan(cpus, nodes: [node("h1", cpus: 2), node("h2", cpus: 2)])
        } throws: { "\($0)".contains("CPUs: needs 1.5, 0.5 free (short by 1)") }
        let ports = try parse(#"{"Containers":[{"Name":"p","Image":"x","Count":2,"PublicPorts":[{"Internal":1},{"Internal":2}]}]}"#)
        #expect {
            try Planner.plan(ports, nodes: [node("h1", freePorts: 3)])
        } throws: { "\($0)".contains("ports: needs 2 of the port range, 1 free (short by 1)") }
        let fixed = try parse(#"{"Containers":[{"Name":"f","Image":"x","Count":3,"PublicPorts":[{"Internal":80,"External":8080}]}]}"#)
        #expect {
            try Planner.plan(fixed, nodes: [node("h1"), node("h2")])
        } throws: { "\($0)".contains("h1: ports: external port 8080 is taken") }
        let disk = try parse(#"{"Containers":[{"Name":"d","Image":"x","Count":1,"Disk":"20G"}]}"#)
        #expect {
            try Planner.plan(disk, nodes: [node("h1", disk: 10 << 30)])
        } throws: { "\($0)".contains("disk: needs 20 GiB, 10 GiB free (short by 10 GiB)") }
    }

    @Test func nodeLabelsAndAffinityRules() throws {
        let nodes = [node("h1", labels: ["zone": "a"]), node("h2", labels: ["zone": "b"]), node("h3", labels: ["zone": "a", "disk": "ssd"])]
        let d = try parse(
            """
            {"Containers":[
              {"Name":"db","Image":"x","Count":2,"Affinity":{"NodeLabels":{"zone":"a"},"Apart":["db"]}},
              {"Name":"cache","Image":"y","Count":2,"Affinity":{"With":["db"]}},
              {"Name":"web","Image":"z","Count":1,"Affinity":{"AvoidNodeLabels":{"zone":"a"}}}
            ]}
            """)
        let plan = try Planner.plan(d, nodes: nodes)
        #expect(plan.instances.map { "\($0.id)@\($0.node)" } == ["db-1@h1", "db-2@h3", "cache-1@h1", "cache-2@h3", "web-1@h2"])
        let three = try parse(#"{"Containers":[{"Name":"db","Image":"x","Count":3,"Affinity":{"NodeLabels":{"zone":"a"},"Apart":["db"]}}]}"#)
        #expect {
            try Planner.plan(three, nodes: nodes)
        } throws: {
            "\($0)".contains(
                "instance 3 of 'db' (db-3) fits on no host: h1: affinity: runs an instance of 'db'; h2: labels: needs zone=a, has zone=b")
        }
    }

    @Test func aRedeployOfTheSameFileKeepsEverything() throws {
        let d = try parse(linkAlias)
        let nodes = [node("h1"), node("h2"), node("h3")]
        let first = try Planner.plan(d, nodes: nodes)
        let after = nodes.map { n in
            var n = n
            n.containers = first.instances.filter { $0.node == n.name }.map { running($0) }
            return n
        }
        let second = try Planner.plan(d, nodes: after)
        #expect(second.instances.allSatisfy { $0.action == .keep })
        #expect(second.removals.isEmpty && !second.changesInstances && second.generation == first.generation)
        #expect(second.instances.map(\.node) == first.instances.map(\.node))
    }

    @Test func aChangedImageReplacesInPlaceAndScalingAddsOrRemoves() throws {
        let nodes = [node("h1"), node("h2"), node("h3")]
        let first = try Planner.plan(try parse(linkAlias), nodes: nodes)
        let after = nodes.map { n in
            var n = n
            n.containers = first.instances.filter { $0.node == n.name }.map { running($0) }
            return n
        }
        let changed = try parse(linkAlias.replacingOccurrences(of: "test2", with: "test3"))
        let replace = try Planner.plan(changed, nodes: after)
        #expect(replace.instances.map(\.action) == [.keep, .replace, .replace])
        #expect(replace.instances.map(\.node) == first.instances.map(\.node))
        #expect(replace.generation == first.generation + 1)
        let scaled = try parse(linkAlias.replacingOccurrences(of: #""count":2"#, with: #""count":1"#))
        let down = try Planner.plan(scaled, nodes: after)
        #expect(down.removals.map(\.id) == ["db-2"] && down.removals[0].node == "h3")
        // web's links change (one db fewer), so its variables do: it is replaced as well.
        #expect(down.instances.map(\.action) == [.replace, .keep])
        let up = try Planner.plan(try parse(linkAlias.replacingOccurrences(of: #""count":2"#, with: #""count":3"#)), nodes: after)
        #expect(up.instances.map(\.action) == [.replace, .keep, .keep, .create])
        #expect(up.instances.last!.id == "db-3")
    }

    @Test func aRemovedContainerOrHostMovesOrDeletesItsInstances() throws {
        let nodes = [node("h1", labels: ["zone": "a"]), node("h2", labels: ["zone": "a"])]
        let d = try parse(#"{"Name":"m","Containers":[{"Name":"a","Image":"x","Count":2},{"Name":"b","Image":"y","Count":1}]}"#)
        let first = try Planner.plan(d, nodes: nodes)
        let after = nodes.map { n in
            var n = n
            n.containers = first.instances.filter { $0.node == n.name }.map { running($0) }
            return n
        }
        let withoutB = try Planner.plan(try parse(#"{"Name":"m","Containers":[{"Name":"a","Image":"x","Count":2}]}"#), nodes: after)
        #expect(withoutB.removals.map(\.id) == ["b-1"])
        let relabelled = [
            after[0],
            {
                var n = after[1]; n.info.labels = ["zone": "b"]; return n
            }(),
        ]
        let pinned = try parse(
            #"{"Name":"m","Containers":[{"Name":"a","Image":"x","Count":2,"Affinity":{"NodeLabels":{"zone":"a"}}},{"Name":"b","Image":"y","Count":1}]}"#
        )
        let moved = try Planner.plan(pinned, nodes: relabelled)
        let a2 = try #require(moved.instances.first { $0.id == "a-2" })
        #expect(a2.action == .move(from: "h2") && a2.node == "h1")
    }

    @Test func anIdTakenByAnotherContainerIsRefusedBeforeAnything() throws {
        var other = running(
            try Planner.plan(try parse(#"{"Name":"x","Containers":[{"Name":"db","Image":"y","Count":1}]}"#), nodes: [node("h1")]).instances[0])
        other.labels = nil
        #expect {
            try Planner.plan(try parse(linkAlias), nodes: [node("h1"), node("h2", containers: [other])])
        } throws: { "\($0)".contains("instance id 'db-1' is taken on h2 by a container that is not of deployment 'app'") }
    }

    @Test func networkLinksPointAtTheHostEachTargetLandedOn() throws {
        let plan = try Planner.plan(try parse(linkAlias), nodes: [node("h1"), node("h2"), node("h3")])
        let ports: [Slot: [PortMapping]] = [
            Slot("db", 1): [PortMapping(internal: 3000, external: 4001)], Slot("db", 2): [PortMapping(internal: 3000, external: 4007)],
        ]
        #expect(
            plan.networkLinks(for: plan.instances[0], ports: ports) == [
                NetworkLink(fromHost: "127.0.0.1", fromPort: 8080, toHost: "10.0.0.2", toPort: 4001),
                NetworkLink(fromHost: "127.0.0.2", fromPort: 8080, toHost: "10.0.0.3", toPort: 4007),
            ])
        #expect(plan.instances[0].request.labels?[DeploymentLabel.deployment] == "app")
        #expect(plan.instances[0].request.environment?.first == EnvironmentVariable(name: "DB_HOST", value: "127.0.0.1"))
    }
}

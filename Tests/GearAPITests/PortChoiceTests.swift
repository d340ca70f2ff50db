import GearAPI
import Testing

/// The one rule for external ports, as a node allocates them and as the etcd deploy chooses them.
@Suite struct PortChoiceTests {
    static func choice(owners: [Int: String] = [:], host: Set<Int> = []) -> PortChoice {
        PortChoice(
            range: 4000...4003, owners: owners, hostPortIsFree: { !host.contains($0) }, hostHolder: { host.contains($0) ? "nginx (pid 7)" : nil })
    }

    @Test func theLowestPortNobodyHoldsIsTaken() throws {
        let ports = try Self.choice(owners: [4000: "db"], host: [4001]).resolve(
            [PortRequest(internal: 80), PortRequest(internal: 81)], for: "web", previous: [])
        #expect(ports == [PortMapping(internal: 80, external: 4002), PortMapping(internal: 81, external: 4003)])
    }

    @Test func anInternalPortKeepsItsExternalPortWhileItIsFree() throws {
        let previous = [PortMapping(internal: 80, external: 4003)]
        #expect(try Self.choice().resolve([PortRequest(internal: 80)], for: "web", previous: previous) == previous)
        // A host process took it meanwhile, or another container holds it: the lowest free one instead.
        #expect(try Self.choice(host: [4003]).resolve([PortRequest(internal: 80)], for: "web", previous: previous).map(\.externalPort) == [4000])
        #expect(
            try Self.choice(owners: [4003: "db"]).resolve([PortRequest(internal: 80)], for: "web", previous: previous).map(\.externalPort) == [4000])
    }

    @Test func aFixedPortMustBeFreeOfContainersAndHostProcesses() throws {
        #expect(try Self.choice(owners: [4001: "web"]).resolve([PortRequest(internal: 80, external: 4001)], for: "web", previous: []).count == 1)
        #expect(throws: GearError(.portConflict, "")) {
            try Self.choice(owners: [4001: "db"]).resolve([PortRequest(internal: 80, external: 4001)], for: "web", previous: [])
        }
        do {
            _ = try Self.choice(host: [4001]).resolve([PortRequest(internal: 80, external: 4001)], for: "web", previous: [])
            Issue.record("a port a host process holds was given")
        } catch {
            #expect(error.code == .portInUse && error.message == "external port 4001 is already in use on this host by nginx (pid 7)")
        }
    }

    @Test func aFullRangeIsExhausted() {
        #expect(throws: GearError(.portsExhausted, "")) {
            try Self.choice(owners: [4000: "a", 4001: "b"], host: [4002, 4003]).resolve([PortRequest(internal: 80)], for: "web", previous: [])
        }
    }
}

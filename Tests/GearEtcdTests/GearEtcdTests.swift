import Foundation
import GearAPI
import GearCore
import Testing

@testable import GearEtcd
@testable import GearEtcdTransport

/// etcd endpoints, gear's keys and roles, and desired entries read as the node reads them (the same refusals as the
/// HTTP API), without an etcd: the integration tests run the real one.
@Suite struct GearEtcdTests {
    @Test(arguments: [
        ("https://127.0.0.1:2379", [EtcdConfiguration.Endpoint(host: "127.0.0.1", port: 2379)]),
        ("https://10.0.0.1,https://10.0.0.2:3379/", [.init(host: "10.0.0.1", port: 2379), .init(host: "10.0.0.2", port: 3379)]),
        ("https://[::1]:2379", [.init(host: "::1", port: 2379)]),
        ("https://etcd.example.org:2379", [.init(host: "etcd.example.org", port: 2379)]),
    ])
    func endpointsParse(_ text: String, _ expected: [EtcdConfiguration.Endpoint]) throws {
        #expect(try EtcdConfiguration.endpoints(text) == expected)
    }

    @Test(arguments: [
        "http://127.0.0.1:2379", "127.0.0.1:2379", "https://", "https://host:0", "https://host:99999", "https://ho st:1",
        "https://10.0.0.1,https://[::1]", "https://a.example,https://b.example", "", "https://10.0.0.1:x",
    ])
    func badEndpointsAreRefused(_ text: String) {
        #expect(throws: EtcdError.self) { try EtcdConfiguration.endpoints(text) }
    }

    @Test func keysAndRoles() throws {
        let keys = try GearKeys(node: "node-1.a")
        #expect(keys.desiredContainer("web") == "/gear/v1/desired/node-1.a/containers/web")
        #expect(keys.desired("/gear/v1/desired/node-1.a/containers/web") == .container("web"))
        #expect(keys.desired("/gear/v1/desired/node-1.a/environments/db") == .environment("db"))
        #expect(keys.desired("/gear/v1/desired/node-1.a/volumes/x") == .unknown("volumes/x"))
        #expect(keys.desired("/gear/v1/desired/node-1.ab/containers/web") == nil)
        #expect(keys.observed(answering: "/gear/v1/desired/node-1.a/volumes/x") == "/gear/v1/observed/node-1.a/volumes/x")
        #expect(GearKeys.split("/gear/v1/observed/n2/containers/web", under: GearKeys.observedRoot)! == ("n2", "containers/web"))
        for bad in ["", "a/b", "..", ".", "a b", String(repeating: "n", count: 65), "ü"] {
            #expect(throws: EtcdError.self) { try GearKeys(node: bad) }
        }
        #expect(
            try EtcdRoles.nodeGrants("n1") == [
                EtcdGrant(.read, prefix: "/gear/v1/desired/n1/"), EtcdGrant(.readwrite, prefix: "/gear/v1/observed/n1/"),
            ])
        #expect(
            EtcdRoles.orchestratorGrants.map(\.description) == [
                "readwrite /gear/v1/desired/*", "readwrite /gear/v1/status/deployments/*", "readwrite /gear/v1/orchestrator/*",
                "read /gear/v1/*",
            ])
        // Operators write deployments and maintenance entries, never a node's desired state.
        #expect(
            EtcdRoles.operatorGrants.map(\.description) == [
                "readwrite /gear/v1/deployments/*", "readwrite /gear/v1/maintenance/*", "read /gear/v1/*",
            ])
        // The orchestrator's keys: a deployment's name is one key part.
        #expect(GearKeys.deployment("web") == "/gear/v1/deployments/web")
        #expect(GearKeys.deploymentName("/gear/v1/deployments/web.v2") == "web.v2")
        #expect(GearKeys.deploymentStatusName("/gear/v1/status/deployments/web") == "web")
        for bad in ["/gear/v1/deployments/", "/gear/v1/deployments/a/b", "/gear/v1/deployments/..", "/gear/v1/desired/web"] {
            #expect(GearKeys.deploymentName(bad) == nil)
        }
        // A prefix's range ends just after every key that starts with it.
        #expect(EtcdClient.rangeEnd("/a/") == Data("/a0".utf8))
        #expect(EtcdClient.rangeEnd("a") == Data("b".utf8))
    }

    static func entry(_ value: String, revision: Int64 = 7) -> EtcdEntry {
        EtcdEntry(key: "k", value: Data(value.utf8), modRevision: revision)
    }

    @Test func aDesiredContainerIsAnInstallBodyWithTheNodesLabels() throws {
        let read = try DesiredEntry.container(
            "web", Self.entry(#"{"runtime":"exec","CMD":["/bin/sleep","1"],"Started":true,"Labels":{"a":"b"}}"#), node: "n1"
        ).get()
        #expect(read.started && read.revision == 7 && read.request.labels?["gear.etcd.node"] == "n1" && read.request.labels?["a"] == "b")
        // Field order, case and Started do not change the digest; the command does.
        let same = try DesiredEntry.container("web", Self.entry(#"{"Labels":{"a":"b"},"Cmd":["/bin/sleep","1"],"Runtime":"exec"}"#), node: "n1").get()
        #expect(same.digest == read.digest && !same.started)
        let other = try DesiredEntry.container("web", Self.entry(#"{"Runtime":"exec","Cmd":["/bin/sleep","2"],"Labels":{"a":"b"}}"#), node: "n1")
            .get()
        #expect(other.digest != read.digest)
    }

    @Test(arguments: [
        ("web", "{", "not valid JSON"),
        ("web", #"{"Runtime":"exec","Cmd":["/bin/true"],"Nope":1}"#, "Nope"),
        ("web", #"{"Id":"db","Runtime":"exec","Cmd":["/bin/true"]}"#, "not the container of the key"),
        ("web", #"{"Runtime":"exec","Cmd":["/bin/true"],"Labels":{"gear.etcd.spec":"x"}}"#, "node's own label"),
        ("we/b", #"{"Runtime":"exec","Cmd":["/bin/true"]}"#, "invalid container id"),
        ("", #"{"Runtime":"exec","Cmd":["/bin/true"]}"#, "invalid container id"),
    ])
    func badDesiredContainersAreRefused(_ id: String, _ value: String, _ message: String) {
        guard case .failure(let error) = DesiredEntry.container(id, Self.entry(value), node: "n1") else {
            Issue.record("\(id) \(value) was accepted")
            return
        }
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test func desiredEnvironmentsAndOversizedValues() throws {
        let environment = try DesiredEntry.environment("db", Self.entry(#"{"A":"1","B":"two words"}"#)).get()
        #expect(environment.variables.map(\.name).sorted() == ["A", "B"])
        #expect((try? DesiredEntry.environment("db", Self.entry("")).get()) == nil)
        #expect((try? DesiredEntry.environment("d/b", Self.entry(#"{"A":"1"}"#)).get()) == nil)
        let big = Self.entry(#"{"Runtime":"exec","Cmd":["/bin/true"],"X":""# + String(repeating: "y", count: 1 << 20) + "\"}")
        guard case .failure(let error) = DesiredEntry.container("web", big, node: "n1") else {
            Issue.record("accepted")
            return
        }
        #expect(error.message.contains("at most 1048576"))
    }
}

/// How the etcd transport handles each failure: retried with back-off, or reported until the entry changes.
@Suite struct FailureHandlingTests {
    @Test func whatTheSameEntryWouldMeetAgainIsReportedTheRestRetried() {
        for code in [GearError.Code.invalidRequest, .invalidID, .forbidden, .notFound, .portInUse, .tooLarge] {
            #expect(code.handling == .report, "\(code)")
        }
        for code in [GearError.Code.portConflict, .portsExhausted, .unitFailed, .unhealthy, .queueFull, .systemdUnavailable, .interrupted, .diskFull]
        {
            #expect(code.handling == .retry, "\(code)")
        }
    }
}

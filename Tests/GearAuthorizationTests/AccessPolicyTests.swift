import Foundation
import GearCertificates
import Testing

@testable import GearAuthorization

/// Roles, grants, scopes and the policy file: what an identity may do, and what a bad file is told.
@Suite struct AccessPolicyTests {
    static func identity(cn: String, ou: [String] = [], uris: [String] = []) -> PeerIdentity {
        PeerIdentity(commonName: cn, organizationalUnits: ou, uris: uris, serial: "0abc", fingerprint: String(repeating: "ab", count: 32))
    }

    @Test func withoutAPolicyFileTheOUNamesTheRole() {
        let reader = AccessPolicy.default.access(for: Self.identity(cn: "ci", ou: ["reader"]))
        #expect(reader.allows(.containerRead, container: "web"))
        #expect(reader.allows(.logsRead, container: "web"))
        #expect(!reader.allows(.containerInstall, container: "web"))
        #expect(!reader.allows(.containerStop, container: "web"))

        let op = AccessPolicy.default.access(for: Self.identity(cn: "orch", ou: ["operator"]))
        #expect(op.allows(.containerInstall, container: "web") && op.allows(.containerRestart, container: "db"))
        // Running commands inside containers is an admin's (it reaches whatever the container reaches).
        #expect(!op.allows(.containerExec, container: "web") && !reader.allows(.containerExec, container: "web"))
        #expect(AccessPolicy.default.access(for: Self.identity(cn: "root", ou: ["admin"])).allows(.containerExec, container: "web"))
        // So is running programs once (POST /jobs); canceling a queued job is part of the lifecycle.
        #expect(!op.allows(.jobsRun, container: nil) && !reader.allows(.jobsRun, container: nil))
        #expect(AccessPolicy.default.access(for: Self.identity(cn: "root", ou: ["admin"])).allows(.jobsRun, container: nil))
        #expect(op.allows(.jobsCancel, container: "web") && !reader.allows(.jobsCancel, container: "web"))

        let nobody = AccessPolicy.default.access(for: Self.identity(cn: "x", ou: ["janitor"]))
        #expect(nobody.entries.isEmpty && !nobody.allows(.containerRead, container: "web") && !nobody.allows(.nodeRead, container: nil))
    }

    @Test func aGrantScopesAnOperatorToItsContainersAndOverridesTheOU() throws {
        let policy = try AccessPolicy(
            json: Data(
                #"""
                {"grants": [
                  {"identity": "cn:tenant-a", "role": "operator", "containers": ["tenant-a-*"]},
                  {"identity": "uri:spiffe://cluster/ci", "role": "deployer"}
                ],
                 "roles": {"deployer": ["container.install", "container.start", "container.read"]}}
                """#.utf8))
        let tenant = policy.access(for: Self.identity(cn: "tenant-a", ou: ["admin"]))
        #expect(tenant.allows(.containerStop, container: "tenant-a-web"))
        #expect(!tenant.allows(.containerStop, container: "tenant-b-web"))
        #expect(tenant.allows(.nodeRead, container: nil))
        #expect(tenant.scope(of: .containerList) == .patterns(["tenant-a-*"]))

        let ci = policy.access(for: Self.identity(cn: "ci", uris: ["spiffe://cluster/ci"]))
        #expect(ci.allows(.containerInstall, container: "any") && !ci.allows(.containerDelete, container: "any"))

        // No grant matches: the OU still names the role.
        #expect(policy.access(for: Self.identity(cn: "other", ou: ["reader"])).allows(.containerRead, container: "x"))
    }

    @Test func theOUCanBeTurnedOff() throws {
        let policy = try AccessPolicy(json: Data(#"{"roleFromOrganizationalUnit": false}"#.utf8))
        #expect(policy.access(for: Self.identity(cn: "x", ou: ["admin"])).entries.isEmpty)
    }

    @Test(arguments: [
        (#"{"grant": []}"#, "unknown key 'grant'"),
        (#"{"grants": [{"identity": "cn:x", "role": "root"}]}"#, "no role named root"),
        (#"{"grants": [{"identity": "name:x", "role": "admin"}]}"#, "must be cn:"),
        (#"{"grants": [{"identity": "cn:x", "role": "admin", "containers": ["../etc"]}]}"#, "is not an id pattern"),
        (#"{"grants": [{"identity": "cn:x", "role": "admin", "containers": []}]}"#, "non-empty list"),
        (#"{"roles": {"x": ["container.explode"]}}"#, "unknown operation container.explode"),
        (#"{"roles": {"admin": []}}"#, "built in"),
        (#"{"grants": [{"identity": "serial:xyz", "role": "admin"}]}"#, "hexadecimal"),
        (#"[1]"#, "JSON object"),
    ])
    func aBadPolicyIsRefusedWithAClearMessage(json: String, message: String) {
        #expect {
            try AccessPolicy(json: Data(json.utf8))
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test func identityMatchers() throws {
        let who = Self.identity(cn: "orch", ou: ["operator"], uris: ["spiffe://c/o"])
        #expect(try IdentityMatcher(parsing: "*").matches(who))
        #expect(try IdentityMatcher(parsing: "cn:orch").matches(who))
        #expect(try !IdentityMatcher(parsing: "cn:orch2").matches(who))
        #expect(try IdentityMatcher(parsing: "ou:operator").matches(who))
        #expect(try IdentityMatcher(parsing: "uri:spiffe://c/o").matches(who))
        #expect(try IdentityMatcher(parsing: "serial:0A:BC").matches(who))
        #expect(try IdentityMatcher(parsing: "fingerprint:" + String(repeating: "AB:", count: 31) + "AB").matches(who))
    }

    @Test(arguments: [
        ("tenant-a-*", "tenant-a-web", true), ("tenant-a-*", "tenant-b-web", false), ("web-?", "web-1", true), ("web-?", "web-12", false),
        ("*", "anything", true), ("a*b*c", "axxbyyc", true), ("a*b*c", "axxbyy", false), ("exact", "exact", true), ("exact", "exactly", false),
    ])
    func containerPatterns(pattern: String, id: String, matches: Bool) {
        #expect(ContainerScope.patterns([pattern]).contains(id) == matches)
    }
}

@Suite struct UnixPeerPolicyTests {
    @Test func aUnixUserIsMatchedByUidOnly() throws {
        let user = PeerIdentity(unixUser: 1000, group: 1000, process: 42)
        #expect(try IdentityMatcher(parsing: "uid:1000").matches(user))
        #expect(try !IdentityMatcher(parsing: "uid:1001").matches(user))
        #expect(try !IdentityMatcher(parsing: "*").matches(user))
        #expect(try !IdentityMatcher(parsing: "serial:0").matches(user))
        #expect(throws: PolicyError.self) { try IdentityMatcher(parsing: "uid:alice") }
        let policy = try AccessPolicy(json: Data(#"{"grants": [{"identity": "uid:1000", "role": "reader"}]}"#.utf8))
        #expect(policy.access(for: user).allows(.containerRead, container: "web"))
        #expect(!policy.access(for: user).allows(.containerStop, container: "web"))
        #expect(AccessPolicy.default.access(for: user).entries.isEmpty)
        #expect(user.description == "uid 1000 (pid 42)")
    }
}

import Foundation
import GearAPI
import Testing

/// The shared vocabulary: one rule each, the same on every side.
@Suite struct VocabularyTests {
    @Test func unitNamesComeFromTheID() throws {
        let id = try ContainerID("web-1")
        #expect(id.unitName == "ctr-web-1.service")
        #expect(ContainerID.unitName(of: "web-1") == id.unitName)
        #expect(ContainerID.fromUnitName(id.unitName) == id)
        #expect(ContainerID.fromUnitName("ctr-.service") == nil)
        #expect(ContainerID.fromUnitName("other-web.service") == nil)
    }

    @Test(arguments: ["a", "web-1", "A.b_c-d", String(repeating: "x", count: 64)])
    func validContainerIDs(_ id: String) throws {
        #expect(try ContainerID(id).rawValue == id)
    }

    @Test(arguments: ["", "-web", "_web", ".web", "web/1", "web 1", "wéb", "web%i", String(repeating: "x", count: 65)])
    func invalidContainerIDsAreRefusedWithTheirCode(_ id: String) {
        #expect(throws: GearError(.invalidID, "")) { try ContainerID(id) }
    }

    @Test func theSpecDigestIgnoresFieldOrderAndCase() throws {
        let a = try GearJSON.decoder().decode(InstallRequest.self, from: Data(#"{"Image":"x","Cmd":["a"],"Memory":"1G"}"#.utf8))
        let b = try GearJSON.decoder().decode(InstallRequest.self, from: Data(#"{"memory":"1G","cmd":["a"],"image":"x"}"#.utf8))
        var c = a
        c.cmd = ["b"]
        #expect(SpecDigest.of(a) == SpecDigest.of(b))
        #expect(SpecDigest.of(a) != SpecDigest.of(c))
        #expect(SpecDigest.of(a).utf8.count == SpecDigest.length)
        #expect(SpecDigest.of(a).allSatisfy { "0123456789abcdef".contains($0) })
    }

    /// Labels written when the etcd node kept 24 digits of the same hash still match, so that an upgraded node
    /// replaces nothing; anything else does not.
    @Test func labelsOfTheOlderLongerDigestStillMatch() {
        let digest = "0123456789abcdef"
        #expect(SpecDigest.matches(digest, digest))
        #expect(SpecDigest.matches(digest + "00112233", digest))
        #expect(!SpecDigest.matches("f123456789abcdef00112233", digest))
        #expect(!SpecDigest.matches("0123456789abcdee", digest))
        #expect(!SpecDigest.matches("01234567", digest))
        #expect(!SpecDigest.matches("", digest))
        #expect(!SpecDigest.matches(nil, digest))
    }

    @Test func aFullDiskIsItsOwnCode() {
        #expect(GearError(systemCall: "write /x", errno: 28).code == .diskFull)  // ENOSPC
        #expect(GearError(systemCall: "write /x", errno: 122).code == .diskFull)  // EDQUOT
        #expect(GearError(systemCall: "open /x", errno: 13).code == .internal)  // EACCES
        #expect(GearError(systemCall: "open /x", errno: 13).message.hasPrefix("open /x: "))
    }
}

/// A maintenance entry as the orchestrator and `gear deploy --dry-run` both read it.
@Suite struct NodeMaintenanceTests {
    @Test func anEntryThatCannotBeReadCordons() throws {
        let drain = try GearJSON.encoder().encode(NodeMaintenance(mode: .drain, reason: "kernel"))
        #expect(NodeMaintenance.Mode.of(drain) == .drain && NodeMaintenance.Mode.of(drain).reason == "draining")
        #expect(NodeMaintenance.Mode.of(Data("not json".utf8)) == .cordon)
        #expect(NodeMaintenance.Mode.of(Data(#"{"mode":"evacuate"}"#.utf8)) == .cordon)
        #expect(NodeMaintenance.Mode.of(Data(repeating: 0x20, count: 5000) + drain) == .cordon, "larger than 4 KiB")
        #expect(NodeMaintenance.Mode.cordon.reason == "cordoned")
    }
}

import ArgumentParser
import Foundation
import GearClient
import Testing

@testable import gear

/// The configuration file: defaults, host aliases, groups, and clear refusals of a bad file.
@Suite struct ConfigTests {
    let directory = NSTemporaryDirectory() + "gear-config-\(UUID().uuidString)"

    func write(_ text: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/config-\(UUID().uuidString).json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func groupsExpandAndAliasesResolve() throws {
        let path = try write(
            #"{"host":"node1","hosts":{"node1":"10.0.0.1","node2":"10.0.0.2:5000"},"groups":{"web":["node1","node2","node3:7000"]},"ca":"pki/ca.crt","cert":"/abs/c.crt","key":"~/k.key"}"#
        )
        let status = try #require(try Gear.parseAsRoot(["status", "--config", path, "@web/api", "node2/db", "bare"]) as? Status)
        let locators = try status.global.locators(status.locators)
        #expect(locators.map(\.description) == ["node1/api", "node2/api", "node3:7000/api", "node2/db", "bare"])
        #expect(
            locators.map { $0.endpoint(status.global).description } == [
                "10.0.0.1:43274", "10.0.0.2:5000", "node3:7000", "10.0.0.2:5000", "10.0.0.1:43274",
            ])
        let settings = status.global.settings
        #expect(settings.ca == directory + "/pki/ca.crt" && settings.cert == "/abs/c.crt" && settings.key == NSHomeDirectory() + "/k.key")
        let list = try #require(try Gear.parseAsRoot(["list", "--config", path, "@web"]) as? List)
        #expect(try list.global.locators(list.hosts.map { $0 + "/-" }).map(\.host) == ["node1", "node2", "node3"])
        #expect(throws: (any Error).self) { try status.global.locators(["@nope/api"]) }
    }

    @Test(arguments: [
        #"{"hosts":{"a":"not a host"}}"#, #"{"groups":{"g":[]}}"#, #"{"colour":true}"#, #"[1]"#, #"{"ca":""}"#, "not json",
    ])
    func badFilesAreUsageErrors(_ text: String) throws {
        let path = try write(text)
        #expect(throws: (any Error).self) { _ = try Gear.parseAsRoot(["status", "--config", path, "web"]) }
    }

    @Test func aMissingExplicitFileIsAnError() {
        #expect(throws: (any Error).self) { _ = try Gear.parseAsRoot(["status", "--config", "/nonexistent/gear.json", "web"]) }
    }
}

import Foundation
import GearAPI
import Testing

/// The fast writer writes byte for byte what `GearJSON.encoder()` writes.
@Suite struct JSONWriterTests {
    static func randomStatus(_ i: Int) -> ContainerStatus {
        let maybe = Bool.random()
        var status = ContainerStatus(
            id: "c\(i)", unit: "ctr-c\(i).service", runtime: maybe ? "exec" : "podman", image: maybe ? nil : "localhost/busybox",
            cmd: ["/bin/sh", "-c", "echo \"q\" \\ \t %n $HOME ünï ✓ /x"], started: Bool.random(), loadState: "loaded",
            activeState: ["active", "inactive", "failed"].randomElement()!, subState: "running", mainPID: maybe ? Int.random(in: 1...99999) : nil,
            result: maybe ? "success" : nil, exitStatus: maybe ? nil : 143, restarts: Int.random(in: 0...5),
            activeSince: maybe ? Date(timeIntervalSince1970: Double.random(in: 1.6e9...1.9e9)) : nil,
            inactiveSince: maybe ? nil : Date(timeIntervalSince1970: Double.random(in: 1.6e9...1.9e9)),
            ports: maybe ? [] : [PortMapping(internal: 8080, external: 4000), PortMapping(internal: 9090, external: 4001)],
            volumes: [VolumeStatus(name: "data", path: "/data", readOnly: maybe)], restartPolicy: "on-failure",
            memoryLimit: maybe ? 64 << 20 : nil, cpuLimit: [nil, 0.5, 1, 1.5, 0.25, 0.33].randomElement()!)
        status.labels = maybe ? nil : ["gear.deployment": "app", "team": "a \"b\"", "Z/x": "ü"]
        status.networkLinks =
            maybe
            ? nil
            : [
                NetworkLink(fromPort: 80, toHost: nil, toPort: nil),
                NetworkLink(fromHost: "127.0.0.2", fromPort: 8080, toHost: "10.0.0.1", toPort: 4001),
            ]
        status.health = [
            nil, HealthStatus(status: "starting"),
            HealthStatus(
                status: "unhealthy", failingStreak: 3,
                log: [
                    HealthCheckResult(time: Date(timeIntervalSince1970: 1.8e9 + 0.123), healthy: true, output: "HTTP/1.0 200 OK", durationMs: 2),
                    HealthCheckResult(
                        time: Date(timeIntervalSince1970: 1.8e9 + 1.5), healthy: false, output: "exit status 1: \"no\"\n ü", durationMs: 31),
                ]),
        ].randomElement()!
        return status
    }

    @Test func statusAndListMatchTheEncoder() throws {
        for i in 0..<200 {
            let status = Self.randomStatus(i)
            var writer = JSONWriter()
            status.write(to: &writer)
            #expect(String(decoding: writer.bytes, as: UTF8.self) == String(decoding: try GearJSON.encoder().encode(status), as: UTF8.self))
        }
        for orphans in [nil, ["ctr-x.service"]] as [[String]?] {
            let list = ContainerList(containers: (0..<20).map(Self.randomStatus), orphanUnits: orphans)
            var writer = JSONWriter()
            list.write(to: &writer)
            #expect(writer.bytes == Array(try GearJSON.encoder().encode(list)))
        }
    }

    @Test(
        arguments: [
            (nil, [:], 0.0), ("4.3.1", ["active": 98, "inactive": 1, "failed": 1], 1.5), ("5.0", ["deactivating": 2, "activating": 3], 10.0),
        ] as [(String?, [String: Int], Double)])
    func nodeInfoMatchesTheEncoder(_ podman: String?, _ states: [String: Int], _ cpus: Double) throws {
        let info = NodeInfo(
            hostname: "node1", machineID: "0123abcd", bootID: "b00t", kernel: "6.1.0-26-amd64", systemdVersion: "252.30-1~deb12u2",
            podmanVersion: podman, cpus: 2, memory: .init(totalBytes: 25_769_803_776, availableBytes: 21_474_836_480),
            disk: .init(path: "/var/lib/gear", totalBytes: 105_089_261_568, freeBytes: 80_530_636_800),
            ports: .init(first: 4000, last: 4999, allocated: 2, free: 998),
            containers: .init(total: states.values.reduce(0, +), started: 1, byState: states), granted: .init(memoryBytes: 100_663_296, cpus: cpus))
        var info2 = info
        info2.labels = states.isEmpty ? nil : ["zone": "a", "disk": "ssd"]
        info2.containers.byHealth = states.isEmpty ? nil : ["healthy": 3, "unhealthy": 1, "starting": 0]
        var writer = JSONWriter()
        info2.write(to: &writer)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == String(decoding: try GearJSON.encoder().encode(info2), as: UTF8.self))
    }
}

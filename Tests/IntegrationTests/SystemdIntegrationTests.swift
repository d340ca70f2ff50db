import Foundation
import GearAPI
import GearClient
import NIOHTTP1
import Testing

/// geard as a systemd service: the shipped units (socket activation, Type=notify, watchdog), and a D-Bus
/// connection that survives the bus going away.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct SystemdIntegrationTests {
    @Test func theShippedUnitsStartGeardBySocketActivation() async throws {
        let root = FileManager.default.currentDirectoryPath
        #expect(try sh("install -m 0755 \(Sandbox.geardPath) /usr/local/bin/geard").status == 0)
        #expect(
            try sh("install -m 0644 \(root)/contrib/geard.service \(root)/contrib/geard.socket /etc/systemd/system/ && systemctl daemon-reload")
                .status == 0)
        defer {
            _ = try? sh(
                "systemctl stop geard.service geard.socket; rm -f /etc/systemd/system/geard.service /etc/systemd/system/geard.socket; systemctl daemon-reload"
            )
        }
        #expect(try sh("systemctl start geard.socket").status == 0)
        #expect(try unitProperty("geard.service", "ActiveState") == "inactive")
        #expect(try sh("stat -c %a /run/gear/geard.sock").output.trimmingCharacters(in: .whitespacesAndNewlines) == "600")

        // The first connection starts geard, which serves the sockets systemd passed it.
        let answer = try sh("curl -s --max-time 20 --unix-socket /run/gear/geard.sock http://geard/containers")
        #expect(answer.output.contains("\"containers\""), "\(answer.output)")
        #expect(try unitProperty("geard.service", "ActiveState") == "active")
        #expect(try unitProperty("geard.service", "StatusText").hasPrefix("serving on"))
        #expect(try unitProperty("geard.service", "WatchdogUSec") == "30s")
        let tcp = try sh("curl -s --max-time 5 http://127.0.0.1:43273/containers")
        #expect(tcp.output.contains("\"containers\""))

        // geard stops cleanly on SIGTERM, and socket activation brings it back.
        #expect(try sh("systemctl stop geard.service").status == 0)
        #expect(try unitProperty("geard.service", "Result") == "success")
        #expect(try sh("curl -s --max-time 20 http://127.0.0.1:43273/containers").output.contains("\"containers\""))
    }

    @Test func geardReconnectsWhenTheSystemBusRestarts() async throws {
        let geard = try await GeardProcess.start(arguments: ["--bus", "system"])
        let id = uniqueID("bus")
        _ = try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true), wait: 60)
        #expect(try sh("systemctl restart dbus.service").status == 0)
        #expect(try await eventually(timeout: .seconds(20)) { (try? await geard.client.status(id).activeState) == "active" })
        let stopped = try await geard.client.stop(id, wait: 60)
        #expect(stopped.job.state == .succeeded)
        #expect(geard.log().contains("re-established"))
        _ = try await geard.client.delete(id, wait: 60)
        await geard.stop()
    }
}

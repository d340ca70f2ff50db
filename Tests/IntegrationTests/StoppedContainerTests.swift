import Foundation
import GearAPI
import GearClient
import Testing

/// Containers that are installed but not running: read as cheaply as running ones (systemd is not asked to load
/// their units), still truthful when systemd changes them behind geard's back, and installed, replaced and deleted
/// without a daemon-reload.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct StoppedContainerTests {
    /// How many daemon-reloads systemd logged since `since` (a `date` string), from its journal.
    func reloads(since: String) throws -> Int {
        Int(
            try sh("journalctl -q --no-pager -o cat _PID=1 --since '\(since)' | grep -c '^Reloading' || true").output
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// The time now, to the second (journalctl's `--since`): first waits a second, so that nothing logged before
    /// this call falls into the same second.
    func now() throws -> String {
        Thread.sleep(forTimeInterval: 1.05)
        return try sh("date '+%Y-%m-%d %H:%M:%S'").output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func loadedUnits(_ pattern: String) throws -> [String] {
        try sh("systemctl list-units --all --plain --no-legend '\(pattern)' | awk '{print $1}'").output
            .split(separator: "\n").map(String.init)
    }

    @Test func installsDeletesAndReplacingStoppedContainersDoNotReload() async throws {
        let geard = try await SharedGeard.get()
        let prefix = uniqueID("nr")
        let since = try now()
        for i in 1...5 {
            let answer = try await geard.client.install("\(prefix)-\(i)", InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"]), wait: 60)
            #expect(answer.job.state == .succeeded)
        }
        // A new container starts from its new file without a reload; a stopped one is replaced and started.
        #expect(try await geard.client.start("\(prefix)-1", wait: 60).job.state == .succeeded)
        #expect(try await geard.client.stop("\(prefix)-1", wait: 60).job.state == .succeeded)
        #expect(try await eventually { try loadedUnits("ctr-\(prefix)-1.service").isEmpty })
        let replaced = InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "2000"], started: true)
        #expect(try await geard.client.install("\(prefix)-1", replaced, wait: 60).job.state == .succeeded)
        #expect(try unitProperty("ctr-\(prefix)-1.service", "ExecStart").contains("argv[]=/bin/sleep 2000"))
        for i in 1...5 { #expect(try await geard.client.delete("\(prefix)-\(i)", wait: 60).job.state == .succeeded) }
        #expect(try reloads(since: since) == 0)

        // A running container that changes needs one: systemd holds the old definition.
        let running = "\(prefix)-r"
        _ = try await geard.client.install(running, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true), wait: 60)
        let before = try now()
        let changed = try await geard.client.install(running, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "3000"], started: true), wait: 60)
        #expect(changed.job.state == .succeeded)
        #expect(try unitProperty("ctr-\(running).service", "ExecStart").contains("argv[]=/bin/sleep 3000"))
        #expect(try reloads(since: before) == 1)
        _ = try await geard.client.delete(running, wait: 60)
    }

    /// A daemon-reload (anyone's) while a container runs makes gear-active.target want it, so systemd never collects
    /// its unit by itself: the delete reloads once, and systemd forgets the container (found by geard's own client,
    /// whose list showed deleted containers as loaded with NeedDaemonReload=yes).
    @Test func aDeleteAfterSomeonesReloadLeavesNoStaleUnit() async throws {
        let geard = try await SharedGeard.get()
        let id = uniqueID("pin")
        let unit = "ctr-\(id).service"
        #expect(
            try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"], started: true), wait: 60).job.state
                == .succeeded)
        #expect(try sh("systemctl daemon-reload").status == 0)
        #expect(try unitProperty(unit, "WantedBy").contains("gear-active.target"))
        let before = try now()
        #expect(try await geard.client.delete(id, wait: 60).job.state == .succeeded)
        #expect(try unitProperty(unit, "LoadState") == "not-found")
        #expect(try unitProperty(unit, "NeedDaemonReload") == "no")
        #expect(try reloads(since: before) == 1)
        #expect(try loadedUnits(unit).isEmpty)
    }

    @Test func readingStoppedContainersLoadsNoUnit() async throws {
        let geard = try await SharedGeard.get()
        let prefix = uniqueID("rd")
        for i in 1...10 {
            _ = try await geard.client.install("\(prefix)-\(i)", InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"]), wait: 60)
        }
        _ = try await geard.client.start("\(prefix)-1", wait: 60)
        _ = try await geard.client.stop("\(prefix)-1", wait: 60)
        #expect(try await eventually { try loadedUnits("ctr-\(prefix)-*").isEmpty })
        for _ in 0..<20 {
            let list = try await geard.client.list()
            #expect(list.containers.filter { $0.id.hasPrefix(prefix) }.count == 10)
            let status = try await geard.client.status("\(prefix)-5")
            #expect(status.activeState == "inactive" && status.subState == "dead" && status.loadState == "loaded")
        }
        // systemd was not asked to load any of them (each read would have loaded one, and systemd collected it).
        #expect(try loadedUnits("ctr-\(prefix)-*").isEmpty)
        #expect(try sh("journalctl -q --no-pager -o cat _PID=1 -n 2000 | grep -c 'ctr-\(prefix)-5' || true").output.hasPrefix("0"))
        // The one that ran keeps what systemd said of its last run.
        let ran = try await geard.client.status("\(prefix)-1")
        #expect(ran.activeState == "inactive" && ran.inactiveSince != nil && ran.exitStatus != nil)
        for i in 1...10 { _ = try await geard.client.delete("\(prefix)-\(i)", wait: 60) }
    }

    @Test func aStoppedContainersStatusFollowsSystemdBehindGeardsBack() async throws {
        let geard = try await GeardProcess.start()
        defer { Task { await geard.stop() } }
        let id = uniqueID("bh")
        let unit = "ctr-\(id).service"
        _ = try await geard.client.install(id, InstallRequest(runtime: "exec", cmd: ["/bin/sleep", "1000"]), wait: 60)
        #expect(try await geard.client.status(id).activeState == "inactive")
        // Started by hand: geard learns it from systemd's signals.
        #expect(try sh("systemctl start \(unit)").status == 0)
        #expect(try await eventually { try await geard.client.status(id).activeState == "active" })
        let pid = try #require(try await geard.client.status(id).mainPID)
        #expect(try unitProperty(unit, "MainPID") == "\(pid)")
        #expect(try sh("systemctl stop \(unit)").status == 0)
        #expect(try await eventually { try await geard.client.status(id).activeState == "inactive" })
        #expect(try await geard.client.list().containers.first { $0.id == id }?.activeState == "inactive")

        // A container that fails on its own, installed stopped and then started by hand.
        let failing = uniqueID("bhf")
        let request = InstallRequest(runtime: "exec", cmd: ["/bin/sh", "-c", "sleep 0.5; exit 3"], restart: "no")
        _ = try await geard.client.install(failing, request, wait: 60)
        #expect(try sh("systemctl start ctr-\(failing).service").status == 0)
        #expect(try await eventually { try await geard.client.status(failing).activeState == "failed" })
        let failed = try await geard.client.status(failing)
        #expect(failed.exitStatus == 3 && failed.result == "exit-code")

        // After a restart of geard, read from systemd again: still failed, and the stopped one inactive.
        try await geard.restart()
        let afterRestart = try await geard.client.status(failing)
        #expect(afterRestart.activeState == "failed" && afterRestart.exitStatus == 3)
        #expect(try await geard.client.status(id).activeState == "inactive")
        // And started by hand after the restart, while geard never read it loaded.
        #expect(try sh("systemctl start \(unit)").status == 0)
        #expect(try await eventually { try await geard.client.status(id).activeState == "active" })
        _ = try await geard.client.delete(id, wait: 60)
        _ = try await geard.client.delete(failing, wait: 60)
    }
}

import Foundation
public import GearAPI
import Logging

#if canImport(Glibc)
    import Glibc
#endif

extension NodeAgent {
    /// Prepares a command to run inside a running container (`POST /container/{id}/exec`); `ExecSession.run` runs
    /// it. Not a job: it does not change the container, and it runs while the caller reads its output.
    /// With `interactive`, the session is run by `runInteractive` (the WebSocket form).
    public nonisolated func exec(
        _ id: ContainerID, _ request: ExecRequest, interactive: InteractiveOptions? = nil
    ) async throws(GearError) -> ExecSession {
        guard let definition = definition(id) else { throw GearError(.notFound, "no container \(id) is installed") }
        let command = try ExecCommand(validating: request, runtime: definition.spec.runtime, interactive: interactive)
        let status = try await status(id)
        guard status.activeState == "active", let pid = status.mainPID, pid > 0 else {
            throw GearError(.conflict, "container \(id) is not running (\(status.activeState)/\(status.subState)): start it first")
        }
        switch definition.spec.runtime {
        case .podman:
            // Killing `podman exec` leaves what it started inside the container running (conmon holds it): those
            // processes carry a marker of this exec, and are found by it in the unit's cgroup when it is killed.
            let marker = "GEAR_EXEC_ID=\(ExecCommand.freshMarker())"
            let service = Self.cgroup(of: Int32(pid)).flatMap { Self.unitCgroup($0, id.unitName) }
            return ExecSession(
                arguments: command.podmanArguments(podman: configuration.podmanPath, container: id.podmanName, marker: marker),
                timeout: command.timeout,
                killInside: { signal in
                    guard let service else { return }
                    for process in Self.processes(inCgroup: service) where Self.environment(of: process).contains(marker) {
                        _ = Glibc.kill(process, signal)
                    }
                })
        case .exec:
            let pid = Int32(pid)
            guard let (uid, gid) = Self.credentials(of: pid) else {
                throw GearError(.conflict, "container \(id)'s main process \(pid) is gone: try again")
            }
            let environment = Self.environment(of: pid)
            // Into the unit's cgroup, before the command runs: its limits hold, and stopping the container ends it.
            let procs = Self.cgroup(of: pid).flatMap(Self.cgroupDirectory).map { $0 + "/cgroup.procs" }
            return ExecSession(
                arguments: command.execArguments(pid: pid, uid: uid, gid: gid, environment: environment, cgroupProcs: procs),
                timeout: command.timeout)
        }
    }

    /// The real user and group of a process (`/proc/PID/status`).
    static func credentials(of pid: Int32) -> (UInt32, UInt32)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        var uid: UInt32?
        var gid: UInt32?
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            if fields.first == "Uid:", fields.count > 1 { uid = UInt32(fields[1]) }
            if fields.first == "Gid:", fields.count > 1 { gid = UInt32(fields[1]) }
        }
        guard let uid, let gid else { return nil }
        return (uid, gid)
    }

    /// A process's environment (`/proc/PID/environ`), as `NAME=VALUE` entries.
    static func environment(of pid: Int32) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.filter { KeyValue.hasEquals($0) }
    }

    /// The processes in a cgroup (as `/proc/PID/cgroup` names it) and the cgroups beneath it, wherever the
    /// unified hierarchy is mounted (`/sys/fs/cgroup`, or `unified` and systemd's own hierarchy beside cgroup v1).
    static func processes(inCgroup path: String) -> [Int32] {
        cgroupDirectory(path).map(processes(under:)) ?? []
    }

    /// Where a cgroup (as `/proc/PID/cgroup` names it) is in the file system: beneath `/sys/fs/cgroup`, or on a
    /// hybrid system beneath `unified` (or systemd's own v1 hierarchy).
    static func cgroupDirectory(_ path: String) -> String? {
        ["/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"].lazy.map { $0 + path }.first {
            FileManager.default.fileExists(atPath: $0 + "/cgroup.procs")
        }
    }

    /// The processes in a cgroup directory and the ones beneath it (`cgroup.procs`, depth-first).
    static func processes(under directory: String) -> [Int32] {
        var found: [Int32] = []
        var pending = [directory]
        while let next = pending.popLast() {
            if let text = try? String(contentsOfFile: next + "/cgroup.procs", encoding: .utf8) {
                found += text.split(separator: "\n").compactMap { Int32($0) }
            }
            let children = (try? FileManager.default.contentsOfDirectory(atPath: next)) ?? []
            for child in children {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: next + "/" + child, isDirectory: &isDirectory), isDirectory.boolValue {
                    pending.append(next + "/" + child)
                }
            }
        }
        return found
    }

    /// A process's cgroup (v2), as `/proc/PID/cgroup` names it (`/gear.slice/ctr-web.service`).
    static func cgroup(of pid: Int32) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::/") {
            let path = String(line.dropFirst(3))
            return path.split(separator: "/").contains("..") ? nil : path
        }
        return nil
    }
}

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
            return ExecSession(
                arguments: command.podmanArguments(podman: configuration.podmanPath, container: id.podmanName), timeout: command.timeout)
        case .exec:
            let pid = Int32(pid)
            guard let (uid, gid) = Self.credentials(of: pid) else {
                throw GearError(.conflict, "container \(id)'s main process \(pid) is gone: try again")
            }
            let environment = Self.environment(of: pid)
            let cgroup = Self.cgroup(of: pid)
            return ExecSession(arguments: command.execArguments(pid: pid, uid: uid, gid: gid, environment: environment), timeout: command.timeout) {
                child in
                // Into the unit's cgroup: its limits hold, and stopping the container ends the command too.
                guard let cgroup else { return }
                let procs = "/sys/fs/cgroup\(cgroup)/cgroup.procs"
                guard let handle = FileHandle(forWritingAtPath: procs) else { return }
                try? handle.write(contentsOf: Data("\(child)\n".utf8))
                try? handle.close()
            }
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
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.filter { $0.contains("=") }
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

import Foundation
import GearAPI
import GearClient
import Testing

/// The unix socket tells callers apart by their peer credentials: root may do everything, another user what the
/// policy grants its uid, and with the default mode 0600 no other user gets in at all.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct SocketPeerTests {
    /// curl over the unix socket as `uid` (0: root), printing the status code.
    func call(_ socket: String, uid: Int, _ method: String, _ path: String, body: String? = nil) throws -> (status: Int, body: String) {
        let data = body.map { " --data-binary '\($0)'" } ?? ""
        let user = uid == 0 ? "" : "setpriv --reuid=\(uid) --regid=\(uid) --clear-groups "
        let result = try sh("\(user)curl -s -w '\\n%{http_code}' --unix-socket \(socket) -X \(method)\(data) 'http://localhost\(path)'")
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? -1, lines.dropLast().joined(separator: "\n"))
    }

    @Test func rootIsAdminOtherUsersGetWhatThePolicyGrantsTheirUid() async throws {
        let dir = "/tmp/gear-peer-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try #"{"grants": [{"identity": "uid:65534", "role": "reader"}]}"#.write(toFile: "\(dir)/policy.json", atomically: true, encoding: .utf8)
        let socket = "\(dir)/geard.sock"
        let geard = try await GeardProcess.start(arguments: ["--socket", socket, "--socket-mode", "0666", "--policy", "\(dir)/policy.json"])
        defer { Task { await geard.stop() } }
        let id = uniqueID("peer")

        let install = try call(
            socket, uid: 0, "PUT", "/container/\(id)?wait=30", body: #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"Started":true}"#)
        #expect(install.status == 200, "\(install.body)")

        // nobody (65534) is a reader: reads, no changes.
        #expect(try call(socket, uid: 65534, "GET", "/container/\(id)/status").status == 200)
        let stop = try call(socket, uid: 65534, "PUT", "/container/\(id)/stopped")
        #expect(stop.status == 403 && stop.body.contains("uid 65534"), "\(stop.body)")
        // Another user has no grant.
        #expect(try call(socket, uid: 4242, "GET", "/containers").status == 403)
        #expect(try await geard.client.status(id).activeState == "active")
        #expect(
            try await eventually {
                try sh("journalctl --no-pager -o cat GEAR_AUDIT=1 GEAR_AUTH_DECISION=deny GEAR_CONTAINER=\(id)").output.contains("uid 65534")
            })

        #expect(try call(socket, uid: 0, "DELETE", "/container/\(id)?wait=30").status == 200)
    }

    @Test func withTheDefaultModeOnlyRootConnects() async throws {
        let socket = "/tmp/gear-peer-\(UUID().uuidString.prefix(8)).sock"
        let geard = try await GeardProcess.start(arguments: ["--socket", socket])
        defer { Task { await geard.stop() } }
        #expect(try call(socket, uid: 0, "GET", "/containers").status == 200)
        #expect(try call(socket, uid: 65534, "GET", "/containers").status == 0)
        let mode = try FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}

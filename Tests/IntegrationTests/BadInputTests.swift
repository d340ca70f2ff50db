import Foundation
import GearAPI
import GearClient
import NIOHTTP1
import Testing

/// Bad input gets a clear status and JSON message, and changes nothing: no unit, no file, no systemd state.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct BadInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var method: String
        var path: String
        var body: String?
        var headers: [(String, String)] = []
        var status: Int
        var code: String
        var testDescription: String { name }
    }

    static let valid = #""Image":"localhost/busybox","Started":true"#

    static let cases: [Case] = [
        Case(name: "id with dots", method: "PUT", path: "/container/..", body: "{\(valid)}", status: 400, code: "invalid_id"),
        Case(name: "id with a slash", method: "PUT", path: "/container/a%2Fb", body: "{\(valid)}", status: 400, code: "invalid_id"),
        Case(name: "id with a space", method: "PUT", path: "/container/a%20b", body: "{\(valid)}", status: 400, code: "invalid_id"),
        Case(name: "id with unicode", method: "PUT", path: "/container/%C3%BCni", body: "{\(valid)}", status: 400, code: "invalid_id"),
        Case(
            name: "id too long", method: "PUT", path: "/container/" + String(repeating: "a", count: 65), body: "{\(valid)}", status: 400,
            code: "invalid_id"),
        Case(name: "id starting with a dash", method: "PUT", path: "/container/-x", body: "{\(valid)}", status: 400, code: "invalid_id"),
        Case(name: "id with a percent", method: "PUT", path: "/container/a%25n", body: "{\(valid)}", status: 400, code: "invalid_id"),
        Case(name: "malformed JSON", method: "PUT", path: "/container/badjson", body: "{\"Image\":", status: 400, code: "invalid_request"),
        Case(name: "empty body", method: "PUT", path: "/container/nobody", body: "", status: 400, code: "invalid_request"),
        Case(name: "JSON that is not an object", method: "PUT", path: "/container/array", body: "[1,2]", status: 400, code: "invalid_request"),
        Case(
            name: "wrong type", method: "PUT", path: "/container/types", body: #"{"Image":"localhost/busybox","Started":"yes"}"#, status: 400,
            code: "invalid_request"),
        Case(
            name: "unknown field", method: "PUT", path: "/container/typo", body: #"{"Imagee":"localhost/busybox"}"#, status: 400,
            code: "invalid_request"),
        Case(
            name: "image with a newline and a directive", method: "PUT", path: "/container/inject1",
            body: #"{"Image":"localhost/busybox\n[Service]\nExecStartPre=/bin/touch /tmp/pwned"}"#, status: 400, code: "invalid_request"),
        Case(
            name: "image with a specifier", method: "PUT", path: "/container/inject2", body: #"{"Image":"localhost/%n"}"#, status: 400,
            code: "invalid_request"),
        Case(
            name: "image that looks like a flag", method: "PUT", path: "/container/inject3", body: #"{"Image":"--privileged"}"#, status: 400,
            code: "invalid_request"),
        Case(
            name: "Cmd with a newline and a directive", method: "PUT", path: "/container/inject4",
            body: #"{"Image":"localhost/busybox","Cmd":["sh","x\n[Service]\nExecStartPre=/bin/touch /tmp/pwned"]}"#, status: 400,
            code: "invalid_request"),
        Case(
            name: "Cmd with a carriage return", method: "PUT", path: "/container/inject5", body: #"{"Image":"localhost/busybox","Cmd":["a\rb"]}"#,
            status: 400, code: "invalid_request"),
        Case(
            name: "environment value with a newline", method: "PUT", path: "/container/inject6",
            body: #"{"Image":"localhost/busybox","Environment":{"A":"x\nExecStartPre=/bin/touch /tmp/pwned"}}"#, status: 400, code: "invalid_request"),
        Case(
            name: "environment name with a space", method: "PUT", path: "/container/inject7",
            body: #"{"Image":"localhost/busybox","Environment":{"A B":"x"}}"#, status: 400, code: "invalid_request"),
        Case(
            name: "environment value with NUL", method: "PUT", path: "/container/inject8",
            body: #"{"Image":"localhost/busybox","Environment":{"A":"x\u0000y"}}"#, status: 400, code: "invalid_request"),
        Case(
            name: "exec program with a systemd prefix", method: "PUT", path: "/container/inject9",
            body: #"{"Runtime":"exec","Cmd":["+/bin/sh","-c","id"]}"#, status: 400, code: "invalid_request"),
        Case(
            name: "volume path escaping", method: "PUT", path: "/container/vol1",
            body: #"{"Image":"localhost/busybox","Volumes":[{"Name":"d","Path":"/data/../etc"}]}"#, status: 400, code: "invalid_request"),
        Case(
            name: "volume name escaping", method: "PUT", path: "/container/vol2",
            body: #"{"Image":"localhost/busybox","Volumes":[{"Name":"../x","Path":"/data"}]}"#, status: 400, code: "invalid_request"),
        Case(
            name: "volume path with a colon", method: "PUT", path: "/container/vol3",
            body: #"{"Image":"localhost/busybox","Volumes":[{"Name":"d","Path":"/etc:/x"}]}"#, status: 400, code: "invalid_request"),
        Case(
            name: "unknown runtime", method: "PUT", path: "/container/rt", body: #"{"Runtime":"docker","Image":"localhost/busybox"}"#, status: 400,
            code: "invalid_request"),
        Case(
            name: "exec with an image", method: "PUT", path: "/container/rt2",
            body: #"{"Runtime":"exec","Image":"localhost/busybox","Cmd":["/bin/true"]}"#, status: 400, code: "invalid_request"),
        Case(
            name: "exec with ports", method: "PUT", path: "/container/rt3",
            body: #"{"Runtime":"exec","Cmd":["/bin/true"],"Ports":[{"Internal":80}]}"#, status: 400, code: "invalid_request"),
        Case(
            name: "podman without an image", method: "PUT", path: "/container/rt4", body: #"{"Cmd":["/bin/true"]}"#, status: 400,
            code: "invalid_request"),
        Case(
            name: "internal port out of range", method: "PUT", path: "/container/port1",
            body: #"{"Image":"localhost/busybox","Ports":[{"Internal":70000}]}"#, status: 400, code: "invalid_request"),
        Case(
            name: "external port out of range", method: "PUT", path: "/container/port2",
            body: #"{"Image":"localhost/busybox","Ports":[{"Internal":80,"External":-1}]}"#, status: 400, code: "invalid_request"),
        Case(
            name: "internal port zero", method: "PUT", path: "/container/port3", body: #"{"Image":"localhost/busybox","Ports":[{"Internal":0}]}"#,
            status: 400, code: "invalid_request"),
        Case(
            name: "unknown restart policy", method: "PUT", path: "/container/rs", body: #"{"Image":"localhost/busybox","Restart":"sometimes"}"#,
            status: 400, code: "invalid_request"),
        Case(
            name: "bad memory", method: "PUT", path: "/container/mem", body: #"{"Image":"localhost/busybox","Memory":"lots"}"#, status: 400,
            code: "invalid_request"),
        Case(
            name: "negative CPUs", method: "PUT", path: "/container/cpu", body: #"{"Image":"localhost/busybox","CPUs":-1}"#, status: 400,
            code: "invalid_request"),
        Case(
            name: "label key with a space", method: "PUT", path: "/container/lbl", body: #"{"Image":"localhost/busybox","Labels":{"a b":"c"}}"#,
            status: 400, code: "invalid_request"),
        Case(
            name: "label value with a line break", method: "PUT", path: "/container/lbl",
            body: #"{"Image":"localhost/busybox","Labels":{"a":"b\nc"}}"#, status: 400, code: "invalid_request"),
        Case(
            name: "labels not strings", method: "PUT", path: "/container/lbl", body: #"{"Image":"localhost/busybox","Labels":{"a":1}}"#,
            status: 400, code: "invalid_request"),
        Case(
            name: "invalid request id", method: "PUT", path: "/container/rid", body: "{\(valid)}", headers: [("X-Request-Id", "not-an-id")],
            status: 400, code: "invalid_request_id"),
        Case(
            name: "request id with a newline-ish payload", method: "PUT", path: "/container/rid2", body: "{\(valid)}",
            headers: [("X-Request-Id", "../../etc/passwd")], status: 400, code: "invalid_request_id"),
        Case(name: "invalid wait", method: "PUT", path: "/container/wait?wait=soon", body: "{\(valid)}", status: 400, code: "invalid_request"),
        Case(name: "status of an unknown container", method: "GET", path: "/container/nosuch/status", status: 404, code: "not_found"),
        Case(name: "ports of an unknown container", method: "GET", path: "/container/nosuch/ports", status: 404, code: "not_found"),
        Case(name: "start an unknown container", method: "PUT", path: "/container/nosuch/started", status: 404, code: "not_found"),
        Case(name: "stop an unknown container", method: "PUT", path: "/container/nosuch/stopped", status: 404, code: "not_found"),
        Case(name: "restart an unknown container", method: "POST", path: "/container/nosuch/restart", status: 404, code: "not_found"),
        Case(name: "unknown job", method: "GET", path: "/jobs/0123456789abcdef0123456789abcdef", status: 404, code: "not_found"),
        Case(name: "malformed job id", method: "GET", path: "/jobs/..%2F..", status: 400, code: "invalid_request_id"),
        Case(name: "unknown path", method: "GET", path: "/nothing/here", status: 404, code: "not_found"),
        Case(name: "bad all flag", method: "GET", path: "/containers?all=maybe", status: 400, code: "invalid_request"),
    ]

    /// What geard and systemd hold: the state directory's files and gear's units.
    static func snapshot(_ geard: GeardProcess) throws -> String {
        try sh(
            "cd \(geard.stateDir) && find containers units env volumes -print | sort; ls /etc/systemd/system | grep '^ctr-'; systemctl list-units --all --plain --no-legend 'ctr-*' | awk '{print $1}'"
        ).output
    }

    @Test(arguments: cases)
    func refusedWithoutChange(_ c: Case) async throws {
        let geard = try await BadInputGeard.get()
        let before = try Self.snapshot(geard)
        let answer = try curl(c.method, "http://127.0.0.1:\(geard.port)\(c.path)", body: c.body, headers: c.headers)
        #expect(answer.status == c.status, "\(answer.body)")
        #expect(answer.headers["content-type"] == "application/json")
        #expect(answer.headers["x-request-id"]?.count == 32)
        let error = try answer.decode(APIError.self)
        #expect(error.error == c.code)
        #expect(!error.message.isEmpty)
        #expect(try Self.snapshot(geard) == before)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/pwned"))
    }

    @Test func bodyOverOneMebibyteIs413() async throws {
        let geard = try await BadInputGeard.get()
        let before = try Self.snapshot(geard)
        let big = #"{"Image":"localhost/busybox","Cmd":[""# + String(repeating: "x", count: 1 << 20) + #""]}"#
        let answer = try await geard.client.send(.PUT, "/container/big", body: Data(big.utf8))
        #expect(answer.status == 413)
        #expect(try answer.decode(APIError.self).error == "too_large")
        #expect(try Self.snapshot(geard) == before)
    }

    @Test func anExternalPortAnotherContainerHoldsIs409() async throws {
        let geard = try await BadInputGeard.get()
        let holder = uniqueID("holder")
        let first = try await geard.client.install(
            holder, InstallRequest(image: "localhost/busybox", cmd: ["httpd", "-f", "-p", "80"], ports: [PortRequest(internal: 80)]), wait: 60)
        let port = try #require(first.job.result?.container?.ports.first?.externalPort)
        let before = try Self.snapshot(geard)
        let answer = try await geard.client.send(
            .PUT, "/container/\(uniqueID("taker"))", body: Data(#"{"Image":"localhost/busybox","Ports":[{"Internal":80,"External":\#(port)}]}"#.utf8))
        #expect(answer.status == 409)
        let error = try answer.decode(APIError.self)
        #expect(error.error == "port_conflict" && error.message.contains(holder))
        #expect(try Self.snapshot(geard) == before)
        _ = try await geard.client.delete(holder, wait: 60)
    }

    @Test func anExternalPortAHostProcessListensOnIs409() async throws {
        let geard = try await BadInputGeard.get()
        let before = try Self.snapshot(geard)
        // geard's own listening port is taken on this host.
        let answer = try await geard.client.send(
            .PUT, "/container/\(uniqueID("taker"))",
            body: Data(#"{"Image":"localhost/busybox","Ports":[{"Internal":80,"External":\#(geard.port)}]}"#.utf8))
        #expect(answer.status == 409)
        // Its own code, and the holder named: geard itself, which listens there.
        let error = try answer.decode(APIError.self)
        #expect(error.error == "port_in_use" && error.message.contains("in use on this host by geard (pid "), "\(error.message)")
        #expect(try Self.snapshot(geard) == before)
    }

    @Test func deletingAnUnknownContainerSucceeds() async throws {
        let geard = try await BadInputGeard.get()
        let answer = try await geard.client.delete("never-installed", wait: 30)
        #expect(answer.status == 200 && answer.job.state == .succeeded)
        #expect(answer.job.result?.message.contains("not installed") == true)
    }
}

/// A geard of its own, so that the snapshot sees only what these tests do.
enum BadInputGeard {
    private static let started = Task { try await GeardProcess.start(stateDir: "/var/lib/gear-badinput") }
    static func get() async throws -> GeardProcess { try await started.value }
}

import Foundation
import Testing

/// Connection semantics with the oldest clients.
@Suite(.enabled(if: Sandbox.enabled))
struct HTTPProtocolTests {
    /// HTTP/1.0 clients (ab, old monitoring tools) read until the server closes unless they asked for keep-alive,
    /// and need `Connection: keep-alive` back when they did.
    @Test func http10ClientsGetTheirConnectionSemantics() async throws {
        let geard = try await SharedGeard.get()
        let close = try bash(
            "exec 3<>/dev/tcp/127.0.0.1/\(geard.port); printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3; timeout -s KILL 5 cat <&3; echo \"exit $?\"")
        #expect(close.output.contains(" 200 ") && close.output.hasSuffix("exit 0\n"), "\(close.output)")
        let keep = try bash(
            "exec 3<>/dev/tcp/127.0.0.1/\(geard.port); printf 'GET /healthz HTTP/1.0\\r\\nConnection: keep-alive\\r\\n\\r\\n' >&3; "
                + "timeout -s KILL 2 cat <&3; echo \"exit $?\"")
        #expect(keep.output.lowercased().contains("connection: keep-alive") && keep.output.hasSuffix("exit 137\n"), "\(keep.output)")
        // HTTP/1.1 stays open without asking.
        let modern = try bash(
            "exec 3<>/dev/tcp/127.0.0.1/\(geard.port); printf 'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' >&3; timeout -s KILL 2 cat <&3; echo \"exit $?\""
        )
        #expect(modern.output.hasSuffix("exit 137\n"), "\(modern.output)")
    }

    /// The test process blocks SIGTERM in the signal mask its children inherit, so `timeout` must use SIGKILL.
    func bash(_ command: String) throws -> (status: Int32, output: String) { try sh(command, shell: "/bin/bash") }
}

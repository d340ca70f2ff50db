import Foundation
import GearClient
import NIOHTTP1
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

    /// A request that breaks HTTP's framing is answered as nginx answers it, with geard's JSON error, and its
    /// connection closed (the client reads the answer and the end: `cat` ends before its timeout); nothing changes.
    @Test func malformedFramingIsAnswered400Or431AndTheConnectionClosed() async throws {
        let geard = try await SharedGeard.get()
        let open = "exec 3<>/dev/tcp/127.0.0.1/\(geard.port); "
        let read = "timeout -s KILL 10 cat <&3; echo \"exit $?\""
        // A chunk size that is not hexadecimal, in the body of a request a route reads.
        let chunk = try bash(
            open
                + "printf 'PUT /environment/framing HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\nA=1\\r\\n0\\r\\n\\r\\n' >&3; "
                + read)
        #expect(chunk.output.hasPrefix("HTTP/1.1 400 "), "\(chunk.output)")
        #expect(chunk.output.contains(#""error":"invalid_request""#) && chunk.output.contains("invalid chunk size"), "\(chunk.output)")
        #expect(chunk.output.lowercased().contains("connection: close") && chunk.output.hasSuffix("exit 0\n"), "\(chunk.output)")
        #expect(try await geard.client.send(.GET, "/environment/framing").status == 404, "nothing was written")
        // 10,000 header fields: past the decoder's 1,000.
        let many = try bash(
            open + "{ printf 'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n'; for i in $(seq 10000); do printf 'X-F%d: v\\r\\n' $i; done; "
                + "printf '\\r\\n'; } >&3 2>/dev/null & " + read)
        #expect(many.output.hasPrefix("HTTP/1.1 431 "), "\(many.output.prefix(300))")
        #expect(many.output.contains(#""error":"invalid_request""#) && many.output.hasSuffix("exit 0\n"), "\(many.output.suffix(300))")
        // Content-Length and Transfer-Encoding both: a request smuggler's tool.
        let both = try bash(
            open
                + "printf 'POST /containers/links HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 4\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\n' >&3; "
                + read)
        #expect(both.output.hasPrefix("HTTP/1.1 400 ") && both.output.contains("malformed HTTP request"), "\(both.output)")
        #expect(both.output.hasSuffix("exit 0\n"), "\(both.output)")
        // The listener still serves.
        #expect(try await geard.client.send(.GET, "/healthz").status == 200)
    }

    /// The test process blocks SIGTERM in the signal mask its children inherit, so `timeout` must use SIGKILL.
    func bash(_ command: String) throws -> (status: Int32, output: String) { try sh(command, shell: "/bin/bash") }
}

import Foundation
import GearAPI
import GearClient
import GearCore
import GearHTTP
import GearTestSupport
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Testing

/// GearClient against servers in this process: geard's own HTTP layer over an in-memory systemd, on a loopback port
/// and a unix socket, for the calls as users make them; and a small server that misbehaves on purpose, for what the
/// client must not trust (an answer that is not its request's, a body that stops coming, a line that never ends).
@Suite struct GearClientTests {
    /// Runs `body` with a client of a geard served on `address` (its HTTP layer and agent, in memory underneath).
    static func withGeard(unixSocket: Bool = false, _ body: @Sendable (GearClient) async throws -> Void) async throws {
        let root = NSTemporaryDirectory() + "gear-client-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/systemd", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var configuration = AgentConfiguration(layout: try StateLayout(root: root + "/state", systemdUnitDirectory: root + "/systemd"))
        configuration.hostPortIsFree = { _ in true }
        let agent = NodeAgent(
            configuration: configuration, systemd: MemorySystemd(unitDirectory: root + "/systemd"), logger: Logger(label: "test"))
        try await agent.prepare()
        let server = GearHTTPServer(agent: agent, logger: Logger(label: "test"))
        let socket = root + "/geard.sock"
        let address: ListenAddress = unixSocket ? .unix(path: socket, mode: 0o600, group: nil) : .tcp(host: "127.0.0.1", port: 0)
        let (bound, announce) = AsyncStream<Int?>.makeStream()
        let listener = server.listener(address) { announce.yield($0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await listener.run() }
            var ports = bound.makeAsyncIterator()
            let port = await ports.next() ?? nil
            let endpoint: GearEndpoint = unixSocket ? .unix(path: socket) : .http(host: "127.0.0.1", port: port ?? 0)
            try await body(GearClient(endpoint: endpoint))
            group.cancelAll()
        }
    }

    static let install = InstallRequest(image: "localhost/busybox", cmd: ["sleep", "1000"], started: true, ports: [PortRequest(internal: 80)])

    @Test(arguments: [false, true])
    func callsRoundTripOverTCPAndAUnixSocket(_ unixSocket: Bool) async throws {
        try await Self.withGeard(unixSocket: unixSocket) { client in
            let answer = try await client.install("web", Self.install, wait: 10)
            #expect(answer.status == 200 && answer.job.state == .succeeded && answer.portMapping == "80:4000")
            let status = try await client.status("web")
            #expect(status.activeState == "active" && status.ports == [PortMapping(internal: 80, external: 4000)])
            #expect(try await client.list().containers.map(\.id) == ["web"])
            #expect(try await client.stop("web", wait: 10).job.state == .succeeded)
            #expect(try await client.status("web").activeState == "inactive")
        }
    }

    /// The request id a caller gives is the job's; sending it again returns that job, not a second run.
    @Test func aGivenRequestIDNamesTheJobAndARetryReturnsIt() async throws {
        try await Self.withGeard { client in
            let id = "0123456789abcdef0123456789abcdef"
            let first = try await client.install("web", Self.install, requestID: id, wait: 10)
            let again = try await client.install("web", Self.install, requestID: id, wait: 10)
            #expect(first.job.id == id && again.job.id == id && again.job.state == .succeeded)
            let jobs = try await client.send(.GET, "/jobs").decode(JobList.self).jobs
            #expect(jobs.filter { $0.container == "web" }.count == 1)
            // An id reused for another request is refused, typed.
            await #expect {
                _ = try await client.delete("web", requestID: id, wait: 10)
            } throws: { error in
                guard case .api(409, let body)? = error as? GearClientError else { return false }
                return body.error == "request_id_conflict"
            }
        }
    }

    @Test func errorsArriveWithTheirStatusAndCode() async throws {
        try await Self.withGeard { client in
            for (call, status, code) in [("nope", 404, "not_found"), ("-bad", 400, "invalid_id")] {
                await #expect {
                    _ = try await client.status(call)
                } throws: { error in
                    guard case .api(let got, let body)? = error as? GearClientError else { return false }
                    return got == status && body.error == code && !body.message.isEmpty
                }
            }
        }
        // Nothing listens: unreachable, at once.
        let started = ContinuousClock.now
        await #expect {
            _ = try await GearClient(endpoint: .http(host: "127.0.0.1", port: 1)).node()
        } throws: { error in
            if case .unreachable? = error as? GearClientError { return true }
            return false
        }
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    // MARK: a server that misbehaves

    /// Runs `body` with a client of a Hummingbird server of `router`'s routes on a loopback port.
    static func withServer(
        _ router: Router<BasicRequestContext>, timeout: Duration = .seconds(120), _ body: @Sendable (GearClient) async throws -> Void
    ) async throws {
        let (bound, announce) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { announce.yield($0.localAddress?.port ?? 0) }, logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var ports = bound.makeAsyncIterator()
            let port = await ports.next() ?? 0
            try await body(GearClient(endpoint: .http(host: "127.0.0.1", port: port), timeout: timeout))
            group.cancelAll()
        }
    }

    static let requestID = HTTPField.Name("X-Request-Id")!

    /// An answer that carries another request's id is not taken as this one's.
    @Test func anAnswerForAnotherRequestIsRefused() async throws {
        let router = Router()
        router.get("/node") { _, _ -> Response in
            Response(status: .ok, headers: [Self.requestID: "ffffffffffffffffffffffffffffffff"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        try await Self.withServer(router) { client in
            await #expect {
                _ = try await client.node()
            } throws: { error in
                guard case .mismatchedRequestID(_, let received)? = error as? GearClientError else { return false }
                return received == "ffffffffffffffffffffffffffffffff"
            }
        }
    }

    /// A body that stops coming after the head is cut at the client's timeout, not waited for forever.
    @Test func aBodyThatStopsComingEndsAtTheTimeout() async throws {
        let router = Router()
        router.get("/node") { request, _ -> Response in
            let id = request.headers[Self.requestID] ?? ""
            return Response(
                status: .ok, headers: [Self.requestID: id],
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "{\"hostname\":"))
                    try await Task.sleep(for: .seconds(30))
                    try await writer.finish(nil)
                })
        }
        try await Self.withServer(router, timeout: .seconds(1)) { client in
            let started = ContinuousClock.now
            await #expect {
                _ = try await client.node()
            } throws: { error in
                guard case .unreachable(_, let reason)? = error as? GearClientError else { return false }
                return reason.contains("did not arrive whole within 1 s")
            }
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    /// Log entries arrive one by one as the lines come, whatever the chunks; a line that never ends is refused once it
    /// passes the bound instead of filling the client's memory.
    @Test func logLinesStreamAsEntriesAndAnEndlessLineIsCut() async throws {
        let router = Router()
        router.get("/container/:id/log") { request, context -> Response in
            let id = request.headers[Self.requestID] ?? ""
            let endless = context.parameters.get("id") == "endless"
            return Response(
                status: .ok, headers: [Self.requestID: id, .contentType: "application/x-ndjson"],
                body: ResponseBody { writer in
                    if endless {
                        let chunk = ByteBuffer(repeating: UInt8(ascii: "a"), count: 1 << 20)
                        for _ in 0..<16 { try await writer.write(chunk) }
                    } else {
                        // Three entries, the second split across chunks.
                        let lines = (1...3).map {
                            #"{"timestamp":"2026-12-07T00:00:0\#($0)Z","cursor":"c\#($0)","priority":6,"message":"line \#($0)"}"# + "\n"
                        }.joined()
                        let bytes = Array(lines.utf8)
                        for piece in stride(from: 0, to: bytes.count, by: 37) {
                            try await writer.write(ByteBuffer(bytes: bytes[piece..<min(piece + 37, bytes.count)]))
                        }
                    }
                    try await writer.finish(nil)
                })
        }
        try await Self.withServer(router) { client in
            var messages: [String] = []
            for try await entry in client.logs("web", .init(lines: "3")) { messages.append(entry.message) }
            #expect(messages == ["line 1", "line 2", "line 3"])
            await #expect {
                for try await _ in client.logs("endless", .init()) {}
            } throws: { error in
                guard case .unexpected(200, let body)? = error as? GearClientError else { return false }
                return body.contains("longer than")
            }
        }
    }
}

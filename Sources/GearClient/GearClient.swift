public import AsyncHTTPClient
public import Foundation
public import GearAPI
import NIOCore
public import NIOHTTP1

/// A typed client of geard's REST API, over AsyncHTTPClient.
///
/// Every call carries an `X-Request-Id` (fresh, or the one given) and checks that the answer echoes it, so that an
/// answer is always attributed to the request that caused it.
public struct GearClient: Sendable {
    public let endpoint: GearEndpoint
    let http: HTTPClient
    private let timeout: TimeAmount
    /// A delegation token sent as `Authorization: Bearer` with every call (HTTPS only).
    public var bearerToken: String?
    /// The certificate the client presents over HTTPS, for the connections it makes itself (interactive exec);
    /// the HTTP client has its own copy.
    public var tlsFiles: ClientTLSFiles?

    /// An HTTP client that fails at once when a geard is not listening (no retries of refused connections) and
    /// gives up connecting after 5 seconds, so that one unreachable host is reported quickly.
    public static let defaultHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(5)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    public init(endpoint: GearEndpoint, httpClient: HTTPClient = GearClient.defaultHTTPClient, timeout: Duration = .seconds(120)) {
        self.endpoint = endpoint
        self.http = httpClient
        self.timeout = .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
    }

    /// A raw answer.
    public struct Answer: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: Data
        public var requestID: String

        /// The first header with this name (case-insensitive).
        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        /// The body decoded as `T`.
        public func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try GearJSON.decoder().decode(type, from: body)
        }
    }

    /// The answer to a mutating call: the job, and the ports an install published.
    public struct JobAnswer: Sendable {
        public var status: Int
        public var job: Job
        /// `X-PortMapping` (`8080:4000,...`).
        public var portMapping: String?
    }

    /// A request to the endpoint: the URL under it, the request id, and the bearer token when there is one.
    func request(_ method: HTTPMethod, _ path: String, requestID: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: endpoint.baseURL + path)
        request.method = method
        request.headers.add(name: GearAPI.requestIDHeader, value: requestID)
        if let bearerToken { request.headers.add(name: "Authorization", value: "Bearer \(bearerToken)") }
        return request
    }

    /// Sends any request; `requestID` nil makes a fresh one. Throws `GearClientError.mismatchedRequestID` when the
    /// answer does not echo the request id.
    public func send(
        _ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = [], requestID: String? = nil
    ) async throws -> Answer {
        let id = requestID ?? Self.freshRequestID()
        var request = self.request(method, path, requestID: id)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        return try await execute(request, requestID: id, timeout: timeout)
    }

    /// `body`'s result, or `unreachable` once `timeout` passed (and `body` is cancelled).
    static func within<T: Sendable>(
        _ timeout: TimeAmount, endpoint: String, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                throw GearClientError.unreachable(
                    endpoint: endpoint, reason: "the answer did not arrive whole within \(timeout.nanoseconds / 1_000_000_000) s")
            }
            return result
        }
    }

    /// Sends a prepared request; collects the answer (up to 64 MiB) and checks that it echoes `requestID`.
    func execute(_ request: HTTPClientRequest, requestID id: String, timeout: TimeAmount) async throws -> Answer {
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch
            where (request.method == .GET || request.method == .HEAD)
            && ![.deadlineExceeded, .connectTimeout].contains(error as? HTTPClientError)
        {
            // A pooled connection the server closed as the request went out (after a stream it ended, the
            // connection is closed): a read, which got no answer, is safe to send again, once.
            do {
                response = try await http.execute(request, timeout: timeout)
            } catch {
                throw GearClientError.unreachable(endpoint: endpoint.description, reason: "\(error)")
            }
        } catch {
            throw GearClientError.unreachable(endpoint: endpoint.description, reason: "\(error)")
        }
        // AsyncHTTPClient's deadline ends with the response head: a body that stops coming (a node stopped
        // mid-answer) is bounded here by the same timeout.
        var buffer = try await Self.within(timeout, endpoint: endpoint.description) { try await response.body.collect(upTo: 64 << 20) }
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        let answer = Answer(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: Data(bytes), requestID: id)
        let echoed = answer.header(GearAPI.requestIDHeader)
        guard echoed?.lowercased() == id.lowercased() else {
            throw GearClientError.mismatchedRequestID(sent: id, received: echoed)
        }
        return answer
    }

    /// The longest NDJSON log line the client takes (an entry of a message of journald's largest, base64 twice).
    static let maxLogLine = 4 << 20

    /// A random 32-hex-character request id.
    public static func freshRequestID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let s = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }.joined()
    }

    private func expect<T: Decodable>(_ answer: Answer, _ type: T.Type, ok: Set<Int> = [200]) throws -> T {
        guard ok.contains(answer.status) else { throw GearClientError.from(answer) }
        return try answer.decode(type)
    }

    // MARK: containers

    /// Installs or replaces a container; waits up to `wait` seconds for the job when given.
    public func install(_ id: String, _ request: InstallRequest, requestID: String? = nil, wait: Double? = nil) async throws -> JobAnswer {
        try await job(.PUT, "/container/\(id)", body: try GearJSON.encoder().encode(request), requestID: requestID, wait: wait)
    }

    public func delete(_ id: String, requestID: String? = nil, wait: Double? = nil) async throws -> JobAnswer {
        try await job(.DELETE, "/container/\(id)", requestID: requestID, wait: wait)
    }

    public func start(_ id: String, requestID: String? = nil, wait: Double? = nil) async throws -> JobAnswer {
        try await job(.PUT, "/container/\(id)/started", requestID: requestID, wait: wait)
    }

    public func stop(_ id: String, requestID: String? = nil, wait: Double? = nil) async throws -> JobAnswer {
        try await job(.PUT, "/container/\(id)/stopped", requestID: requestID, wait: wait)
    }

    public func restart(_ id: String, requestID: String? = nil, wait: Double? = nil) async throws -> JobAnswer {
        try await job(.POST, "/container/\(id)/restart", requestID: requestID, wait: wait)
    }

    public func status(_ id: String) async throws -> ContainerStatus {
        try expect(try await send(.GET, "/container/\(id)/status"), ContainerStatus.self)
    }

    public func ports(_ id: String) async throws -> [PortMapping] {
        try expect(try await send(.GET, "/container/\(id)/ports"), PortList.self).ports
    }

    public func list(all: Bool = false) async throws -> ContainerList {
        try expect(try await send(.GET, all ? "/containers?all=1" : "/containers"), ContainerList.self)
    }

    public func node() async throws -> NodeInfo {
        try expect(try await send(.GET, "/node"), NodeInfo.self)
    }

    /// `/healthz` or `/readyz`: the report, whether it passed (200) or not (503).
    public func health(ready: Bool = false) async throws -> HealthReport {
        try expect(try await send(.GET, ready ? "/readyz" : "/healthz"), HealthReport.self, ok: [200, 503])
    }

    // MARK: leases

    /// Takes (or renews) the lease `name` for `holder`; throws `.api(409, conflict)` when another holder has it.
    public func acquireLease(_ name: String, holder: String, seconds: Int) async throws -> Lease {
        let body = try GearJSON.encoder().encode(LeaseRequest(holder: holder, seconds: seconds))
        return try expect(try await send(.PUT, "/lease/\(name)", body: body), Lease.self)
    }

    /// Lets the lease `name` go (fine when it is free already).
    public func releaseLease(_ name: String, holder: String) async throws {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let answer = try await send(.DELETE, "/lease/\(name)?holder=\(holder.addingPercentEncoding(withAllowedCharacters: allowed) ?? holder)")
        guard answer.status == 204 else { throw GearClientError.from(answer) }
    }

    // MARK: logs

    /// What part of a journal to read; nil fields are left to geard's defaults.
    public struct LogOptions: Sendable {
        public var lines: String?
        public var since: String?
        public var until: String?
        public var cursor: String?
        public var follow: Bool

        public init(lines: String? = nil, since: String? = nil, until: String? = nil, cursor: String? = nil, follow: Bool = false) {
            self.lines = lines
            self.since = since
            self.until = until
            self.cursor = cursor
            self.follow = follow
        }

        var query: String {
            var items: [String] = ["format=ndjson"]
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~:"))
            for (name, value) in [("lines", lines), ("since", since), ("until", until), ("cursor", cursor)] {
                if let value { items.append("\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)") }
            }
            if follow { items.append("follow=1") }
            return "?" + items.joined(separator: "&")
        }
    }

    /// A container's journal entries as geard streams them (NDJSON); with `follow`, until the stream is
    /// cancelled or the container is deleted.
    public func logs(_ id: String, _ options: LogOptions) -> AsyncThrowingStream<LogEntry, any Error> {
        logs(path: "/container/\(id)/log", options)
    }

    /// A run job's output as geard streams it (NDJSON); with `follow`, until the run ended.
    public func jobLogs(_ id: String, _ options: LogOptions) -> AsyncThrowingStream<LogEntry, any Error> {
        logs(path: "/jobs/\(id)/log", options)
    }

    private func logs(path: String, _ options: LogOptions) -> AsyncThrowingStream<LogEntry, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let requestID = Self.freshRequestID()
                    let request = self.request(.GET, path + options.query, requestID: requestID)
                    let response: HTTPClientResponse
                    do {
                        response = try await http.execute(request, timeout: options.follow ? .hours(24 * 365) : timeout)
                    } catch {
                        throw GearClientError.unreachable(endpoint: endpoint.description, reason: "\(error)")
                    }
                    let echoed = response.headers.first(name: GearAPI.requestIDHeader)
                    guard echoed?.lowercased() == requestID else {
                        throw GearClientError.mismatchedRequestID(sent: requestID, received: echoed)
                    }
                    guard response.status == .ok else {
                        var body = try await response.body.collect(upTo: 1 << 20)
                        let answer = Answer(
                            status: Int(response.status.code), headers: [], body: Data(body.readBytes(length: body.readableBytes) ?? []),
                            requestID: requestID)
                        throw GearClientError.from(answer)
                    }
                    let decoder = JSONDecoder()
                    var pending: [UInt8] = []
                    for try await chunk in response.body {
                        pending += chunk.readableBytesView
                        var start = 0
                        while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                            continuation.yield(try decoder.decode(LogEntry.self, from: Data(pending[start..<newline])))
                            start = newline + 1
                        }
                        pending.removeFirst(start)
                        // An entry is a journal message and its fields: a line past the bound is not geard's.
                        guard pending.count <= Self.maxLogLine else {
                            throw GearClientError.unexpected(
                                status: Int(response.status.code), body: "a log line longer than \(Self.maxLogLine) bytes: not geard's answer")
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    // MARK: jobs

    public func job(_ id: String) async throws -> Job {
        try expect(try await send(.GET, "/jobs/\(id)"), Job.self)
    }

    /// Runs a program or image once (`POST /jobs`); waits up to `wait` seconds for the job when given.
    public func run(_ request: RunRequest, requestID: String? = nil, wait: Double? = nil) async throws -> JobAnswer {
        try await job(.POST, "/jobs", body: try GearJSON.encoder().encode(request), requestID: requestID, wait: wait)
    }

    /// Cancels a queued job or a running run job (`DELETE /jobs/{id}`); answers the job.
    public func cancel(job id: String) async throws -> Job {
        try expect(try await send(.DELETE, "/jobs/\(id)"), Job.self)
    }

    /// Waits up to `timeout` seconds for a job to end (wait-for-job).
    public func wait(job id: String, timeout: Double = 30) async throws -> JobAnswer {
        let answer = try await send(.GET, "/jobs/\(id)/wait?timeout=\(timeout)")
        return try jobAnswer(answer)
    }

    private func job(_ method: HTTPMethod, _ path: String, body: Data? = nil, requestID: String?, wait: Double?) async throws -> JobAnswer {
        let query = wait.map { "?wait=\($0)" } ?? ""
        return try jobAnswer(try await send(method, path + query, body: body, requestID: requestID))
    }

    private func jobAnswer(_ answer: Answer) throws -> JobAnswer {
        switch answer.status {
        case 200, 202:
            return JobAnswer(status: answer.status, job: try answer.decode(Job.self), portMapping: answer.header(GearAPI.portMappingHeader))
        default:
            throw GearClientError.from(answer)
        }
    }
}

/// Why a call failed.
public enum GearClientError: Error, Sendable, CustomStringConvertible {
    /// geard answered with an error.
    case api(status: Int, error: APIError)
    /// geard answered something that is not the API's error format.
    case unexpected(status: Int, body: String)
    /// geard could not be reached.
    case unreachable(endpoint: String, reason: String)
    /// The answer did not echo the request id, so it cannot be attributed to this request.
    case mismatchedRequestID(sent: String, received: String?)
    /// The client's TLS material could not be used.
    case tls(String)
    /// A local file could not be read or written.
    case local(String)

    public static func from(_ answer: GearClient.Answer) -> GearClientError {
        if let error = try? answer.decode(APIError.self) { return .api(status: answer.status, error: error) }
        return .unexpected(status: answer.status, body: String(decoding: answer.body.prefix(500), as: UTF8.self))
    }

    public var description: String {
        switch self {
        case .api(let status, let error): "\(error.message) (\(status) \(error.error))"
        case .unexpected(let status, let body): "unexpected answer \(status): \(body)"
        case .unreachable(let endpoint, let reason): "cannot reach geard at \(endpoint): \(reason)"
        case .mismatchedRequestID(let sent, let received): "the answer's request id \(received ?? "(none)") is not the one sent (\(sent))"
        case .tls(let message): message
        case .local(let message): message
        }
    }
}

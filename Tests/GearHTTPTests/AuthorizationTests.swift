import Foundation
import GearAPI
import GearAuthorization
import GearCertificates
import GearCore
import GearTestSupport
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

@testable import GearHTTP

/// Authorization in process: 401 and 403 come before any body is read or job queued, scoped callers see only
/// their containers, and every decision is recorded.
@Suite struct AuthorizationTests {
    let root: String
    let systemd: MemorySystemd

    init() throws {
        root = NSTemporaryDirectory() + "gear-auth-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/systemd", withIntermediateDirectories: true)
        systemd = MemorySystemd(unitDirectory: root + "/systemd")
    }

    final class Recorder: AuditSink {
        let records = Mutex<[AuditRecord]>([])
        func record(_ record: AuditRecord) { records.withLock { $0.append(record) } }
    }

    static func caller(_ cn: String, ou: [String]) -> Caller {
        .certificate(PeerIdentity(commonName: cn, organizationalUnits: ou, serial: "01", fingerprint: "ff"))
    }

    /// Runs `test` against one agent with clients for several callers.
    func withApps(
        policy: AccessPolicy = .default, audit: Recorder = Recorder(), _ callers: [Caller],
        _ test: @escaping @Sendable ([any TestClientProtocol], NodeAgent) async throws -> Void
    ) async throws {
        let agent = try await makeTestAgent(root: root, systemd: systemd)
        let router = GearHTTPServer.makeRouter(agent: agent, authorizer: Authorizer(policy: PolicyStore(policy: policy), audit: audit))
        let apps = callers.map { Application(responder: CallerResponder(caller: $0, router: router)) }
        try await Self.nest(apps, clients: []) { clients in try await test(clients, agent) }
    }

    static func nest(
        _ apps: [Application<CallerResponder>], clients: [any TestClientProtocol],
        _ body: @escaping @Sendable ([any TestClientProtocol]) async throws -> Void
    ) async throws {
        guard let first = apps.first else { return try await body(clients) }
        try await first.test(.router) { client in try await nest(Array(apps.dropFirst()), clients: clients + [client], body) }
    }

    static let install = ByteBuffer(string: #"{"Runtime":"exec","Cmd":["/bin/sleep","1000"],"Started":true}"#)

    @Test func nobodyGets401AndNothingIsQueued() async throws {
        try await withApps([.unauthenticated]) { clients, agent in
            try await clients[0].execute(uri: "/container/web", method: .put, body: Self.install) { response in
                #expect(response.status == .unauthorized)
                let error = try JSONDecoder().decode(APIError.self, from: Data(response.body.readableBytesView))
                #expect(error.error == "unauthenticated" && error.requestId != nil)
            }
            try await clients[0].execute(uri: "/containers", method: .get) { #expect($0.status == .unauthorized) }
            #expect(await agent.jobs().isEmpty)
        }
    }

    @Test func aReaderReadsButCannotChangeAnything() async throws {
        let audit = Recorder()
        try await withApps(audit: audit, [.local(listener: "test"), Self.caller("ci", ou: ["reader"])]) { clients, agent in
            let (admin, reader) = (clients[0], clients[1])
            try await admin.execute(uri: "/container/web?wait=10", method: .put, body: Self.install) { #expect($0.status == .ok) }
            for (uri, method) in [("/container/web", HTTPRequest.Method.put), ("/container/web/stopped", .put), ("/container/web", .delete)] {
                try await reader.execute(uri: uri, method: method, body: Self.install) { response in
                    #expect(response.status == .forbidden)
                    let error = try JSONDecoder().decode(APIError.self, from: Data(response.body.readableBytesView))
                    #expect(error.error == "forbidden" && error.message.contains("reader may not"))
                }
            }
            try await reader.execute(uri: "/container/web/status", method: .get) { #expect($0.status == .ok) }
            try await reader.execute(uri: "/containers", method: .get) { #expect($0.status == .ok) }
            #expect(await agent.jobs().count == 1)
            #expect(try await agent.status(ContainerID("web")).started)
        }
        let records = audit.records.withLock { $0 }
        #expect(records.filter { !$0.allowed }.map(\.operation) == ["container.install", "container.stop", "container.delete"])
        #expect(records.filter(\.allowed).map(\.operation) == ["container.read", "container.list"])
        #expect(records.allSatisfy { $0.identity == "CN=ci, OU=reader" && !$0.requestID.isEmpty })
    }

    @Test func aScopedOperatorActsOnlyOnItsContainersAndSeesOnlyThem() async throws {
        let policy = try AccessPolicy(json: Data(#"{"grants": [{"identity": "cn:tenant-a", "role": "operator", "containers": ["a-*"]}]}"#.utf8))
        try await withApps(policy: policy, [.local(listener: "test"), Self.caller("tenant-a", ou: [])]) { clients, agent in
            let (admin, tenant) = (clients[0], clients[1])
            try await admin.execute(uri: "/container/b-db?wait=10", method: .put, body: Self.install) { #expect($0.status == .ok) }
            try await tenant.execute(uri: "/container/a-web?wait=10", method: .put, body: Self.install) { #expect($0.status == .ok) }
            try await tenant.execute(uri: "/container/b-db/stopped", method: .put) { #expect($0.status == .forbidden) }
            try await tenant.execute(uri: "/container/b-db/status", method: .get) { #expect($0.status == .forbidden) }
            try await tenant.execute(uri: "/containers", method: .get) { response in
                let list = try GearJSON.decoder().decode(ContainerList.self, from: Data(response.body.readableBytesView))
                #expect(list.containers.map(\.id) == ["a-web"])
            }
            try await tenant.execute(uri: "/jobs", method: .get) { response in
                let jobs = try GearJSON.decoder().decode(JobList.self, from: Data(response.body.readableBytesView))
                #expect(jobs.jobs.map(\.container) == ["a-web"])
            }
            let other = try #require(await agent.jobs(container: ContainerID("b-db")).first)
            try await tenant.execute(uri: "/jobs/\(other.id)", method: .get) { #expect($0.status == .notFound) }
            try await tenant.execute(uri: "/jobs/\(other.id)/wait", method: .get) { #expect($0.status == .notFound) }
            #expect(try await agent.status(ContainerID("b-db")).started)
        }
    }

    @Test func aScopedCallerSeesOnlyItsEventsAndEnvironments() async throws {
        let policy = try AccessPolicy(json: Data(#"{"grants": [{"identity": "cn:tenant-a", "role": "operator", "containers": ["a-*"]}]}"#.utf8))
        try await withApps(policy: policy, [.local(listener: "test"), Self.caller("tenant-a", ou: []), Self.caller("ro", ou: ["reader"])]) {
            clients, agent in
            let (admin, tenant, reader) = (clients[0], clients[1], clients[2])
            try await admin.execute(uri: "/environment/b-secrets", method: .put, body: ByteBuffer(string: "TOKEN=b\n")) { #expect($0.status == .ok) }
            try await tenant.execute(uri: "/environment/a-env", method: .put, body: ByteBuffer(string: #"{"A":"1"}"#)) { #expect($0.status == .ok) }
            try await tenant.execute(uri: "/environment/b-secrets", method: .get) { #expect($0.status == .forbidden) }
            try await tenant.execute(uri: "/environment/b-secrets", method: .put, body: ByteBuffer(string: "X=1")) {
                #expect($0.status == .forbidden)
            }
            try await reader.execute(uri: "/environment/a-env", method: .get) { #expect($0.status == .forbidden) }
            try await tenant.execute(uri: "/environments", method: .get) { response in
                let list = try GearJSON.decoder().decode(SharedEnvironmentList.self, from: Data(response.body.readableBytesView))
                #expect(list.environments.map(\.id) == ["a-env"])
            }
            // Handing one of its containers another tenant's environment is refused before anything is queued.
            let stealing = ByteBuffer(string: #"{"Runtime":"exec","Cmd":["/bin/true"],"EnvironmentId":"b-secrets"}"#)
            try await tenant.execute(uri: "/container/a-web", method: .put, body: stealing) { #expect($0.status == .forbidden) }
            #expect(await agent.jobs().isEmpty)
            try await admin.execute(uri: "/container/b-db?wait=10", method: .put, body: Self.install) { #expect($0.status == .ok) }
            try await tenant.execute(uri: "/container/a-web?wait=10", method: .put, body: Self.install) { #expect($0.status == .ok) }
            try await tenant.execute(uri: "/events?since=0&follow=0", method: .get) { response in
                let events = try String(buffer: response.body).split(separator: "\n").map {
                    try GearJSON.decoder().decode(GearEvent.self, from: Data($0.utf8))
                }
                #expect(events.contains { $0.container == "a-web" && $0.type == .jobSucceeded })
                #expect(events.allSatisfy { $0.container == nil || $0.container == "a-web" })
                #expect(events.first?.type == .agentStarted)
            }
            try await admin.execute(uri: "/events?since=0&follow=0&id=b-*&type=job.succeeded", method: .get) { response in
                let lines = String(buffer: response.body).split(separator: "\n")
                #expect(lines.count == 1 && lines[0].contains(#""container":"b-db""#))
            }
        }
    }

    @Test func aRevokedCertificateGets401() async throws {
        let revoked = Caller.rejected(PeerIdentity(commonName: "lost-laptop", serial: "02"), reason: "the client certificate (serial 02) is revoked")
        try await withApps([revoked]) { clients, _ in
            try await clients[0].execute(uri: "/containers", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("revoked"))
            }
        }
    }

    /// Every route the router serves is a declared endpoint (route groups can add routes only through the
    /// `EndpointRegistrar`), each once.
    @Test func everyRouteIsADeclaredEndpoint() throws {
        let agent = NodeAgent(
            configuration: AgentConfiguration(layout: try StateLayout(root: root)), systemd: systemd, logger: Logger(label: "test"))
        let (router, endpoints) = GearHTTPServer.makeRoutes(agent: agent)
        let served = router.routes.map { "\($0.method) \($0.path)" }
        #expect(served.sorted() == endpoints.map { "\($0.method) \($0.routerPath)" }.sorted())
        #expect(Set(endpoints.map(\.description)).count == endpoints.count)
    }

    /// A route's operation and target decide: a reader may read a container's status but not stop it, a tenant only
    /// its own containers and environments, and the question carries the `{id}` of the path as its target.
    @Test func theQuestionOfAnEndpointNamesItsOperationAndTarget() throws {
        let agent = NodeAgent(
            configuration: AgentConfiguration(layout: try StateLayout(root: root)), systemd: systemd, logger: Logger(label: "test"))
        let endpoints = GearHTTPServer.makeRoutes(agent: agent).endpoints
        let stop = try #require(endpoints.first { $0.description == "PUT /container/{id}/stopped" })
        #expect(stop.operation == .containerStop && stop.target == .container)
        let environment = try #require(endpoints.first { $0.description == "PATCH /environment/{id}" })
        #expect(environment.operation == .environmentWrite && environment.target == .environment)
        let list = try #require(endpoints.first { $0.description == "GET /containers" })
        #expect(list.operation == .containerList && list.target == .node)
        #expect(try #require(endpoints.first { $0.description == "HEAD /container/{id}/files/{path}" }).operation == .filesRead)
    }
}

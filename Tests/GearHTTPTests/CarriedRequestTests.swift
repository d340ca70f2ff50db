import Foundation
import GearAPI
import GearAuthorization
import GearCertificates
import GearCore
import GearTestSupport
import Logging
import Synchronization
import Testing

@testable import GearHTTP

/// Requests another transport carries (the bus) run through the same routes and authorizer as HTTPS: the operation
/// must be the endpoint's, streams are refused, the policy decides with the transport named in the audit trail, and
/// an answer larger than the transport carries is refused.
@Suite struct CarriedRequestTests {
    let root: String
    let systemd: MemorySystemd

    init() throws {
        root = NSTemporaryDirectory() + "gear-carried-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/systemd", withIntermediateDirectories: true)
        systemd = MemorySystemd(unitDirectory: root + "/systemd")
    }

    final class Recorder: AuditSink {
        let records = Mutex<[AuditRecord]>([])
        func record(_ record: AuditRecord) { records.withLock { $0.append(record) } }
    }

    static let admin = Caller.certificate(PeerIdentity(commonName: "orch", organizationalUnits: ["admin"], serial: "01", fingerprint: "aa"))
    static let reader = Caller.certificate(PeerIdentity(commonName: "watcher", organizationalUnits: ["reader"], serial: "02", fingerprint: "bb"))

    static func carried(
        _ method: String, _ path: String, _ operation: GearAuthorization.Operation, caller: Caller = admin, body: String = ""
    ) -> CarriedRequest {
        CarriedRequest(
            method: method, path: path, body: Array(body.utf8), requestID: UUID().uuidString.lowercased(), caller: caller, operation: operation,
            transport: "nats")
    }

    @Test func carriedRequestsRunAsOverHTTPSAndAreDecidedByThePolicy() async throws {
        let agent = try await makeTestAgent(root: root, systemd: systemd)
        let audit = Recorder()
        let server = GearHTTPServer(
            agent: agent, logger: Logger(label: "test"), authorizer: Authorizer(policy: PolicyStore(policy: .default), audit: audit))
        let installed = await server.answer(
            Self.carried("PUT", "/container/web?wait=10", .containerInstall, body: #"{"Runtime":"exec","Cmd":["/bin/sleep","9"],"Started":true}"#),
            maxAnswer: 1 << 20)
        #expect(installed.status == 200 && String(decoding: installed.body, as: UTF8.self).contains(#""succeeded""#), "\(installed)")
        let status = await server.answer(Self.carried("GET", "/container/web/status", .containerRead, caller: Self.reader), maxAnswer: 1 << 20)
        #expect(status.status == 200 && String(decoding: status.body, as: UTF8.self).contains(#""id":"web""#))

        let refused = await server.answer(Self.carried("PUT", "/container/web/stopped", .containerStop, caller: Self.reader), maxAnswer: 1 << 20)
        #expect(refused.status == 403)
        let decision = try #require(audit.records.withLock { $0.last })
        #expect(!decision.allowed && decision.origin.transport == "nats" && decision.operation == "container.stop")

        let mismatch = await server.answer(Self.carried("PUT", "/container/web/stopped", .containerRead, caller: Self.reader), maxAnswer: 1 << 20)
        #expect(mismatch.status == 400 && String(decoding: mismatch.body, as: UTF8.self).contains("not container.read"))
        let stream = await server.answer(Self.carried("GET", "/container/web/log", .logsRead), maxAnswer: 1 << 20)
        #expect(stream.status == 400 && String(decoding: stream.body, as: UTF8.self).contains("use HTTPS"))
        let tooLarge = await server.answer(Self.carried("GET", "/containers", .containerList), maxAnswer: 16)
        #expect(tooLarge.status == 413, "\(tooLarge)")
        let malformed = await server.answer(Self.carried("GET", "containers", .containerList), maxAnswer: 1 << 20)
        #expect(malformed.status == 400)
        // Nothing a reader or a mismatch asked for ran: the container still runs.
        #expect(try await agent.status(try ContainerID("web")).activeState == "active")
    }
}

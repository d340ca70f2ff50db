import Foundation
import GearCertificates
import Synchronization
import Testing

@testable import GearAuthorization

/// The decision without any transport: what a second transport (a config-store watcher, a bus) gets when it asks.
@Suite struct AuthorizerTests {
    final class Recorder: AuditSink {
        let records = Mutex<[AuditRecord]>([])
        func record(_ record: AuditRecord) { records.withLock { $0.append(record) } }
        var all: [AuditRecord] { records.withLock { $0 } }
    }

    static func certificate(_ cn: String, ou: [String]) -> Caller {
        .certificate(PeerIdentity(commonName: cn, organizationalUnits: ou, serial: "01", fingerprint: "ff"))
    }

    static func ask(_ caller: Caller, _ operation: GearAuthorization.Operation?, container: String? = nil, token: String? = nil) -> AccessRequest {
        AccessRequest(
            caller: caller, operation: operation, target: container, token: token, requestID: "r1",
            origin: RequestOrigin(transport: "watch", request: "/gear/v1/desired/node1/containers/\(container ?? "")"))
    }

    let scoped = AccessPolicy(grants: [
        .init(identity: try! IdentityMatcher(parsing: "cn:tenant"), role: "operator", containers: .patterns(["tenant-a-*"]))
    ])

    @Test func localCallersMayDoEverythingAndNobodyNothing() async throws {
        let audit = Recorder()
        let authorizer = Authorizer(policy: PolicyStore(policy: .default), audit: audit)
        let local = try await authorizer.authorize(Self.ask(.local(listener: "unix"), .containerDelete, container: "web"))
        #expect(!local.isRestricted && local.allows(container: "anything"))
        await #expect(throws: AuthorizationError.self) { _ = try await authorizer.authorize(Self.ask(.unauthenticated, .containerRead)) }
        #expect(throws: AuthorizationError.self) { try authorizer.authenticate(Self.ask(.unauthenticated, nil)) }
        #expect(audit.all.isEmpty)
    }

    @Test func aConfigStoreChangesContainersAndEnvironmentsOnlyAndIsAudited() async throws {
        let audit = Recorder()
        let authorizer = Authorizer(policy: PolicyStore(policy: .default), audit: audit)
        let store = Caller.configStore(source: "etcd node1")
        for operation in [GearAuthorization.Operation.containerInstall, .containerStart, .containerStop, .containerDelete, .environmentWrite] {
            let allowed = try await authorizer.authorize(Self.ask(store, operation, container: "web"))
            #expect(!allowed.isRestricted)
        }
        for operation in [GearAuthorization.Operation.filesWrite, .imagesWrite, .filesRead, .metricsRead] {
            await #expect(throws: AuthorizationError.self) { _ = try await authorizer.authorize(Self.ask(store, operation, container: "web")) }
        }
        await #expect(throws: AuthorizationError.self) { _ = try await authorizer.authorize(Self.ask(store, nil)) }
        let records = audit.all
        #expect(records.count == 10)
        #expect(records.allSatisfy { $0.identity == "config store etcd node1" && $0.roles == ["config-store"] })
        #expect(
            records.filter(\.allowed).map(\.operation) == [
                "container.install", "container.start", "container.stop", "container.delete", "environment.write",
            ])
    }

    @Test func aScopedCallerIsKeptToItsContainersAndEveryDecisionIsRecorded() async throws {
        let audit = Recorder()
        let authorizer = Authorizer(policy: PolicyStore(policy: scoped), audit: audit)
        let tenant = Self.certificate("tenant", ou: ["admin"])
        let allowed = try await authorizer.authorize(Self.ask(tenant, .containerStop, container: "tenant-a-web"))
        #expect(allowed.isRestricted && allowed.allows(container: "tenant-a-db") && !allowed.allows(container: "tenant-b-db"))
        #expect(allowed.filter(["tenant-a-1", "tenant-b-1", "tenant-a-2"]) { $0 } == ["tenant-a-1", "tenant-a-2"])
        #expect(throws: AuthorizationError.self) { try allowed.permit(environment: "shared") }
        try allowed.permit(environment: "tenant-a-env")

        do {
            _ = try await authorizer.authorize(Self.ask(tenant, .containerStop, container: "tenant-b-web"))
            Issue.record("stopping another tenant's container was allowed")
        } catch let error as AuthorizationError {
            guard case .forbidden(let message) = error else { throw error }
            #expect(message.contains("container.stop on tenant-b-web is outside what operator[tenant-a-*] allows"))
        }
        // The policy file overrides the OU: admin in the certificate gives nothing beyond the grant.
        await #expect(throws: AuthorizationError.self) {
            _ = try await authorizer.authorize(Self.ask(tenant, .filesWrite, container: "tenant-a-web"))
        }
        // Something the transport names no operation for is refused.
        await #expect(throws: AuthorizationError.self) { _ = try await authorizer.authorize(Self.ask(tenant, nil)) }

        let records = audit.all
        #expect(records.map(\.allowed) == [true, false, false, false])
        #expect(records[0].operation == "container.stop" && records[0].target == "tenant-a-web" && records[0].origin.transport == "watch")
        #expect(records[3].operation == "-" && records[3].reason == "the request names no operation")
    }

    @Test func aRevokedCertificateIsRefusedAndRecordedEvenWithoutAnOperation() throws {
        let audit = Recorder()
        let authorizer = Authorizer(policy: PolicyStore(policy: .default), audit: audit)
        let peer = PeerIdentity(commonName: "lost", organizationalUnits: ["admin"], serial: "02", fingerprint: "ee")
        #expect(throws: AuthorizationError.self) { try authorizer.authenticate(Self.ask(.rejected(peer, reason: "revoked"), nil)) }
        #expect(audit.all.map(\.reason) == ["revoked"])
    }

    @Test func tokensNeedAVerifierAndTheAuditLevelChoosesWhatIsRecorded() async throws {
        let audit = Recorder()
        let authorizer = Authorizer(policy: PolicyStore(policy: .default), audit: audit, level: .denials)
        let admin = Self.certificate("ops", ou: ["admin"])
        _ = try await authorizer.authorize(Self.ask(admin, .containerInstall, container: "web"))
        await #expect(throws: AuthorizationError.self) {
            _ = try await authorizer.authorize(Self.ask(admin, .containerInstall, container: "web", token: "abc"))
        }
        #expect(audit.all.map(\.reason) == ["this node accepts no delegation tokens"])
    }

    @Test func auditLevels() {
        #expect(AuditLevel.all.records(allowed: true, operation: .containerRead))
        #expect(!AuditLevel.changes.records(allowed: true, operation: .containerRead))
        #expect(AuditLevel.changes.records(allowed: true, operation: .containerStop))
        #expect(AuditLevel.changes.records(allowed: false, operation: .containerRead))
        #expect(!AuditLevel.denials.records(allowed: true, operation: .containerStop))
        #expect(AuditLevel.denials.records(allowed: false, operation: nil))
    }
}

import Foundation
import GearCertificates
import Testing
import X509

@testable import GearAuthorization

/// The bus's signed requests and replies: a good one verifies and names its signer; every way of forging,
/// redirecting, replaying late or tampering with one is refused, with the reason.
@Suite struct BusEnvelopeTests {
    let directory = NSTemporaryDirectory() + "gear-bus-\(UUID().uuidString)"
    let ca: CertificateAuthority
    let other: CertificateAuthority
    let rid = "0123456789abcdef0123456789abcdef"
    let body = Array(#"{"Image":"busybox"}"#.utf8)

    init() throws {
        ca = try CertificateAuthority.create(commonName: "test CA")
        other = try CertificateAuthority.create(commonName: "other CA")
        _ = try PEMFiles.write(try ca.issue(.client("orch", role: "admin")), name: "orch", directory: directory)
        _ = try PEMFiles.write(try ca.issue(.node("node1")), name: "node1", directory: directory)
        _ = try PEMFiles.write(try ca.issue(.node("node2")), name: "node2", directory: directory)
        _ = try PEMFiles.write(try other.issue(.client("orch", role: "admin")), name: "stranger", directory: directory)
    }

    func signer(_ name: String) throws -> TokenSigner {
        try TokenSigner(certificateFile: "\(directory)/\(name).crt", keyFile: "\(directory)/\(name).key")
    }

    func claims(
        node: String = "node1", op: String = "container.install", caller: String = "orch", ttl: Int64 = 60, iat: Int64? = nil
    ) -> BusRequest.Claims {
        let now = iat ?? Int64(Date().timeIntervalSince1970)
        return .init(
            rid: rid, caller: caller, node: node, op: op, method: "PUT", path: "/container/web", sha256: BusRequest.digest(body), iat: now,
            exp: now + ttl)
    }

    func verify(
        _ text: String, node: String = "node1", subject: String? = nil, replyTo: String? = nil, body: [UInt8]? = nil
    ) async throws -> PeerIdentity {
        try await BusRequest(parsing: text).verify(
            node: node, subject: subject ?? "gear.v1.req.\(node).container.install", replyTo: replyTo ?? "gear.v1.rep.orch.\(node).\(rid)",
            body: body ?? self.body, roots: [ca.certificate])
    }

    @Test func aSignedRequestVerifiesAndNamesItsCaller() async throws {
        let text = try BusRequest.sign(claims(), signer: signer("orch"))
        let caller = try await verify(text)
        #expect(caller.commonName == "orch" && caller.organizationalUnits == ["admin"])
        // A broadcast verifies on every node, on the broadcast subject.
        let broadcast = try BusRequest.sign(claims(node: "*", op: "container.read"), signer: signer("orch"))
        for node in ["node1", "node2"] {
            #expect(try await verify(broadcast, node: node, subject: "gear.v1.bcast.container.read").commonName == "orch")
        }
    }

    @Test func badRequestsAreRefusedWithTheirReason() async throws {
        let good = try BusRequest.sign(claims(), signer: signer("orch"))
        let cases: [(String, () async throws -> Void)] = [
            ("for node1, not node2", { _ = try await verify(good, node: "node2") }),
            ("came on", { _ = try await verify(good, subject: "gear.v1.req.node1.container.delete") }),
            (
                "method or path",
                {
                    var bad = claims()
                    bad.path = "/container/web\r\nX: y"
                    _ = try await verify(try BusRequest.sign(bad, signer: signer("orch")))
                }
            ),
            ("cannot be in a subject", { _ = try await verify(try BusRequest.sign(claims(op: "container.*"), signer: signer("orch"))) }),
            ("reply subject", { _ = try await verify(good, replyTo: "gear.v1.rep.spy.node1.\(rid)") }),
            ("reply subject", { _ = try await verify(good, replyTo: "gear.v1.rep.orch.node1.ffffffffffffffffffffffffffffffff") }),
            ("body is not the one signed", { _ = try await verify(good, body: Array(#"{"Image":"evil"}"#.utf8)) }),
            ("expired", { _ = try await verify(try BusRequest.sign(claims(ttl: 60, iat: 1_000_000), signer: signer("orch"))) }),
            (
                "not valid yet",
                { _ = try await verify(try BusRequest.sign(claims(iat: Int64(Date().timeIntervalSince1970) + 3600), signer: signer("orch"))) }
            ),
            ("at most 300 seconds", { _ = try await verify(try BusRequest.sign(claims(ttl: 3600), signer: signer("orch"))) }),
            ("does not chain", { _ = try await verify(try BusRequest.sign(claims(), signer: signer("stranger"))) }),
            ("names the caller orch", { _ = try await verify(try BusRequest.sign(claims(), signer: signer("node2"))) }),
            ("signature does not verify", { _ = try await verify(Self.tamper(good)) }),
            ("three base64url parts", { _ = try await verify("abc.def") }),
            (
                "not an ES256",
                {
                    let token = try signer("orch").sign(
                        DelegationToken.Claims(
                            iss: "orch", sub: "cn:node1", aud: "node1", ops: [], containers: nil, nbf: 0, exp: 1, jti: "x", once: nil),
                        type: DelegationToken.type)
                    _ = try await verify(token)
                }
            ),
        ]
        for (reason, attempt) in cases {
            do {
                try await attempt()
                Issue.record("not refused: \(reason)")
            } catch {
                #expect("\(error)".contains(reason), "\(error)")
            }
        }
        // A request id that is not canonical cannot be a job id or a reply token.
        var odd = claims()
        odd.rid = "0123456789ABCDEF0123456789ABCDEF"
        let oddText = try BusRequest.sign(odd, signer: signer("orch"))
        await #expect(throws: AuthorizationError.self) {
            _ = try await BusRequest(parsing: oddText).verify(
                node: "node1", subject: "gear.v1.req.node1.container.install", replyTo: "gear.v1.rep.orch.node1.\(odd.rid)", body: body,
                roots: [ca.certificate]
            )
        }
    }

    /// The claims changed after signing (the caller's intent altered on the way: `install` made `delete`).
    static func tamper(_ text: String) -> String {
        let parts = text.split(separator: ".").map(String.init)
        let claims = String(decoding: Base64URL.decode(Substring(parts[1]))!, as: UTF8.self).replacingOccurrences(of: "install", with: "delete")
        return [parts[0], Base64URL.encode(Data(claims.utf8)), parts[2]].joined(separator: ".")
    }

    @Test func aReplyIsAcceptedOnlyFromTheNodeAskedOnItsSubjectForTheLiveRequest() async throws {
        let request = claims()
        let answer = Array(#"{"state":"succeeded"}"#.utf8)
        func reply(_ signer: String, node: String = "node1", rid: String? = nil, status: Int = 200) throws -> String {
            try BusReply.sign(
                .init(rid: rid ?? self.rid, caller: "orch", node: node, status: status, sha256: BusRequest.digest(answer), iat: 0),
                signer: self.signer(signer))
        }
        func verify(_ text: String, subject: String? = nil, body: [UInt8]? = nil, for asked: BusRequest.Claims? = nil) async throws -> String {
            try await BusReply(parsing: text).verify(
                asked ?? request, subject: subject ?? "gear.v1.rep.orch.node1.\(rid)", body: body ?? answer, roots: [ca.certificate])
        }
        #expect(try await verify(try reply("node1")) == "node1")
        let cases: [(String, () async throws -> Void)] = [
            // node2 signs a reply claiming to be node1: its certificate says otherwise.
            ("names the node node1, its certificate another", { _ = try await verify(try reply("node2")) }),
            // node2 answers as itself, to a request that asked node1 only.
            ("node2 was not asked", { _ = try await verify(try reply("node2", node: "node2"), subject: "gear.v1.rep.orch.node2.\(rid)") }),
            ("not on node1's reply subject", { _ = try await verify(try reply("node1"), subject: "gear.v1.rep.orch.node1.other") }),
            ("answers another request", { _ = try await verify(try reply("node1", rid: "ffffffffffffffffffffffffffffffff")) }),
            ("body is not the one signed", { _ = try await verify(try reply("node1"), body: Array(#"{"state":"failed"}"#.utf8)) }),
            // A caller's client certificate (no server usage) cannot sign a node's reply.
            ("may not serve", { _ = try await verify(try reply("orch", node: "orch")) }),
        ]
        for (reason, attempt) in cases {
            do {
                try await attempt()
                Issue.record("not refused: \(reason)")
            } catch {
                #expect("\(error)".contains(reason), "\(error)")
            }
        }
        // A broadcast takes replies from any node, each on its own subject.
        let broadcast = claims(node: "*", op: "container.read")
        #expect(try await verify(try reply("node2", node: "node2"), subject: "gear.v1.rep.orch.node2.\(rid)", for: broadcast) == "node2")
    }
}

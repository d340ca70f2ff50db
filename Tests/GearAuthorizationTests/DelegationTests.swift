import Foundation
import GearCertificates
import Testing
import X509

@testable import GearAuthorization

/// Delegation tokens: what a good one grants (never more than its issuer has), and every way a bad one is refused.
@Suite struct DelegationTests {
    let directory = NSTemporaryDirectory() + "gear-tokens-\(UUID().uuidString)"
    let ca: CertificateAuthority
    let holder: PeerIdentity
    let stranger: PeerIdentity

    init() throws {
        ca = try CertificateAuthority.create(commonName: "test CA")
        _ = try PEMFiles.write(try ca.issue(.client("orchestrator", role: "operator")), name: "orchestrator", directory: directory)
        _ = try PEMFiles.write(try ca.issue(.client("watcher", role: "reader")), name: "watcher", directory: directory)
        holder = try PeerIdentity(certificate: try ca.issue(.node("node1")).certificate)
        stranger = try PeerIdentity(certificate: try ca.issue(.node("node3")).certificate)
    }

    func verifier(roots: [Certificate]? = nil) throws -> DelegationVerifier {
        let trust = TokenTrust(roots: roots ?? [ca.certificate], audiences: ["node2", "node2.example.org"])
        return DelegationVerifier(trust: { trust }, ledger: try UsedTokenLedger(path: directory + "/used.json"))
    }

    func token(
        issuer: String = "orchestrator", sub: String = "cn:node1", aud: String = "node2", ops: [String] = ["container.read", "container.restart"],
        containers: [String]? = ["web-*"], nbf: Int64? = nil, ttl: Int64 = 300, once: Bool? = nil
    ) throws -> String {
        let start = nbf ?? Int64(Date().timeIntervalSince1970)
        let signer = try TokenSigner(certificateFile: "\(directory)/\(issuer).crt", keyFile: "\(directory)/\(issuer).key")
        return try signer.sign(
            .init(iss: issuer, sub: sub, aud: aud, ops: ops, containers: containers, nbf: start, exp: start + ttl, jti: UUID().uuidString, once: once)
        )
    }

    @Test func aGoodTokenGrantsItsOperationsOnItsContainers() async throws {
        let verified = try await verifier().verify(try token(), holder: holder, policy: .default)
        #expect(verified.access.allows(.containerRestart, container: "web-1"))
        #expect(verified.access.allows(.containerRead, container: "web-2"))
        #expect(!verified.access.allows(.containerRestart, container: "db-1"))
        #expect(!verified.access.allows(.containerDelete, container: "web-1"))
        #expect(verified.issuer.commonName == "orchestrator")
        #expect(verified.access.scope(of: .containerRead).contains("web-9") && !verified.access.scope(of: .containerRead).contains("db"))
    }

    @Test func aTokenGrantsNoMoreThanItsIssuerHas() async throws {
        // The watcher is a reader: its token's restart is worth nothing, its read stays.
        let verified = try await verifier().verify(try token(issuer: "watcher"), holder: holder, policy: .default)
        #expect(!verified.access.allows(.containerRestart, container: "web-1"))
        #expect(verified.access.allows(.containerRead, container: "web-1"))
        // An issuer the policy scopes to tenant-a-* cannot hand out web-*.
        let policy = try AccessPolicy(
            json: Data(#"{"grants": [{"identity": "cn:orchestrator", "role": "operator", "containers": ["tenant-a-*"]}]}"#.utf8))
        let scoped = try await verifier().verify(try token(containers: nil), holder: holder, policy: policy)
        #expect(scoped.access.allows(.containerRestart, container: "tenant-a-web") && !scoped.access.allows(.containerRestart, container: "web-1"))
    }

    @Test func badTokensAreRefused() async throws {
        let verifier = try self.verifier()
        let good = try token()
        var parts = good.split(separator: ".").map(String.init)
        // Tampered: the claims say db-* now, the signature was for web-*.
        let claims = try #require(
            Data(base64Encoded: parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "=="))
        let changed = String(decoding: claims, as: UTF8.self).replacingOccurrences(of: "web-*", with: "db-*")
        parts[1] = Data(changed.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        let cases: [(String, PeerIdentity, String)] = [
            (parts.joined(separator: "."), holder, "signature"),
            (try token(aud: "node9"), holder, "not this node"),
            (good, stranger, "another holder"),
            (try token(sub: "*"), holder, "another holder"),
            (try token(nbf: Int64(Date().timeIntervalSince1970) - 4000), holder, "expired"),
            (try token(nbf: Int64(Date().timeIntervalSince1970) + 600), holder, "not valid yet"),
            (try token(ttl: 7200), holder, "at most 3600"),
            (try token(ops: ["container.explode"]), holder, "unknown operation"),
            (try token(containers: ["../x"]), holder, "patterns"),
            ("abc", holder, "three base64url parts"),
            ("e30.e30.e30", holder, "header"),
        ]
        for (text, who, reason) in cases {
            await #expect {
                _ = try await verifier.verify(text, holder: who, policy: .default)
            } throws: { error in
                "\(error)".contains(reason)
            }
        }
        // An issuer from another CA.
        let other = try CertificateAuthority.create(commonName: "other")
        await #expect(throws: AuthorizationError.self) {
            _ = try await self.verifier(roots: [other.certificate]).verify(good, holder: holder, policy: .default)
        }
    }

    @Test func aOneTimeTokenIsUsedOnceEvenAcrossARestart() async throws {
        let once = try token(once: true)
        let first = try await verifier().verify(once, holder: holder, policy: .default)
        try verifier().consume(first.claims)
        // The ledger is on disk: a new verifier (geard restarted) refuses the replay.
        let again = try await verifier().verify(once, holder: holder, policy: .default)
        #expect(throws: AuthorizationError.self) { try verifier().consume(again.claims) }
        // A reusable token may be presented again.
        let reusable = try await verifier().verify(try token(), holder: holder, policy: .default)
        try verifier().consume(reusable.claims)
        try verifier().consume(reusable.claims)
    }
}

import Foundation
import GearCertificates
import Testing
import X509

/// The chain cache answers as a fresh validation would: per roots and usage, successes only.
struct ChainCacheTests {
    @Test func aCachedChainIsTrustedOnlyForTheSameRootsAndUsage() async throws {
        let directory = NSTemporaryDirectory() + "gear-chains-\(UUID().uuidString)"
        let ca = try CertificateAuthority.create(commonName: "test CA")
        let other = try CertificateAuthority.create(commonName: "other CA")
        _ = try PEMFiles.write(try ca.issue(.client("orch", role: "admin")), name: "orch", directory: directory)
        let text = try TokenSigner(certificateFile: "\(directory)/orch.crt", keyFile: "\(directory)/orch.key").sign(["a": 1], type: "t")
        let jws = try CompactJWS(parsing: text, type: "t", what: "test")
        let cache = ChainCache()
        for _ in 0..<2 { #expect(await cache.chains(jws, to: [ca.certificate], usage: .clientAuth)) }
        #expect(!(await cache.chains(jws, to: [other.certificate], usage: .clientAuth)))
        #expect(!(await cache.chains(jws, to: [ca.certificate], usage: .serverAuth)), "a client certificate may not serve")
        // Past its lifetime it is validated again (and still chains).
        #expect(await cache.chains(jws, to: [ca.certificate], usage: .clientAuth, now: Date().addingTimeInterval(3600)))
    }
}

import Foundation
import GearCertificates
import Testing

@testable import GearHTTP

/// The deny list of revoked certificates the HTTPS listener reads.
@Suite struct DenyListTests {
    static func identity(cn: String) -> PeerIdentity {
        PeerIdentity(commonName: cn, organizationalUnits: [], uris: [], serial: "0abc", fingerprint: String(repeating: "ab", count: 32))
    }

    @Test func denyListReadsSerialsAndFingerprints() throws {
        let path = NSTemporaryDirectory() + "deny-\(UUID().uuidString)"
        try """
        # revoked 2026-11-23
        serial:0A:BC
        \(String(repeating: "cd", count: 32))   # a laptop
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let list = try DenyList(path: path)
        #expect(list.reason(for: Self.identity(cn: "x")) != nil)
        var other = Self.identity(cn: "y")
        other.serial = "0def"
        #expect(list.reason(for: other) == nil)
        other.fingerprint = String(repeating: "cd", count: 32)
        #expect(list.reason(for: other) != nil)
        try "serial:xyz\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: TLSSetupError.self) { try DenyList(path: path) }
    }
}

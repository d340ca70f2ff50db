import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Hostile HTTP/2 peers against geard's HTTPS listener (`contrib/abuse/h2-flood.py`, an authenticated client that
/// floods one kind of frame and keeps sending after geard's GOAWAY): each is cut off within a bounded time, geard's
/// memory stays within a bound, and a well-behaved client is served meanwhile.
@Suite(.enabled(if: Sandbox.enabled), .serialized)
struct HTTP2AbuseTests {
    struct Outcome: Decodable {
        var attack: String
        var sentBytes: Int
        var goaway: Int?
        var closedAfter: Double?
        var closedAfterGoaway: Double?
    }

    static let setup = Task { () throws -> (pki: String, geard: GeardProcess, https: Int) in
        let pki = "/tmp/gear-h2-pki-\(UUID().uuidString.prefix(8))"
        for command in [
            "certs init --out \(pki)", "certs issue node node1 --ip 127.0.0.1 --out \(pki)", "certs issue client flood --role reader --out \(pki)",
        ] {
            let result = try sh("\(Sandbox.gearPath) \(command)")
            guard result.status == 0 else { throw TestFailure("gear \(command): \(result.output)") }
        }
        let https = GeardProcess.freePort()
        let geard = try await GeardProcess.start(arguments: [
            "--https", "127.0.0.1:\(https)", "--tls-cert", "\(pki)/node1.crt", "--tls-key", "\(pki)/node1.key", "--tls-ca", "\(pki)/ca.crt",
            "--audit", "denials",
        ])
        return (pki, geard, https)
    }

    /// (attack, whether geard must close the connection). Every flood past one of NIOHTTP2's limits is cut off;
    /// WINDOW_UPDATE frames of 1 byte are within them (a client may send many while it downloads): that connection
    /// stays, and costs bounded memory.
    @Test(arguments: [
        ("continuation", true), ("rst", true), ("ping", true), ("settings", true), ("window-update", false), ("priority", true),
        ("empty-data", true), ("streams", true), ("zero-window", true),
    ])
    func aFloodIsCutOffOrBoundedAndOthersAreServed(_ attack: String, _ mustClose: Bool) async throws {
        let (pki, geard, https) = try await Self.setup.value
        let pid = geard.process.processIdentifier
        let before = LogTests.rssKiB(pid)
        // The flood runs for 6 s; a well-behaved client calls meanwhile.
        let flood = Process()
        flood.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        flood.arguments = [
            "contrib/abuse/h2-flood.py", "127.0.0.1", "\(https)", "\(pki)/ca.crt", "\(pki)/flood.crt", "\(pki)/flood.key", attack, "6",
        ]
        let pipe = Pipe()
        flood.standardOutput = pipe
        flood.standardError = pipe
        try flood.run()
        var slowest = 0.0
        var peak = before
        for _ in 0..<25 {
            try await Task.sleep(for: .milliseconds(250))
            peak = max(peak, LogTests.rssKiB(pid))
            let time = try sh(
                "curl -s -o /dev/null -w '%{http_code} %{time_total}' --cacert \(pki)/ca.crt --cert \(pki)/flood.crt --key \(pki)/flood.key https://127.0.0.1:\(https)/node"
            ).output.split(separator: " ")
            #expect(time.first == "200", "\(attack): a well-behaved call failed: \(time)")
            slowest = max(slowest, Double(time.last ?? "") ?? 99)
        }
        flood.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let outcome = try JSONDecoder().decode(Outcome.self, from: Data((output.split(separator: "\n").last ?? "").utf8))
        print(
            "h2 \(attack): sent \(outcome.sentBytes / 1024) KiB, GOAWAY \(outcome.goaway.map(String.init) ?? "-"), closed after \(outcome.closedAfter.map { "\($0) s" } ?? "never"), RSS \(before / 1024) -> peak \(peak / 1024) MiB, slowest call \(slowest) s"
        )
        if mustClose {
            #expect(outcome.closedAfter != nil, "\(attack): geard kept the connection: \(output)")
            if let after = outcome.closedAfterGoaway { #expect(after < 1.0, "\(attack): closed \(after) s after its GOAWAY") }
            #expect((outcome.closedAfter ?? 99) < 7.0, "\(attack): closed only after \(outcome.closedAfter ?? 0) s")
        }
        #expect(peak - before < 48 * 1024, "\(attack): geard grew from \(before) to \(peak) KiB")
        #expect(slowest < 2.0, "\(attack): a well-behaved call took \(slowest) s")
        #expect(geard.process.isRunning)
    }
}

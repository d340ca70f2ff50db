import Foundation
public import GearAuthorization
public import GearCertificates
import NIOSSL
import Synchronization
import X509

/// Where geard's HTTPS material lives.
public struct TLSFiles: Sendable {
    /// The node's certificate chain (PEM, leaf first).
    public var certificate: String
    /// The node's private key (PEM).
    public var key: String
    /// CA bundles whose certificates client certificates must chain to.
    public var certificateAuthorities: [String]
    /// A deny list of revoked client certificates (one `serial:HEX` or `fingerprint:HEX` per line).
    public var denyList: String?

    public init(certificate: String, key: String, certificateAuthorities: [String], denyList: String? = nil) {
        self.certificate = certificate
        self.key = key
        self.certificateAuthorities = certificateAuthorities
        self.denyList = denyList
    }
}

/// The TLS context new HTTPS connections use, rebuilt from the files on reload (SIGHUP). Connections keep the
/// context they were accepted with, so a reload never drops a live stream.
public final class TLSContextStore: Sendable {
    public let files: TLSFiles
    private let state: Mutex<Loaded>

    public init(files: TLSFiles) throws {
        self.files = files
        self.state = Mutex(try Self.load(files))
    }

    struct Loaded: Sendable {
        var context: NIOSSLContext
        var denied: DenyList
        var trust: TokenTrust
    }

    var current: (context: NIOSSLContext, denied: DenyList) { state.withLock { ($0.context, $0.denied) } }

    /// What delegation tokens are checked against (the CAs and this node's names), as last loaded.
    public var tokenTrust: TokenTrust { state.withLock { $0.trust } }

    /// Why a certificate identity that reached this node by another way (the bus) is refused, if it is revoked.
    public func revocation(of identity: PeerIdentity) -> String? { state.withLock { $0.denied.reason(for: identity) } }

    /// Reads every file again; on an error the material in force stays and the error is thrown.
    public func reload() throws {
        let loaded = try Self.load(files)
        state.withLock { $0 = loaded }
    }

    /// TLS 1.2 or later, a client certificate chaining to the CAs required (the handshake fails without one),
    /// HTTP/2 and HTTP/1.1 by ALPN.
    static func load(_ files: TLSFiles) throws -> Loaded {
        func loading<T>(_ what: String, _ path: String, _ body: () throws -> T) throws -> T {
            do { return try body() } catch { throw TLSSetupError("cannot load the \(what) \(path): \(error)") }
        }
        // Each file is read and parsed once: swift-certificates for names and token trust, its DER for NIOSSL.
        let chain = try loading("certificate", files.certificate) { try PEMFiles.readCertificates(files.certificate) }
        guard let leaf = chain.first else { throw TLSSetupError("\(files.certificate) holds no certificate") }
        let key = try loading("key", files.key) { try NIOSSLPrivateKey(file: files.key, format: .pem) }
        var roots: [Certificate] = []
        for path in files.certificateAuthorities {
            roots += try loading("CA bundle", path) { try PEMFiles.readCertificates(path) }
        }
        guard !roots.isEmpty else { throw TLSSetupError("no CA certificate to verify clients against (--tls-ca)") }
        func nio(_ certificates: [Certificate]) throws -> [NIOSSLCertificate] {
            try certificates.map { try NIOSSLCertificate(bytes: try PEMFiles.der($0), format: .der) }
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try nio(chain).map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .certificates(try nio(roots))
        configuration.sendCANameList = true
        configuration.applicationProtocols = ["h2", "http/1.1"]
        let context = try loading("TLS configuration from", files.certificate) { try NIOSSLContext(configuration: configuration) }
        let denied = try files.denyList.map { path in try loading("deny list", path) { try DenyList(path: path) } } ?? DenyList(entries: [])
        let node = try PeerIdentity(certificate: leaf)
        let audiences = Set(node.dnsNames + [node.commonName].compactMap { $0 })
        return Loaded(context: context, denied: denied, trust: TokenTrust(roots: roots, audiences: audiences))
    }
}

/// Client certificates refused although they verify: revoked before they expire.
struct DenyList: Sendable {
    var serials: Set<String> = []
    var fingerprints: Set<String> = []

    init(entries: [String]) {
        for entry in entries {
            if entry.hasPrefix("fingerprint:") {
                fingerprints.insert(Self.normal(entry.dropFirst("fingerprint:".count)))
            } else if entry.hasPrefix("serial:") {
                serials.insert(Self.normal(entry.dropFirst("serial:".count)))
            }
        }
    }

    /// One entry per line: `serial:HEX`, `fingerprint:HEX` (SHA-256 of the certificate), or bare hex (64 digits is a
    /// fingerprint, else a serial); colons between bytes, case, `#` comments and blank lines are allowed.
    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw TLSSetupError("cannot read \(path)")
        }
        var entries: [String] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line =
                raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)?
                .trimmingCharacters(in: .whitespaces) ?? ""
            if line.isEmpty { continue }
            var kind = ""
            var value = line.lowercased()
            if let colon = value.firstIndex(of: ":"), ["serial", "fingerprint"].contains(String(value[..<colon])) {
                kind = String(value[..<colon])
                value = String(value[value.index(after: colon)...])
            }
            let digits = Self.normal(Substring(value))
            guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit) else {
                throw TLSSetupError("\(path):\(number + 1): '\(line)' is not serial:HEX or fingerprint:HEX")
            }
            if kind.isEmpty { kind = digits.count == 64 ? "fingerprint" : "serial" }
            entries.append("\(kind):\(digits)")
        }
        self.init(entries: entries)
    }

    static func normal(_ text: Substring) -> String {
        let digits = text.lowercased().filter { $0 != ":" && $0 != " " }
        let trimmed = digits.drop { $0 == "0" }
        return trimmed.isEmpty ? digits : String(trimmed)
    }

    /// Why `identity` is refused, or nil.
    func reason(for identity: PeerIdentity) -> String? {
        if serials.contains(Self.normal(Substring(identity.serial))) { return "the client certificate (serial \(identity.serial)) is revoked" }
        if fingerprints.contains(Self.normal(Substring(identity.fingerprint))) { return "the client certificate is revoked" }
        return nil
    }
}

/// HTTPS could not be set up.
public struct TLSSetupError: Error, CustomStringConvertible {
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

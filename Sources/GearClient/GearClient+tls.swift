public import AsyncHTTPClient
import NIOCore
import NIOSSL

/// The TLS material a client presents to geard's HTTPS listener.
public struct ClientTLSFiles: Sendable, Hashable {
    /// CA certificates (PEM) the node's certificate must chain to.
    public var certificateAuthority: String
    /// The client's certificate (PEM).
    public var certificate: String
    /// The client's private key (PEM).
    public var key: String

    public init(certificateAuthority: String, certificate: String, key: String) {
        self.certificateAuthority = certificateAuthority
        self.certificate = certificate
        self.key = key
    }
}

extension GearClient {
    /// An HTTP client that presents `files`' certificate and trusts only its CA (the node's name must be in its
    /// certificate), TLS 1.2 or later, HTTP/2 when the node offers it.
    public static func makeHTTPClient(tls files: ClientTLSFiles) throws -> HTTPClient {
        var configuration = HTTPClient.Configuration(tlsConfiguration: try tlsConfiguration(files))
        // HTTP/1.1: a thin client gains nothing from multiplexing its few calls per host, and over TLS it uploads
        // at least as fast as HTTP/2 (docs/performance.md).
        configuration.httpVersion = .http1Only
        configuration.timeout.connect = .seconds(5)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The TLS side of `makeHTTPClient`: `files`' certificate, trusting only its CA, TLS 1.2 or later.
    static func tlsConfiguration(_ files: ClientTLSFiles) throws -> TLSConfiguration {
        func loading<T>(_ what: String, _ path: String, _ body: () throws -> T) throws -> T {
            do { return try body() } catch { throw GearClientError.tls("cannot load the \(what) \(path): \(error)") }
        }
        let roots = try loading("CA bundle", files.certificateAuthority) { try NIOSSLCertificate.fromPEMFile(files.certificateAuthority) }
        let chain = try loading("certificate", files.certificate) { try NIOSSLCertificate.fromPEMFile(files.certificate) }
        let key = try loading("key", files.key) { try NIOSSLPrivateKey(file: files.key, format: .pem) }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.trustRoots = .certificates(roots)
        tls.certificateChain = chain.map { .certificate($0) }
        tls.privateKey = .privateKey(key)
        return tls
    }
}

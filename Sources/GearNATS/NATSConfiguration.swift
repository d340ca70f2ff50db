import Foundation
public import NIOSSL

/// Where a broker listens: `nats://HOST:PORT`, `tls://HOST:PORT` or `HOST:PORT` (port 4222 when left out).
public struct NATSServerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// `tls://`: the connection must be TLS, whatever the broker offers.
    public var requiresTLS: Bool

    public init(host: String, port: Int, requiresTLS: Bool = false) {
        self.host = host
        self.port = port
        self.requiresTLS = requiresTLS
    }

    /// Reads `nats://HOST:PORT`, `tls://HOST:PORT`, `HOST:PORT` or `[IPv6]:PORT`.
    public init(parsing text: String) throws(NATSError) {
        var rest = Substring(text)
        var tls = false
        if let scheme = rest.range(of: "://") {
            switch rest[..<scheme.lowerBound].lowercased() {
            case "nats": break
            case "tls": tls = true
            default: throw NATSError(.invalidArgument, "broker \(NATSSubject.quoted(text)): the scheme is nats:// or tls://")
            }
            rest = rest[scheme.upperBound...]
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        var host = rest
        var port = 4222
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let value = Int(after.dropFirst()) else {
                    throw NATSError(.invalidArgument, "broker \(NATSSubject.quoted(text)): a port after ]:")
                }
                port = value
            }
        } else if let colon = rest.lastIndex(of: ":") {
            guard let value = Int(rest[rest.index(after: colon)...]) else {
                throw NATSError(.invalidArgument, "broker \(NATSSubject.quoted(text)): the port is a number")
            }
            host = rest[..<colon]
            port = value
        }
        guard !host.isEmpty, !host.contains(where: { $0 == "/" || $0 == "@" || $0.isWhitespace }), (1...65535).contains(port) else {
            throw NATSError(.invalidArgument, "broker \(NATSSubject.quoted(text)): HOST:PORT with a port from 1 to 65535")
        }
        self.init(host: String(host), port: port, requiresTLS: tls)
    }

    public var description: String { "\(requiresTLS ? "tls" : "nats")://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
}

/// How a client connects and what it bounds.
public struct NATSConfiguration: Sendable {
    /// The brokers, tried in turn.
    public var servers: [NATSServerAddress]
    /// The client's TLS (its certificate and the CA it trusts). With it, a broker that does not offer TLS is refused;
    /// without it, one that requires TLS is.
    public var tls: TLSConfiguration?
    /// The connection's name, as the broker shows it.
    public var name: String
    public var connectTimeout: Duration = .seconds(5)
    /// How often the client pings an idle broker, and how many pings may go unanswered before it reconnects.
    public var pingInterval: Duration = .seconds(20)
    public var maxPingsOutstanding = 2
    /// The pause before reconnecting: doubled from `minimum` after each failure up to `maximum`, with jitter.
    public var reconnectDelay: (minimum: Duration, maximum: Duration) = (.milliseconds(100), .seconds(5))
    /// The largest message accepted from the broker (it may announce a smaller `max_payload`, which bounds sends).
    public var maxPayload = 1024 * 1024
    /// How many messages a subscription holds for a consumer that reads slowly; more are dropped and counted (a slow
    /// consumer never makes the connection buffer without bound).
    public var subscriptionBuffer = 1024
    /// Whether the broker delivers the client's own messages to its own subscriptions.
    public var echo = true

    public init(servers: [NATSServerAddress], tls: TLSConfiguration? = nil, name: String) {
        self.servers = servers
        self.tls = tls
        self.name = name
    }
}

extension NATSConfiguration {
    /// TLS for a client of the bus: its certificate and key, trusting only `certificateAuthority` (PEM files), TLS
    /// 1.2 or later.
    public static func clientTLS(certificateAuthority: String, certificate: String, key: String) throws(NATSError) -> TLSConfiguration {
        func loading<T>(_ what: String, _ path: String, _ body: () throws -> T) throws(NATSError) -> T {
            do { return try body() } catch { throw NATSError(.invalidArgument, "cannot load the \(what) \(path): \(error)") }
        }
        let roots = try loading("CA bundle", certificateAuthority) { try NIOSSLCertificate.fromPEMFile(certificateAuthority) }
        let chain = try loading("certificate", certificate) { try NIOSSLCertificate.fromPEMFile(certificate) }
        let privateKey = try loading("key", key) { try NIOSSLPrivateKey(file: key, format: .pem) }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.trustRoots = .certificates(roots)
        tls.certificateChain = chain.map { .certificate($0) }
        tls.privateKey = .privateKey(privateKey)
        return tls
    }
}

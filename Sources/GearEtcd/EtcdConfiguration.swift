public import Foundation

/// GearEtcd: an etcd v3 client over gRPC that authenticates with a TLS client certificate (etcd's
/// `--client-cert-auth` maps its common name to an etcd user), and gear's layout of desired and observed state in
/// etcd. It knows nothing of systemd or HTTP: geard's etcd transport and the `gear` command line both use it.
///
/// Where etcd is and who we are to it.
public struct EtcdConfiguration: Sendable, Hashable {
    /// One etcd member's client address.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var description: String { host.contains(":") ? "https://[\(host)]:\(port)" : "https://\(host):\(port)" }

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// The client's certificate chain and key, and the CA that signed etcd's server certificate (PEM files).
    public struct Credentials: Sendable, Hashable {
        public var certificate: String
        public var key: String
        public var certificateAuthority: String

        public init(certificate: String, key: String, certificateAuthority: String) {
            self.certificate = certificate
            self.key = key
            self.certificateAuthority = certificateAuthority
        }
    }

    public var endpoints: [Endpoint]
    public var credentials: Credentials
    /// How long one call may take before it fails (etcd unreachable, a member without a leader).
    public var callTimeout: Duration = .seconds(5)

    public init(endpoints: [Endpoint], credentials: Credentials) {
        self.endpoints = endpoints
        self.credentials = credentials
    }

    /// Parses `https://HOST:PORT[,https://HOST:PORT...]` (etcd's `--endpoints` form; the port defaults to 2379).
    /// Several endpoints must be IP addresses of one family (tried in turn); a DNS name stands alone.
    public static func endpoints(_ text: String) throws(EtcdError) -> [Endpoint] {
        var endpoints: [Endpoint] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = part.trimmingCharacters(in: .whitespaces)
            guard item.hasPrefix("https://") else {
                throw EtcdError(.invalid, "etcd endpoint '\(item.prefix(80))' must be https://HOST:PORT (gear talks to etcd over TLS only)")
            }
            var rest = Substring(item.dropFirst("https://".count))
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            var host: Substring
            var port = 2379
            if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]") else { throw EtcdError(.invalid, "etcd endpoint '\(item.prefix(80))': no ']'") }
                host = rest[rest.index(after: rest.startIndex)..<close]
                let after = rest[rest.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":"), let value = Int(after.dropFirst()) else {
                        throw EtcdError(.invalid, "etcd endpoint '\(item.prefix(80))': bad port")
                    }
                    port = value
                }
            } else if let colon = rest.lastIndex(of: ":") {
                host = rest[..<colon]
                guard let value = Int(rest[rest.index(after: colon)...]) else {
                    throw EtcdError(.invalid, "etcd endpoint '\(item.prefix(80))': bad port")
                }
                port = value
            } else {
                host = rest
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:".contains($0)) }) else {
                throw EtcdError(.invalid, "etcd endpoint '\(item.prefix(80))': bad host")
            }
            guard (1...65535).contains(port) else { throw EtcdError(.invalid, "etcd endpoint '\(item.prefix(80))': port out of range") }
            endpoints.append(Endpoint(host: String(host), port: port))
        }
        guard !endpoints.isEmpty else { throw EtcdError(.invalid, "no etcd endpoint given") }
        if endpoints.count > 1 {
            let families = Set(endpoints.map { Self.family($0.host) })
            guard families.count == 1, families.first != .name else {
                throw EtcdError(.invalid, "several etcd endpoints must all be IPv4 or all IPv6 addresses (one DNS name may stand alone)")
            }
        }
        return endpoints
    }

    enum Family { case ipv4, ipv6, name }

    static func family(_ host: String) -> Family {
        if host.contains(":") { return .ipv6 }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) { return .ipv4 }
        return .name
    }
}

/// An error from etcd or from talking to it, by what a caller does about it.
public struct EtcdError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// etcd cannot be reached now (no connection, no leader, a timeout): try again later.
        case unavailable
        /// etcd refused the request for this identity (RBAC): retrying will not help.
        case permissionDenied
        /// etcd does not know who we are (no user for the certificate's common name).
        case unauthenticated
        /// The revision asked for was compacted away: read everything again.
        case compacted
        /// A lease, user or role that does not exist.
        case notFound
        /// Something that already exists (a user or role).
        case alreadyExists
        /// A malformed request or configuration.
        case invalid
        case other
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public static func == (lhs: EtcdError, rhs: EtcdError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

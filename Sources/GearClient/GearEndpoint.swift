/// Where a geard is: its unix socket, a host and port over plain HTTP, or over HTTPS with a client certificate.
public enum GearEndpoint: Sendable, Hashable, CustomStringConvertible {
    case unix(path: String)
    case http(host: String, port: Int)
    case https(host: String, port: Int)

    /// The local geard's default socket.
    public static let local = GearEndpoint.unix(path: "/run/gear/geard.sock")

    /// The URL prefix requests go to.
    var baseURL: String {
        switch self {
        case .unix(let path):
            let encoded = path.utf8.map { byte -> String in
                let c = Character(Unicode.Scalar(byte))
                return c.isLetter || c.isNumber || c == "-" || c == "_" || c == "." ? String(c) : "%" + String(byte, radix: 16, uppercase: true)
            }.joined()
            return "http+unix://\(encoded)"
        case .http(let host, let port):
            return host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
        case .https(let host, let port):
            return host.contains(":") ? "https://[\(host)]:\(port)" : "https://\(host):\(port)"
        }
    }

    public var description: String {
        switch self {
        case .unix(let path): path
        case .http(let host, let port), .https(let host, let port): "\(host):\(port)"
        }
    }
}

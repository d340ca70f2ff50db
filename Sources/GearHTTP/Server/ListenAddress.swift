/// Where an HTTP listener accepts connections.
public enum ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// A TCP address (`127.0.0.1:43273`).
    case tcp(host: String, port: Int)
    /// A unix socket created at `path` with `mode` (0600 by default: root only), owned by `group` when given.
    case unix(path: String, mode: UInt32 = 0o600, group: UInt32? = nil)
    /// A socket that is already bound and listening (systemd socket activation).
    case activated(fd: Int32, name: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path, _, _): "unix:\(path)"
        case .activated(let fd, let name): "fd \(fd)\(name.isEmpty ? "" : " (\(name))")"
        }
    }

    /// Parses `HOST:PORT`, `[V6]:PORT` or `:PORT` (all addresses).
    public static func parseTCP(_ text: String) -> ListenAddress? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "0.0.0.0" }
        return .tcp(host: host, port: port)
    }
}

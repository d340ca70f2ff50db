/// `[host[:port]/]id`: a container (or job) on a host; no host means the local geard.
public struct Locator: Sendable, Hashable, CustomStringConvertible {
    /// Where the geard is; nil for the default endpoint.
    public var host: String?
    public var port: Int?
    public var id: String

    public static let defaultPort = 43273
    public static let defaultTLSPort = 43274

    public init(parsing text: String) throws(LocatorError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            host = nil
            port = nil
        case 2:
            let hostPart = parts[0]
            guard !hostPart.isEmpty else { throw LocatorError(text, "the host before '/' is empty") }
            if let colon = hostPart.lastIndex(of: ":"), !hostPart.hasSuffix("]") {
                guard let p = Int(hostPart[hostPart.index(after: colon)...]), (1...65535).contains(p) else {
                    throw LocatorError(text, "the port must be a number from 1 to 65535")
                }
                host = String(hostPart[..<colon])
                port = p
            } else {
                host = String(hostPart)
                port = nil
            }
            if host!.hasPrefix("[") && host!.hasSuffix("]") { host = String(host!.dropFirst().dropLast()) }
            guard let h = host, !h.isEmpty, h.allSatisfy({ $0.isLetter || $0.isNumber || ".-_:".contains($0) }) else {
                throw LocatorError(text, "'\(parts[0])' is not a host name or address")
            }
        default:
            throw LocatorError(text, "use [host[:port]/]id")
        }
        id = String(parts.last!)
        guard !id.isEmpty else { throw LocatorError(text, "the id is empty") }
    }

    /// The locator as it is written; reads back as the same locator (an IPv6 address in brackets).
    public var description: String {
        guard let host else { return id }
        let written = host.contains(":") ? "[\(host)]" : host
        return port.map { "\(written):\($0)/\(id)" } ?? "\(written)/\(id)"
    }
}

/// A locator that cannot be read.
public struct LocatorError: Error, Sendable, CustomStringConvertible {
    public var text: String
    public var reason: String

    init(_ text: String, _ reason: String) {
        self.text = text
        self.reason = reason
    }

    public var description: String { "invalid locator '\(text)': \(reason)" }
}

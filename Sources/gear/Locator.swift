import GearClient

/// `[host[:port]/]id`: a container (or job) on a host; no host means the local geard.
struct Locator: Hashable, CustomStringConvertible {
    /// Where the geard is; nil for the default endpoint.
    var host: String?
    var port: Int?
    var id: String

    static let defaultPort = 43273
    static let defaultTLSPort = 43274

    init(parsing text: String) throws(LocatorError) {
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

    /// The endpoint to call: the host (over HTTPS when the options carry a client certificate), or the default
    /// endpoint (the local socket, --host or GEAR_HOST).
    func endpoint(_ options: GlobalOptions) -> GearEndpoint {
        guard let host else { return options.defaultEndpoint }
        return options.endpoint(host: host, port: port)
    }

    var description: String {
        guard let host else { return id }
        return port.map { "\(host):\($0)/\(id)" } ?? "\(host)/\(id)"
    }
}

/// A locator that cannot be read.
struct LocatorError: Error, CustomStringConvertible {
    var text: String
    var reason: String

    init(_ text: String, _ reason: String) {
        self.text = text
        self.reason = reason
    }

    var description: String { "invalid locator '\(text)': \(reason)" }
}

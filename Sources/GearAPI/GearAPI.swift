/// GearAPI: the vocabulary every side of gear speaks — the node agent, its transports (HTTP, etcd), the authorizer,
/// `gear deploy` and its clients: the wire types of the REST API, errors and their codes (`GearError`), ids and
/// their rules (`ContainerID`, `EnvironmentID`, `RequestID`), unit names, limits, the labels deploys keep and the one
/// `SpecDigest`.
///
/// Codable and Sendable values and pure rules only: no I/O, nothing of systemd, HTTP or the agent; it depends on
/// swift-crypto alone (for the digest). Request bodies are decoded with geard's field names, case-insensitively
/// (`Image`, `image` and `IMAGE` are one field); responses are written in camelCase.
public enum GearAPI {
    /// The TCP port geard listens on by default.
    public static let defaultPort = 43273
    /// The HTTPS port (client certificates required).
    public static let defaultTLSPort = 43274
    /// The unix socket geard listens on by default.
    public static let defaultSocketPath = "/run/gear/geard.sock"
    /// The header that carries a request (and job) id.
    public static let requestIDHeader = "X-Request-Id"
    /// The header with the allocated port mappings of an install (`8080:4000,9090:4001`).
    public static let portMappingHeader = "X-PortMapping"
    /// The largest request body geard reads for JSON calls.
    public static let maxJSONBodySize = 1 << 20
}

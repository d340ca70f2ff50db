/// GearAPI: the wire types of geard's REST API, shared by the server and its clients.
///
/// Codable and Sendable values only: no I/O, no validation beyond shape, no dependencies. Request bodies are
/// decoded with geard's field names, case-insensitively (`Image`, `image` and `IMAGE` are one field); responses
/// are written in camelCase.
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

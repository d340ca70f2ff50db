/// A message the broker delivered to one of the client's subscriptions.
public struct NATSMessage: Sendable, Hashable {
    /// The subject it was published on.
    public var subject: String
    /// The subscription's id on this connection.
    public var sid: UInt64
    /// Where the publisher asked for an answer, if anywhere.
    public var replyTo: String?
    /// Its headers (HMSG), nil for a plain MSG.
    public var headers: NATSHeaders?
    public var payload: [UInt8]

    public init(subject: String, sid: UInt64, replyTo: String? = nil, headers: NATSHeaders? = nil, payload: [UInt8]) {
        self.subject = subject
        self.sid = sid
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }
}

/// What the broker announces about itself (`INFO`), the fields this client reads.
public struct NATSServerInfo: Sendable, Hashable, Decodable {
    public var serverID: String?
    public var serverName: String?
    public var version: String?
    public var maxPayload: Int?
    public var proto: Int?
    public var headers: Bool?
    public var tlsRequired: Bool?
    public var tlsVerify: Bool?
    public var authRequired: Bool?

    enum CodingKeys: String, CodingKey {
        case serverID = "server_id"
        case serverName = "server_name"
        case version
        case maxPayload = "max_payload"
        case proto
        case headers
        case tlsRequired = "tls_required"
        case tlsVerify = "tls_verify"
        case authRequired = "auth_required"
    }
}

/// One thing the broker sends.
public enum NATSServerOperation: Sendable, Hashable {
    case info(NATSServerInfo)
    case message(NATSMessage)
    case ping
    case pong
    case ok
    /// `-ERR` with its text (without the quotes).
    case error(String)
}

public import Foundation

/// One journal entry as `GET /container/{id}/log` answers it in NDJSON (one per line) and SSE (`data:`).
public struct LogEntry: Codable, Sendable, Hashable {
    /// When journald received it (RFC 3339, microseconds).
    public var timestamp: String
    /// Where to resume after this entry (`?cursor=`).
    public var cursor: String
    /// syslog priority, 0 (emergency) to 7 (debug).
    public var priority: Int?
    public var pid: Int?
    /// The message; invalid UTF-8 replaced by U+FFFD (then `messageBase64` holds the exact bytes).
    public var message: String
    public var messageBase64: String?

    public init(timestamp: String, cursor: String, priority: Int? = nil, pid: Int? = nil, message: String, messageBase64: String? = nil) {
        self.timestamp = timestamp
        self.cursor = cursor
        self.priority = priority
        self.pid = pid
        self.message = message
        self.messageBase64 = messageBase64
    }

    /// The message's exact bytes.
    public var messageBytes: Data {
        messageBase64.flatMap { Data(base64Encoded: $0) } ?? Data(message.utf8)
    }
}

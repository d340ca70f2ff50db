public import Logging

/// One authorization decision.
public struct AuditRecord: Sendable {
    public var identity: String
    public var fingerprint: String?
    public var operation: String
    /// The container or named environment it concerned.
    public var target: String?
    public var requestID: String
    public var allowed: Bool
    public var reason: String
    public var roles: [String]
    /// Where the request came from (transport and its words for it).
    public var origin: RequestOrigin

    public init(
        identity: String, fingerprint: String?, operation: String, target: String?, requestID: String, allowed: Bool, reason: String,
        roles: [String], origin: RequestOrigin
    ) {
        self.identity = identity
        self.fingerprint = fingerprint
        self.operation = operation
        self.target = target
        self.requestID = requestID
        self.allowed = allowed
        self.reason = reason
        self.roles = roles
        self.origin = origin
    }
}

/// Which decisions are recorded.
public enum AuditLevel: String, Sendable, CaseIterable {
    /// Every decision.
    case all
    /// Refusals, and allowed operations that change something (reads that were allowed are not recorded).
    case changes
    /// Refusals only.
    case denials

    func records(allowed: Bool, operation: Operation?) -> Bool {
        switch self {
        case .all: true
        case .changes: !allowed || !(operation.map { Operation.reads.contains($0) } ?? false)
        case .denials: !allowed
        }
    }
}

/// Where authorization decisions go. geard sends them to the journal with structured fields; tests keep them.
public protocol AuditSink: Sendable {
    func record(_ record: AuditRecord)
}

/// Decisions as log lines (when there is no journal).
public struct LoggerAuditSink: AuditSink {
    let logger: Logger
    public init(logger: Logger) { self.logger = logger }

    public func record(_ record: AuditRecord) {
        logger.log(
            level: record.allowed ? .info : .notice, "\(record.allowed ? "allowed" : "denied") \(record.operation)",
            metadata: [
                "auth.identity": "\(record.identity)", "auth.operation": "\(record.operation)", "auth.target": "\(record.target ?? "-")",
                "auth.allowed": "\(record.allowed)", "auth.reason": "\(record.reason)", "request.id": "\(record.requestID)",
                "request.origin": "\(record.origin)",
            ])
    }
}

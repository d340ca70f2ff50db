import GearAuthorization
import GearCore

/// Authorization decisions as journal entries with structured fields, so that
/// `journalctl GEAR_AUDIT=1 GEAR_AUTH_DECISION=deny` lists every refusal with who, what and which container.
struct JournalAuditSink: AuditSink {
    init() {}

    func record(_ record: AuditRecord) {
        let decision = record.allowed ? "allow" : "deny"
        let target = record.target.map { " on \($0)" } ?? ""
        var fields: [(name: String, value: String)] = [
            ("MESSAGE", "\(decision) \(record.operation)\(target) for \(record.identity): \(record.reason)"),
            ("PRIORITY", record.allowed ? "6" : "5"),
            ("SYSLOG_IDENTIFIER", "geard"),
            ("GEAR_AUDIT", "1"),
            ("GEAR_AUTH_DECISION", decision),
            ("GEAR_AUTH_IDENTITY", record.identity),
            ("GEAR_AUTH_OPERATION", record.operation),
            ("GEAR_AUTH_REASON", record.reason),
            ("GEAR_AUTH_ROLES", record.roles.joined(separator: " ")),
            ("GEAR_REQUEST_ID", record.requestID),
            ("GEAR_TRANSPORT", record.origin.transport),
            ("GEAR_REQUEST", record.origin.request),
        ]
        if let fingerprint = record.fingerprint { fields.append(("GEAR_AUTH_FINGERPRINT", fingerprint)) }
        if let target = record.target { fields.append(("GEAR_CONTAINER", target)) }
        NodeJournal.send(fields)
    }
}

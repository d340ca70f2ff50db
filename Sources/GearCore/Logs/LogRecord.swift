import Foundation
public import GearAPI
import SystemdJournal

/// One journal entry of a container, as the core hands it to transports: read by the systemd layer, written by
/// whoever serves it (`writeJSON` is the wire form `LogEntry` decodes, without building the Codable value).
public struct LogRecord: Sendable, Hashable {
    /// When journald received it: microseconds since the epoch.
    public var realtime: UInt64
    /// Where a reader resumes after this entry (empty when `LogFields.cursor` was not asked for).
    public var cursor: String
    /// The `MESSAGE` field exactly as stored: it may hold invalid UTF-8, binary data or line breaks.
    public var message: [UInt8]
    /// syslog priority, 0 (emergency) to 7 (debug); nil when absent or not asked for.
    public var priority: Int?
    /// The process that wrote it; nil when absent or not asked for.
    public var pid: Int?
    /// Who logged it (`podman`, `systemd`, the unit's name for a container's output), as journalctl names it; nil
    /// when absent or not asked for. Not written to the wire (`writeJSON`).
    public var identifier: String?

    public init(realtime: UInt64, cursor: String, message: [UInt8], priority: Int? = nil, pid: Int? = nil, identifier: String? = nil) {
        self.realtime = realtime
        self.cursor = cursor
        self.message = message
        self.priority = priority
        self.pid = pid
        self.identifier = identifier
    }

    init(_ entry: JournalEntry) {
        self.init(
            realtime: entry.realtime, cursor: entry.cursor, message: entry.message, priority: entry.priority, pid: entry.pid,
            identifier: entry.identifier)
    }

    /// The message as text, invalid UTF-8 replaced by U+FFFD.
    public var text: String { String(decoding: message, as: UTF8.self) }

    /// The message as one line of text as journalctl shows it: without the line break podman's journald driver
    /// (conmon) ends each line with.
    public var line: String {
        message.last == UInt8(ascii: "\n") ? String(decoding: message.dropLast(), as: UTF8.self) : text
    }

    /// Whether the message is valid UTF-8 (then `LogEntry.message` holds it exactly).
    public var isValidUTF8: Bool {
        if message.allSatisfy({ $0 < 0x80 }) { return true }
        var iterator = message.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// The wire type: what `writeJSON` writes, decoded.
    public var entry: LogEntry {
        let valid = isValidUTF8
        return LogEntry(
            timestamp: String(decoding: RFC3339.bytes(microseconds: Int64(clamping: realtime), fractionDigits: 6), as: UTF8.self), cursor: cursor,
            priority: priority, pid: pid, message: text,
            messageBase64: valid ? nil : Data(message).base64EncodedString())
    }

    /// `{"timestamp":...,"cursor":...,"priority":6,"pid":42,"message":...}`; when the message is not valid
    /// UTF-8, `message` holds it with U+FFFD replacements and `messageBase64` the exact bytes.
    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.key("timestamp")
        w.timestamp(microseconds: Int64(clamping: realtime), fractionDigits: 6)
        w.key("cursor")
        w.string(cursor)
        w.optional("priority", priority) { $0.int($1) }
        w.optional("pid", pid) { $0.int($1) }
        w.key("message")
        if isValidUTF8 {
            message.withUnsafeBufferPointer { w.string(utf8: $0) }
        } else {
            w.string(text)
            w.key("messageBase64")
            w.string(Data(message).base64EncodedString())
        }
        w.endObject()
    }
}

/// Which fields of a `LogRecord` besides the message and the time a read fills in; each costs time per entry.
public struct LogFields: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let cursor = LogFields(rawValue: 1)
    public static let priority = LogFields(rawValue: 2)
    public static let pid = LogFields(rawValue: 4)
    public static let all: LogFields = [.cursor, .priority, .pid]

    var journalFields: JournalFields {
        var fields: JournalFields = []
        if contains(.cursor) { fields.insert(.cursor) }
        if contains(.priority) { fields.insert(.priority) }
        if contains(.pid) { fields.insert(.pid) }
        return fields
    }
}

internal import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// SystemdJournal: Swift over libsystemd's sd-journal. It reads the journal natively (no `journalctl`) and knows
/// nothing of containers or HTTP.
///
/// One journal entry.
public struct JournalEntry: Sendable, Hashable {
    /// Microseconds since the epoch.
    public var realtime: UInt64
    /// The opaque cursor of this entry (empty when it was not asked for).
    public var cursor: String
    /// The `MESSAGE` field exactly as stored: it may hold invalid UTF-8, binary data or line breaks.
    public var message: [UInt8]
    /// `PRIORITY` (0 emergency ... 7 debug), nil when absent or not asked for.
    public var priority: Int?
    /// `_PID`, nil when absent or not asked for.
    public var pid: Int?
    /// Who logged it, as journalctl names it: `SYSLOG_IDENTIFIER`, else `_COMM`; nil when absent or not asked for.
    public var identifier: String?

    public init(realtime: UInt64, cursor: String, message: [UInt8], priority: Int? = nil, pid: Int? = nil, identifier: String? = nil) {
        self.realtime = realtime
        self.cursor = cursor
        self.message = message
        self.priority = priority
        self.pid = pid
        self.identifier = identifier
    }

    /// The message as text, invalid UTF-8 replaced by U+FFFD.
    public var text: String { String(decoding: message, as: UTF8.self) }
}

/// Which fields besides the message and the time a read fills in; each costs time per entry.
public struct JournalFields: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let cursor = JournalFields(rawValue: 1)
    public static let priority = JournalFields(rawValue: 2)
    public static let pid = JournalFields(rawValue: 4)
    public static let identifier = JournalFields(rawValue: 8)
    public static let all: JournalFields = [.cursor, .priority, .pid, .identifier]
}

/// An error from sd-journal.
public struct JournalError: Error, Sendable, Hashable, CustomStringConvertible {
    public var errno: Int32
    public var operation: String

    public init(errno: Int32, operation: String) {
        self.errno = errno
        self.operation = operation
    }

    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

/// What changed in the journal files since the last `process()` or `wait(...)`.
public enum JournalChange: Sendable, Hashable {
    /// Nothing.
    case none
    /// Entries were appended.
    case append
    /// Files were added or removed (rotation, vacuuming).
    case invalidate
}

/// Owns an `sd_journal` handle. Not thread-safe (sd-journal is not): use one reader from one thread at a time
/// (it may move between threads between calls), and let it go when done (`deinit` closes the handle and its
/// file descriptors).
///
/// The reader keeps a position. After a seek it may stand on an entry not yet read (`seek(cursor:)`,
/// `seek(realtime:)`, `seekBack(_:)`); `read(...)` returns that entry first, then the ones after it.
public final class JournalReader {
    private var journal: OpaquePointer?
    /// True when the reader stands on an entry that `read` has not returned yet.
    private var standsOnUnreadEntry = false

    /// Opens the local journal (system and user journals of this machine). The C function is `sd_journal_open`.
    public init() throws(JournalError) {
        var j: OpaquePointer? = nil
        let r = sd_journal_open(&j, Int32(SD_JOURNAL_LOCAL_ONLY))
        guard r >= 0, let j else { throw JournalError(errno: -r, operation: "sd_journal_open") }
        journal = j
        // Without this, fields larger than 64 KiB come back truncated.
        _ = sd_journal_set_data_threshold(j, 0)
    }

    deinit {
        sd_journal_close(journal)
    }

    private func check(_ r: Int32, _ operation: String) throws(JournalError) {
        if r < 0 { throw JournalError(errno: -r, operation: operation) }
    }

    /// Restricts reading to the entries of one systemd unit: what its processes logged, and what systemd
    /// logged about it (the `journalctl -u` set, without coredumps).
    public func matchUnit(_ unit: String) throws(JournalError) {
        sd_journal_flush_matches(journal)
        try addMatch("_SYSTEMD_UNIT=\(unit)")
        try check(sd_journal_add_disjunction(journal), "sd_journal_add_disjunction")
        try addMatch("UNIT=\(unit)")
        try addMatch("_PID=1")
    }

    private func addMatch(_ match: String) throws(JournalError) {
        let r = match.withCString { sd_journal_add_match(journal, $0, 0) }
        try check(r, "sd_journal_add_match")
    }

    /// Makes the reader watch the journal directories (inotify), so that `wait(...)` sees appends and files that
    /// come and go (rotation, vacuuming). Each watch is an inotify instance, of which the kernel allows 128 per user
    /// by default: `JournalWatcher` holds the one geard needs.
    public func watch() throws(JournalError) {
        try check(sd_journal_get_fd(journal), "sd_journal_get_fd")
    }

    /// Blocks until the journal changes or `timeoutMicroseconds` pass.
    public func wait(timeoutMicroseconds: UInt64) -> JournalChange {
        Self.change(sd_journal_wait(journal, timeoutMicroseconds))
    }

    private static func change(_ r: Int32) -> JournalChange {
        switch Int(r) {
        case Int(SD_JOURNAL_APPEND): return .append
        case Int(SD_JOURNAL_INVALIDATE): return .invalidate
        default: return .none
        }
    }

    /// Positions before the first entry.
    public func seekHead() throws(JournalError) {
        try check(sd_journal_seek_head(journal), "sd_journal_seek_head")
        standsOnUnreadEntry = false
    }

    /// Positions on the `count`-th entry from the end (or the first, if there are fewer): a read returns the
    /// last `count` entries, then what arrives later. It steps back over entries, it does not scan the journal.
    public func seekBack(_ count: Int) throws(JournalError) {
        try check(sd_journal_seek_tail(journal), "sd_journal_seek_tail")
        try stepBack(count)
    }

    /// Positions on the `count`-th entry before the first entry at or after `realtime`: a read returns the last
    /// `count` entries older than `realtime`, then what follows them.
    public func seekBack(_ count: Int, before realtime: UInt64) throws(JournalError) {
        try seek(realtime: realtime)
        // Nothing at or after `realtime`: the same as counting back from the end.
        guard standsOnUnreadEntry else { return try seekBack(count) }
        try stepBack(count)
        // With nothing before it, the reader stays on the later entry, which `read(until:)` stops at.
        if count > 0 { standsOnUnreadEntry = true }
    }

    /// Steps back `count` entries from the position; with 0, onto the entry before it, marked read.
    private func stepBack(_ count: Int) throws(JournalError) {
        guard count > 0 else {
            try check(sd_journal_previous(journal), "sd_journal_previous")
            standsOnUnreadEntry = false
            return
        }
        let skipped = sd_journal_previous_skip(journal, UInt64(count))
        try check(skipped, "sd_journal_previous_skip")
        standsOnUnreadEntry = skipped > 0
    }

    /// Positions on the first entry at or after `realtime` (microseconds since the epoch).
    public func seek(realtime: UInt64) throws(JournalError) {
        try check(sd_journal_seek_realtime_usec(journal, realtime), "sd_journal_seek_realtime_usec")
        let r = sd_journal_next(journal)
        try check(r, "sd_journal_next")
        standsOnUnreadEntry = r > 0
    }

    /// Positions just after the entry `cursor` names: a read starts with the entry after it. If that entry is
    /// gone (vacuumed), the read starts where it would have been. A malformed cursor is an `EINVAL` error.
    public func seek(after cursor: String) throws(JournalError) {
        try check(cursor.withCString { sd_journal_seek_cursor(journal, $0) }, "sd_journal_seek_cursor")
        let r = sd_journal_next(journal)
        try check(r, "sd_journal_next")
        if r > 0 {
            let same = cursor.withCString { sd_journal_test_cursor(journal, $0) }
            standsOnUnreadEntry = same <= 0
        } else {
            standsOnUnreadEntry = false
        }
    }

    /// The time of the entry the reader stands on, if it stands on an unread one.
    public var unreadEntryRealtime: UInt64? {
        guard standsOnUnreadEntry else { return nil }
        var realtime: UInt64 = 0
        return sd_journal_get_realtime_usec(journal, &realtime) >= 0 ? realtime : nil
    }

    /// Reads forward: up to `maxEntries` entries or about `maxBytes` of messages, stopping before the first
    /// entry later than `until`. `reachedUntil` is true when such an entry was seen (nothing more will come).
    public func read(
        maxEntries: Int, maxBytes: Int, until: UInt64? = nil, fields: JournalFields = .all
    ) throws(JournalError) -> (entries: [JournalEntry], reachedUntil: Bool) {
        var entries: [JournalEntry] = []
        var bytes = 0
        while entries.count < maxEntries, bytes < maxBytes {
            if standsOnUnreadEntry {
                standsOnUnreadEntry = false
            } else {
                let r = sd_journal_next(journal)
                try check(r, "sd_journal_next")
                if r == 0 { break }
            }
            let entry = try currentEntry(fields)
            if let until, entry.realtime > until { return (entries, true) }
            bytes += entry.message.count + 64
            entries.append(entry)
        }
        return (entries, false)
    }

    /// The last `count` entries that match, oldest first.
    public func tail(_ count: Int, fields: JournalFields = .all) throws(JournalError) -> [JournalEntry] {
        try seekBack(count)
        return try read(maxEntries: count, maxBytes: Int.max, fields: fields).entries
    }

    private func field(_ name: String) -> UnsafeRawBufferPointer? {
        var data: UnsafeRawPointer? = nil
        var length = 0
        guard sd_journal_get_data(journal, name, &data, &length) >= 0, let data else { return nil }
        let prefix = name.utf8.count + 1
        guard length >= prefix else { return nil }
        return UnsafeRawBufferPointer(start: data + prefix, count: length - prefix)
    }

    /// A short text field (at most 256 bytes; invalid UTF-8 replaced), nil when absent or empty.
    private func textField(_ name: String) -> String? {
        guard let bytes = field(name), !bytes.isEmpty else { return nil }
        return String(decoding: bytes.prefix(256), as: UTF8.self)
    }

    private func integerField(_ name: String) -> Int? {
        guard let bytes = field(name), !bytes.isEmpty, bytes.count < 20 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private func currentEntry(_ fields: JournalFields) throws(JournalError) -> JournalEntry {
        var realtime: UInt64 = 0
        try check(sd_journal_get_realtime_usec(journal, &realtime), "sd_journal_get_realtime_usec")
        var cursor = ""
        if fields.contains(.cursor) {
            var pointer: UnsafeMutablePointer<CChar>? = nil
            try check(sd_journal_get_cursor(journal, &pointer), "sd_journal_get_cursor")
            if let pointer {
                cursor = String(cString: pointer)
                free(pointer)
            }
        }
        return JournalEntry(
            realtime: realtime,
            cursor: cursor,
            message: field("MESSAGE").map { Array($0) } ?? [],
            priority: fields.contains(.priority) ? integerField("PRIORITY") : nil,
            pid: fields.contains(.pid) ? integerField("_PID") : nil,
            identifier: fields.contains(.identifier) ? (textField("SYSLOG_IDENTIFIER") ?? textField("_COMM")) : nil
        )
    }
}

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
    /// The opaque cursor of this entry.
    public var cursor: String
    /// The `MESSAGE` field, with invalid UTF-8 repaired.
    public var message: String
    /// `PRIORITY` (0 emergency ... 7 debug), nil when absent.
    public var priority: Int?
    /// `_PID`, nil when absent.
    public var pid: Int?
}

/// An error from sd-journal.
public struct JournalError: Error, Sendable, Hashable, CustomStringConvertible {
    public var errno: Int32
    public var operation: String

    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

/// Owns an `sd_journal` handle. Not thread-safe (sd-journal is not): use one reader from one thread at a time,
/// e.g. inside one blocking call on a thread pool, and let it go when done (`deinit` closes the handle).
public final class JournalReader {
    private var journal: OpaquePointer?

    /// Opens the local system journal. The corresponding C function is `sd_journal_open`.
    public init() throws(JournalError) {
        var j: OpaquePointer? = nil
        let r = sd_journal_open(&j, Int32(SD_JOURNAL_LOCAL_ONLY))
        guard r >= 0, let j else { throw JournalError(errno: -r, operation: "sd_journal_open") }
        journal = j
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

    /// The last `count` entries that match, oldest first.
    public func tail(_ count: Int) throws(JournalError) -> [JournalEntry] {
        try check(sd_journal_seek_tail(journal), "sd_journal_seek_tail")
        var entries: [JournalEntry] = []
        while entries.count < count {
            let r = sd_journal_previous(journal)
            try check(r, "sd_journal_previous")
            if r == 0 { break }
            if let entry = try currentEntry() { entries.append(entry) }
        }
        return entries.reversed()
    }

    private func field(_ name: String) -> [UInt8]? {
        var data: UnsafeRawPointer? = nil
        var length = 0
        guard sd_journal_get_data(journal, name, &data, &length) >= 0, let data else { return nil }
        let prefix = name.utf8.count + 1
        guard length >= prefix else { return nil }
        return Array(UnsafeRawBufferPointer(start: data + prefix, count: length - prefix))
    }

    private func currentEntry() throws(JournalError) -> JournalEntry? {
        var realtime: UInt64 = 0
        try check(sd_journal_get_realtime_usec(journal, &realtime), "sd_journal_get_realtime_usec")
        var cursorPointer: UnsafeMutablePointer<CChar>? = nil
        try check(sd_journal_get_cursor(journal, &cursorPointer), "sd_journal_get_cursor")
        defer { free(cursorPointer) }
        let message = field("MESSAGE").map { String(decoding: $0, as: UTF8.self) } ?? ""
        return JournalEntry(
            realtime: realtime,
            cursor: cursorPointer.map { String(cString: $0) } ?? "",
            message: message,
            priority: field("PRIORITY").flatMap { Int(String(decoding: $0, as: UTF8.self)) },
            pid: field("_PID").flatMap { Int(String(decoding: $0, as: UTF8.self)) }
        )
    }
}

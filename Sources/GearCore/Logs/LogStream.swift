import Foundation
public import GearAPI
import Synchronization
import SystemdJournal

/// A container's journal entries, in order, in batches: what `NodeAgent.log(_:query:fields:)` answers.
///
/// One consumer calls `next()` until it answers nil; each call reads at most one batch (bounded in entries and
/// bytes), so a consumer that writes each batch to a slow client before asking for the next gets backpressure:
/// nothing is read ahead. When following, `next()` waits for the journal to change (without holding a thread)
/// and ends when the container is deleted or `until` passes. Dropping the stream closes its journal handle.
public final class LogStream: @unchecked Sendable {
    // @unchecked Sendable: the reader is used by one `next()` at a time (one consumer), on a pool thread.
    private var reader: JournalReader
    private let unit: String
    private let query: LogQuery
    private let fields: JournalFields
    private let watcher: JournalWatcher
    private let stillInstalled: @Sendable () -> Bool
    /// How often a follow without a heartbeat asks `stillInstalled` again while nothing is written (nil: only when
    /// the journal changes).
    private let recheck: Duration?
    private var finished = false
    /// The watcher's epoch when the reader was opened: a later one means journal files came or went.
    private var epoch: UInt64
    /// The cursor of the last entry delivered (follows only): where a reopened reader resumes.
    private var lastCursor: String?
    /// What a read that does not follow may still deliver for `lines=N`: the last N entries when it began, not
    /// also those appended while it reads.
    private var remaining: Int?
    /// Entries a follow delivered since its reader was opened.
    private var readSinceOpen = 0

    /// A follow reopens its reader after this many entries (resuming at its cursor). sd-journal maps the pages of
    /// every entry a reader touches and keeps them mapped while it is open, about 36 KiB per entry read (its data
    /// objects lie on pages of their own): 200 follows of chatty containers grew geard's RSS (shared journal pages,
    /// counted once per reader) by 7 MB/s in the soak. Reopening unmaps them; it costs about a millisecond.
    public static let reopenAfterEntries = 64

    /// Entries and bytes per batch.
    public static let batchEntries = 512
    public static let batchBytes = 256 * 1024

    init(
        reader: JournalReader, unit: String, epoch: UInt64, query: LogQuery, fields: LogFields, watcher: JournalWatcher,
        recheck: Duration? = nil, stillInstalled: @escaping @Sendable () -> Bool
    ) {
        self.recheck = recheck
        self.reader = reader
        self.unit = unit
        self.epoch = epoch
        self.query = query
        // A follow keeps the last cursor, to reopen the journal after a rotation and resume right there.
        self.fields = (query.follow ? fields.union(.cursor) : fields).journalFields
        self.watcher = watcher
        self.stillInstalled = stillInstalled
        self.remaining = query.follow || query.cursor != nil ? nil : query.lines
    }

    /// Opens the journal and positions it for `query` (blocking: run it on a pool thread).
    static func open(unit: String, query: LogQuery) throws(GearError) -> JournalReader {
        do {
            let reader = try JournalReader()
            try reader.matchUnit(unit)
            if let cursor = query.cursor {
                do {
                    try reader.seek(after: cursor)
                } catch {
                    guard error.errno == EINVAL else { throw GearError(.internal, "cannot read the journal: \(error)") }
                    throw GearError.invalid("cursor is not a journal cursor: '\(cursor.prefix(60))'")
                }
            } else if let lines = query.lines {
                if let until = query.until {
                    try reader.seekBack(lines, before: Self.microseconds(until) + 1)
                } else {
                    try reader.seekBack(lines)
                }
                if let since = query.since, let at = reader.unreadEntryRealtime, at < Self.microseconds(since) {
                    try reader.seek(realtime: Self.microseconds(since))
                }
            } else if let since = query.since {
                try reader.seek(realtime: Self.microseconds(since))
            } else {
                try reader.seekHead()
            }
            return reader
        } catch let error as GearError {
            throw error
        } catch {
            throw GearError(.internal, "cannot read the journal: \(error)")
        }
    }

    /// Opens the journal again (files were rotated or vacuumed) and resumes right after the last entry delivered.
    private func reopen() async throws {
        epoch = watcher.epoch
        readSinceOpen = 0
        var query = self.query
        if let lastCursor { query.cursor = lastCursor }
        let (unit, resumed) = (self.unit, query)
        reader = try await BlockingIO.run { () throws -> UnsafeReader in UnsafeReader(try Self.open(unit: unit, query: resumed)) }.reader
    }

    static func microseconds(_ date: Date) -> UInt64 {
        UInt64(max(0, (date.timeIntervalSince1970 * 1_000_000).rounded()))
    }

    /// The next batch of entries, or nil when the stream has ended. With `heartbeat`, a follow that waited that long
    /// for a new entry answers an empty batch (the transport's cue for a keep-alive).
    public func next(heartbeat: Duration? = nil) async throws -> [LogRecord]? {
        while !finished {
            if remaining == 0 { break }
            let generation = watcher.generation
            if query.follow, watcher.epoch != epoch || (readSinceOpen >= Self.reopenAfterEntries && lastCursor != nil) {
                try await reopen()
            }
            let (query, fields, reader) = (query, fields, UnsafeReader(reader))
            let maxEntries = min(Self.batchEntries, remaining ?? .max)
            let (entries, reachedUntil) = try await BlockingIO.run { () throws -> ([JournalEntry], Bool) in
                try reader.reader.read(
                    maxEntries: maxEntries, maxBytes: Self.batchBytes,
                    until: query.until.map(Self.microseconds), fields: fields)
            }
            if reachedUntil { finished = true }
            if let left = remaining { remaining = left - entries.count }
            if let last = entries.last, query.follow {
                lastCursor = last.cursor
                readSinceOpen += entries.count
            }
            if !entries.isEmpty { return entries.map(LogRecord.init) }
            if finished || !query.follow { break }
            if let until = query.until, Date() > until.addingTimeInterval(1) { break }
            if !stillInstalled() || watcher.isStopped { break }
            if let heartbeat {
                if try await !watcher.change(after: generation, timeout: heartbeat) { return [] }
            } else if let recheck {
                _ = try await watcher.change(after: generation, timeout: recheck)
            } else {
                try await watcher.change(after: generation)
            }
        }
        finished = true
        return nil
    }
}

/// Carries the stream's reader to the pool thread that reads it; see `LogStream`'s single-consumer rule.
struct UnsafeReader: @unchecked Sendable {
    let reader: JournalReader
    init(_ reader: JournalReader) { self.reader = reader }
}

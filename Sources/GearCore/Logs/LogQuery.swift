public import Foundation
public import GearAPI

/// What part of a container's journal to read (`GET /container/{id}/log`), validated.
///
/// - `cursor`: start right after the entry it names (a resumed stream; `lines` and `since` are then ignored).
/// - `since`: start at the first entry at or after this time; with `lines`, only the last `lines` of those.
/// - `lines`: the last N entries (default 100 when neither `cursor` nor `since` is given); `nil` with `since`
///   means all since then.
/// - `until`: stop before the first entry after this time (a follow ends there too).
/// - `follow`: after the entries that are there, keep delivering new ones until the reader goes away or the
///   container is deleted.
public struct LogQuery: Sendable, Hashable {
    public var lines: Int?
    public var since: Date?
    public var until: Date?
    public var cursor: String?
    public var follow: Bool

    /// More lines than this are clamped: a tail this long is a full read anyway.
    public static let maxLines = 10_000_000
    /// What `lines` is without `cursor` or `since`.
    public static let defaultLines = 100

    public init(lines: Int? = nil, since: Date? = nil, until: Date? = nil, cursor: String? = nil, follow: Bool = false) {
        self.lines = lines
        self.since = since
        self.until = until
        self.cursor = cursor
        self.follow = follow
    }

    /// Parses the query's texts: `lines` is a number or `all`; `since` and `until` are RFC 3339 times
    /// (`2026-11-23T10:00:00Z`, fractions and offsets allowed), `@` + Unix seconds, `now`, or relative to now
    /// (`-5m`, `-30s`, `-2h`, `-1d`); `cursor` is a journal cursor as an earlier answer gave it.
    public init(lines: String?, since: String?, until: String?, cursor: String?, follow: Bool, now: Date = Date()) throws(GearError) {
        self.follow = follow
        if let lines {
            if lines == "all" {
                self.lines = nil
            } else if let count = Int(lines), count >= 0 {
                self.lines = min(count, Self.maxLines)
            } else if lines.allSatisfy(\.isASCIIDigit), !lines.isEmpty {
                self.lines = Self.maxLines
            } else {
                throw .invalid("lines must be a number of lines or 'all', not '\(lines.prefix(40))'")
            }
        } else {
            self.lines = since == nil && cursor == nil ? Self.defaultLines : nil
        }
        self.since = try since.map { text throws(GearError) in try Self.time(text, name: "since", now: now) }
        self.until = try until.map { text throws(GearError) in try Self.time(text, name: "until", now: now) }
        if let cursor {
            guard !cursor.isEmpty, cursor.utf8.count <= 1024,
                cursor.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: ";") })
            else {
                throw .invalid("cursor is not a journal cursor: '\(cursor.prefix(60))'")
            }
            self.cursor = cursor
        }
        if let since = self.since, let until = self.until, until < since {
            throw .invalid("until is before since")
        }
    }

    static func time(_ text: String, name: String, now: Date) throws(GearError) -> Date {
        let date = try parseTime(text, name: name, now: now)
        // The journal seeks by microseconds since the epoch in a UInt64: a time past year 9999 (`@1e300`, `+1e20d`)
        // would not fit, and no entry is dated before 1970.
        guard Self.validTimes.contains(date.timeIntervalSince1970) else {
            throw .invalid("\(name) must be between 1970 and 9999, not '\(text.prefix(60))'")
        }
        return date
    }

    /// 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z, in seconds since the epoch.
    static let validTimes: ClosedRange<Double> = 0...253_402_300_799

    private static func parseTime(_ text: String, name: String, now: Date) throws(GearError) -> Date {
        if text == "now" { return now }
        if text.hasPrefix("@"), let seconds = Double(text.dropFirst()), seconds.isFinite, seconds >= 0 {
            return Date(timeIntervalSince1970: seconds)
        }
        if let sign = text.first, sign == "-" || sign == "+", let unit = text.last, let multiplier = Self.units[unit],
            let amount = Double(text.dropFirst().dropLast()), amount.isFinite, amount >= 0
        {
            return now.addingTimeInterval((sign == "-" ? -1 : 1) * amount * multiplier)
        }
        let formats = [Date.ISO8601FormatStyle(includingFractionalSeconds: true), Date.ISO8601FormatStyle()]
        for format in formats {
            if let date = try? format.parse(text) { return date }
        }
        throw .invalid("\(name) must be an RFC 3339 time (2026-11-23T10:00:00Z), @UNIXSECONDS, now, or relative like -5m, not '\(text.prefix(60))'")
    }

    private static let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

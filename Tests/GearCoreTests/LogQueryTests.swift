import Foundation
import GearAPI
import Testing

@testable import GearCore

/// `GET /container/{id}/log` query values: lines, since, until, cursor.
@Suite struct LogQueryTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func timesInEveryForm() throws {
        #expect(try LogQuery.time("now", name: "since", now: now) == now)
        #expect(try LogQuery.time("@1700000000.5", name: "since", now: now) == Date(timeIntervalSince1970: 1_700_000_000.5))
        #expect(try LogQuery.time("-5m", name: "since", now: now) == now.addingTimeInterval(-300))
        #expect(try LogQuery.time("+1d", name: "until", now: now) == now.addingTimeInterval(86_400))
        #expect(try LogQuery.time("2026-11-23T10:00:00Z", name: "since", now: now) == Date(timeIntervalSince1970: 1_795_428_000))
        let query = try LogQuery(lines: "all", since: "-1h", until: "now", cursor: nil, follow: false, now: now)
        #expect(query.lines == nil && query.since == now.addingTimeInterval(-3600) && query.until == now)
        #expect(try LogQuery(lines: "99999999999999999999", since: nil, until: nil, cursor: nil, follow: false).lines == LogQuery.maxLines)
    }

    // Found by `make fuzz`: `@1e300` and `+1e20d` reached the journal seek as microseconds that do not fit a UInt64 and
    // trapped; times before 1970 match nothing. Each is now a 400 naming the range.
    @Test(arguments: ["@1e300", "+1e20d", "-1e20s", "@253402300800", "1969-12-31T23:59:59Z"])
    func timesOutsideTheJournalsRangeAreRefused(_ text: String) {
        #expect(throws: GearError.self) { try LogQuery(lines: nil, since: text, until: nil, cursor: nil, follow: false, now: now) }
        #expect(throws: GearError.self) { try LogQuery(lines: nil, since: nil, until: text, cursor: nil, follow: false, now: now) }
    }

    @Test(arguments: ["", "-5", "ten", "1.5"])
    func linesThatAreNotACount(_ text: String) {
        #expect(throws: GearError.self) { try LogQuery(lines: text, since: nil, until: nil, cursor: nil, follow: false) }
    }
}

import Foundation
import GearAPI
import GearCore
import Testing

@testable import GearHTTP

/// How journal entries are written, whatever bytes they hold.
@Suite struct LogFormatTests {
    static let entries = [
        LogRecord(realtime: 1_795_000_000_123_456, cursor: "s=1;i=2", message: Array("plain".utf8), priority: 6, pid: 42),
        LogRecord(realtime: 1_795_000_000_123_457, cursor: "s=1;i=3", message: [], priority: nil, pid: nil),
        LogRecord(realtime: 1_795_000_000_123_458, cursor: "s=1;i=4", message: [0x62, 0xFF, 0x00, 0x0A, 0x22, 0x5C], priority: 3, pid: 1),
    ]

    func written(_ format: LogFormat) -> [UInt8] {
        var writer = JSONWriter()
        for entry in Self.entries { format.write(entry, to: &writer) }
        return writer.bytes
    }

    @Test func textIsTheMessageBytesOnALine() {
        #expect(written(.text) == Array("plain\n\n".utf8) + [0x62, 0xFF, 0x00, 0x0A, 0x22, 0x5C, 0x0A])
    }

    /// podman's journald driver stores each line with its line break: text shows it once, as journalctl does;
    /// NDJSON keeps the message as stored.
    @Test func aMessageEndingInALineBreakIsOneLine() throws {
        let record = LogRecord(realtime: 1, cursor: "c", message: Array("line 1\n".utf8))
        var text = JSONWriter()
        LogFormat.text.write(record, to: &text)
        #expect(text.bytes == Array("line 1\n".utf8))
        var ndjson = JSONWriter()
        LogFormat.ndjson.write(record, to: &ndjson)
        #expect(try JSONDecoder().decode(LogEntry.self, from: Data(ndjson.bytes.dropLast())).message == "line 1\n")
        #expect(record.line == "line 1")
    }

    @Test func ndjsonLinesDecodeToTheExactMessages() throws {
        let lines = written(.ndjson).split(separator: UInt8(ascii: "\n"))
        #expect(lines.count == 3)
        let decoded = try lines.map { try JSONDecoder().decode(LogEntry.self, from: Data($0)) }
        #expect(decoded[0] == LogEntry(timestamp: "2026-11-18T11:06:40.123456Z", cursor: "s=1;i=2", priority: 6, pid: 42, message: "plain"))
        #expect(decoded[1].message == "" && decoded[1].priority == nil && decoded[1].messageBase64 == nil)
        #expect(decoded[2].messageBytes == Data([0x62, 0xFF, 0x00, 0x0A, 0x22, 0x5C]))
        #expect(decoded[2].message == "b\u{FFFD}\u{0}\n\"\\")
    }

    @Test func ndjsonIsTheEncodersLogEntry() throws {
        for record in Self.entries {
            var writer = JSONWriter()
            record.writeJSON(to: &writer)
            #expect(try JSONDecoder().decode(LogEntry.self, from: Data(writer.bytes)) == record.entry)
        }
    }

    @Test func sseEventsCarryTheCursorAsID() throws {
        let events = String(decoding: written(.sse), as: UTF8.self).components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(events.count == 3)
        for (event, entry) in zip(events, Self.entries) {
            let lines = event.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == 2 && lines[0] == "id: \(entry.cursor)" && lines[1].hasPrefix("data: {"))
        }
    }
}

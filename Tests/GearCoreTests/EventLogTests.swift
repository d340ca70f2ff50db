import Foundation
import GearAPI
import Testing

@testable import GearCore

/// The event history: numbering, the ring, persistence across a restart, and readers.
@Suite struct EventLogTests {
    let directory = NSTemporaryDirectory() + "gear-events-\(UUID().uuidString)"

    @Test func eventsAreNumberedAndSurviveARestart() throws {
        let log = EventLog(capacity: 100)
        #expect(try log.open(directory: directory).isEmpty)
        log.append(.installed, container: "web")
        log.append(.started, container: "web") {
            $0.activeState = "active"; $0.subState = "running"; $0.mainPID = 42
        }
        log.append(.jobSucceeded, container: "web") {
            $0.job = "abc"; $0.kind = "install"
        }
        #expect(log.lastSeq == 3)
        log.close()

        let reopened = EventLog(capacity: 100)
        let states = try reopened.open(directory: directory)
        #expect(states["web"]?.type == .started)
        #expect(states["web"]?.mainPID == 42)
        #expect(reopened.lastSeq == 3)
        #expect(reopened.append(.stopped, container: "web").seq == 4)
        let batch = reopened.read(after: 0, limit: 10)
        #expect(batch.missed == nil)
        #expect(batch.entries.map(\.seq) == [1, 2, 3, 4])
        let decoded = try batch.entries.map { try GearJSON.decoder().decode(GearEvent.self, from: Data($0.json)) }
        #expect(decoded[2].job == "abc")
        #expect(decoded.map(\.type) == [.installed, .started, .jobSucceeded, .stopped])
    }

    @Test func theWriterMatchesTheEncoder() throws {
        var event = GearEvent(seq: 7, time: Date(timeIntervalSince1970: 1_800_000_000.123), type: .failed, container: "web")
        event.activeState = "failed"
        event.subState = "failed"
        event.result = "exit-code"
        event.exitStatus = 3
        event.message = "line \"one\"\nline two"
        var writer = JSONWriter()
        event.write(to: &writer)
        var decoded = try GearJSON.decoder().decode(GearEvent.self, from: Data(writer.bytes))
        #expect(abs(decoded.time.timeIntervalSince(event.time)) < 0.000_001)
        decoded.time = event.time
        #expect(decoded == event)
        let encoded = try GearJSON.encoder().encode(event)
        #expect(
            String(decoding: writer.bytes, as: UTF8.self)
                == String(decoding: encoded, as: UTF8.self).replacingOccurrences(of: ".123Z", with: ".123000Z"))
    }

    @Test func aReaderBehindTheRingIsToldWhatItMissed() throws {
        let log = EventLog(capacity: 16)
        try log.open(directory: directory)
        for i in 0..<40 { log.append(.installed, container: "c\(i)") }
        #expect(log.firstSeq == 25)
        let batch = log.read(after: 3, limit: 100)
        #expect(batch.missed == 4...24)
        #expect(batch.entries.map(\.seq) == Array(25...40))
        // Segments rotate at the ring's size: after a restart the last 16 are all there.
        log.close()
        let reopened = EventLog(capacity: 16)
        try reopened.open(directory: directory)
        #expect(reopened.read(after: 0, limit: 100).entries.map(\.seq) == Array(25...40))
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(files == ["events.0.ndjson", "events.1.ndjson"])
    }

    @Test func aTornLastLineIsSkipped() throws {
        let log = EventLog(capacity: 100)
        try log.open(directory: directory)
        log.append(.installed, container: "a")
        log.append(.deleted, container: "a")
        log.close()
        let handle = try #require(FileHandle(forWritingAtPath: directory + "/events.0.ndjson"))
        handle.seekToEndOfFile()
        handle.write(Data("{\"seq\":3,\"time\":\"2026-".utf8))
        try handle.close()
        let reopened = EventLog(capacity: 100)
        #expect(try reopened.open(directory: directory).isEmpty)  // deleted: no state left for "a"
        #expect(reopened.lastSeq == 2)
        #expect(reopened.append(.installed, container: "b").seq == 3)
    }

    @Test func aSubscriptionReadsHistoryThenFollowsAndFilters() async throws {
        let log = EventLog(capacity: 100)
        try log.open(directory: directory)
        log.append(.installed, container: "web")
        log.append(.installed, container: "db")
        var subscription = EventSubscription(log: log, since: 0, follow: true) { $0.container == "web" }
        #expect(await subscription.next()?.map(\.seq) == [1])
        let reader = Task {
            var copy = subscription
            return await copy.next()?.map(\.seq)
        }
        try await Task.sleep(for: .milliseconds(50))
        log.append(.started, container: "db")
        log.append(.started, container: "web")
        #expect(await reader.value == [4])
    }

    @Test func aSubscriptionWithoutSinceStartsNowAndEndsWhenCancelledOrClosed() async throws {
        let log = EventLog(capacity: 100)
        try log.open(directory: directory)
        log.append(.installed, container: "old")
        let waiting = Task {
            var subscription = EventSubscription(log: log, since: nil, follow: true) { _ in true }
            return await subscription.next()
        }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value == nil)

        let closing = Task {
            var subscription = EventSubscription(log: log, since: nil, follow: true) { _ in true }
            return await subscription.next()
        }
        try await Task.sleep(for: .milliseconds(50))
        log.close()
        #expect(await closing.value == nil)
    }

    @Test func aSubscriptionFromAnEarlierHistoryStartsOverWithAGap() async throws {
        let log = EventLog(capacity: 4)
        try log.open(directory: directory)
        for i in 0..<6 { log.append(.installed, container: "c\(i)") }
        var subscription = EventSubscription(log: log, since: 1000, follow: false) { _ in true }
        let entries = try #require(await subscription.next())
        #expect(entries.first?.type == .gap)
        let gap = try GearJSON.decoder().decode(GearEvent.self, from: Data(entries[0].json))
        #expect(gap.missedFrom == 1 && gap.missedTo == 2)
        #expect(entries.dropFirst().map(\.seq) == [3, 4, 5, 6])
        #expect(await subscription.next() == nil)
    }
}

/// Container events from unit property changes.
@Suite struct UnitEventTrackerTests {
    let web = try! ContainerID("web")

    @Test(arguments: [
        // A start, a stop.
        (
            [["ActiveState": "activating", "SubState": "start-pre"], ["ActiveState": "active", "SubState": "running", "MainPID": "42"]],
            ["container.starting", "container.started"]
        ),
        (
            [
                ["ActiveState": "active", "SubState": "running"], ["ActiveState": "deactivating", "SubState": "stop-sigterm"],
                ["ActiveState": "inactive", "SubState": "dead", "Result": "success"],
            ],
            ["container.started", "container.stopping", "container.stopped"]
        ),
        // A crash that systemd restarts: the service properties come first in each round.
        (
            [
                ["ActiveState": "active", "SubState": "running"], ["Result": "exit-code", "ExecMainStatus": "3"],
                ["ActiveState": "activating", "SubState": "auto-restart"], ["NRestarts": "1"], ["ActiveState": "active", "SubState": "running"],
            ],
            ["container.started", "container.failed", "container.restarted", "container.started"]
        ),
        // The same as systemd 252 sends it: failed, auto-restart, the restart, inactive/dead, start.
        (
            [
                ["ActiveState": "active", "SubState": "running"], ["Result": "exit-code", "ExecMainStatus": "3"],
                ["ActiveState": "failed", "SubState": "failed"], ["ActiveState": "activating", "SubState": "auto-restart"], ["NRestarts": "1"],
                ["Result": "success"], ["ActiveState": "inactive", "SubState": "dead"], ["ActiveState": "activating", "SubState": "start"],
                ["ActiveState": "active", "SubState": "running"],
            ],
            ["container.started", "container.failed", "container.restarted", "container.starting", "container.started"]
        ),
        // A stop while systemd waits to restart is a stop.
        (
            [
                ["ActiveState": "active", "SubState": "running"], ["ActiveState": "failed", "SubState": "failed", "Result": "exit-code"],
                ["ActiveState": "activating", "SubState": "auto-restart"], ["ActiveState": "inactive", "SubState": "dead"],
            ],
            ["container.started", "container.failed", "container.stopped"]
        ),
        // Restart=always after a clean exit; and a failure that stays failed.
        (
            [["ActiveState": "active", "SubState": "running"], ["Result": "success"], ["ActiveState": "activating", "SubState": "auto-restart"]],
            ["container.started", "container.exited"]
        ),
        (
            [["ActiveState": "active", "SubState": "running"], ["ActiveState": "failed", "SubState": "failed", "Result": "signal"]],
            ["container.started", "container.failed"]
        ),
        // Changes that are not state changes make no event.
        ([["MainPID": "7"], ["SubState": "dead"]], []),
    ])
    func transitions(_ rounds: [[String: String]], _ expected: [String]) {
        var tracker = UnitEventTracker()
        var events: [String] = []
        for round in rounds {
            let change = UnitPropertyChange(
                activeState: round["ActiveState"], subState: round["SubState"], mainPID: round["MainPID"].flatMap { Int($0) },
                result: round["Result"], exitStatus: round["ExecMainStatus"].flatMap { Int($0) }, restarts: round["NRestarts"].flatMap { Int($0) })
            events += tracker.apply(web, change).map(\.rawValue)
        }
        #expect(events == expected)
    }

    @Test func aResyncReportsWhatChangedWhileGeardWasAway() {
        var tracker = UnitEventTracker()
        var known = UnitEventTracker.Observed()
        known.activeState = "active"
        known.subState = "running"
        var now = UnitEventTracker.Observed()
        now.activeState = "failed"
        now.subState = "failed"
        now.result = "exit-code"
        #expect(tracker.resync(web, now, known: known) == [.failed])
        #expect(tracker.resync(web, now, known: nil) == [])
        var event = GearEvent(seq: 1, time: .now, type: .failed, container: "web")
        now.fill(&event)
        #expect(event.result == "exit-code" && event.exitStatus == 0 && event.mainPID == nil)
    }
}

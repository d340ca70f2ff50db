import Foundation
import GearAPI

/// One reader of the event history: the events after a sequence number that pass its filter, then (when it
/// follows) each new one as it comes. It holds only its position; the events stay in the `EventLog`.
public struct EventSubscription: Sendable {
    private let log: EventLog
    private let follow: Bool
    private let include: @Sendable (EventLog.Entry) -> Bool
    /// The sequence number of the last event read (delivered or filtered out).
    public private(set) var position: UInt64
    private var done = false
    private var lastDelivery: ContinuousClock.Instant?

    /// Events per batch.
    public static let batchSize = 512
    /// How long a follower waits after the first new event before it reads, when the one before came less than
    /// `burst` ago.
    static let linger: Duration = .milliseconds(2)
    static let burst: Duration = .milliseconds(20)

    /// - Parameters:
    ///   - since: deliver events after this number; nil for only those that happen from now on.
    ///   - follow: wait for new events after the history, until the task is cancelled or the log closes.
    ///   - include: which events the reader wants (gap markers are always delivered).
    public init(log: EventLog, since: UInt64?, follow: Bool, include: @escaping @Sendable (EventLog.Entry) -> Bool) {
        self.log = log
        self.follow = follow
        self.include = include
        // A number beyond the newest event is from an earlier history of this node (its state directory was
        // reset): read this history from its start.
        let last = log.lastSeq
        self.position = since.map { $0 > last ? 0 : $0 } ?? last
    }

    /// The next events, or nil when there will be none (not following and the history is read, the log closed, or
    /// the task was cancelled). A `gap` entry first tells of events that left the history unread.
    public mutating func next() async -> [EventLog.Entry]? {
        await next(heartbeat: nil)
    }

    /// Like `next()`; with `heartbeat`, a follower that waited that long for a new event gets an empty batch (the
    /// transport's cue for a keep-alive).
    public mutating func next(heartbeat: Duration?) async -> [EventLog.Entry]? {
        while !done, !Task.isCancelled {
            let batch = log.read(after: position, limit: Self.batchSize)
            var entries: [EventLog.Entry] = []
            if let missed = batch.missed { entries.append(Self.gap(missed)) }
            if let last = batch.entries.last { position = last.seq } else if let missed = batch.missed { position = missed.upperBound }
            entries.append(contentsOf: batch.entries.lazy.filter(include))
            if !entries.isEmpty {
                lastDelivery = ContinuousClock.now
                return entries
            }
            if batch.entries.isEmpty {
                guard follow else { done = true; break }
                if let heartbeat {
                    switch await Self.wait(log, after: position, timeout: heartbeat) {
                    case .closed:
                        done = true
                        continue
                    case .timedOut: return []
                    case .changed: break
                    }
                } else {
                    guard await log.wait(after: position) else { done = true; break }
                }
                // In a burst (a job's events come within milliseconds of each other), let the rest of it join this
                // write: fewer, larger writes to each follower. An event after a quiet spell goes out at once.
                if let last = lastDelivery, ContinuousClock.now - last < Self.burst { try? await Task.sleep(for: Self.linger) }
            }
        }
        return nil
    }

    enum WaitOutcome: Sendable { case changed, closed, timedOut }

    /// `EventLog.wait(after:)` with a time limit (the wait ends at once when its task is cancelled).
    static func wait(_ log: EventLog, after seq: UInt64, timeout: Duration) async -> WaitOutcome {
        await withTaskGroup(of: WaitOutcome.self) { group in
            group.addTask { await log.wait(after: seq) ? .changed : .closed }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    return .timedOut
                } catch {
                    return .changed
                }
            }
            defer { group.cancelAll() }
            return await group.next() ?? .closed
        }
    }

    static func gap(_ missed: ClosedRange<UInt64>) -> EventLog.Entry {
        var event = GearEvent(seq: missed.upperBound, time: .now, type: .gap)
        event.missedFrom = missed.lowerBound
        event.missedTo = missed.upperBound
        event.message = "events \(missed.lowerBound)-\(missed.upperBound) are no longer kept; read the current state (the container list) to catch up"
        var writer = JSONWriter(capacity: 256)
        event.write(to: &writer)
        return EventLog.Entry(seq: event.seq, type: .gap, container: nil, json: writer.bytes)
    }
}

import Foundation
public import GearAPI
import GearSystem
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The node's event history: the last `capacity` events in memory, each appended to a file under the state
/// directory as it happens, so that a restart of geard loses none and sequence numbers go on where they were.
///
/// Events live in two segment files, `events.0.ndjson` (being written) and `events.1.ndjson` (the one before);
/// when the current one holds `capacity` events it becomes the previous one (a rename) and a new one starts, so
/// disk use stays under two rings. Each event is one `write(2)` of one line with `O_APPEND`: a crash of geard
/// loses nothing written, a torn last line (a power loss) is skipped when loading.
///
/// Readers never hold events of their own: a follower keeps only the sequence number it delivered last, reads
/// what follows from the ring, and waits when there is nothing new. A slow follower therefore costs the node
/// nothing; if it falls behind by more than the ring, it is told so (`EventBatch.missed`).
public final class EventLog: Sendable {
    /// One stored event: its number, what a filter looks at, and its JSON (without a line break).
    public struct Entry: Sendable {
        public var seq: UInt64
        public var type: EventType
        public var container: String?
        public var json: [UInt8]
    }

    /// What a reader gets after the sequence number it knows.
    public struct EventBatch: Sendable {
        /// The events the reader can no longer get (they left the ring), or nil.
        public var missed: ClosedRange<UInt64>?
        public var entries: [Entry]
    }

    private struct State {
        var ring: [Entry?]
        /// Index in `ring` of the oldest event.
        var head = 0
        var count = 0
        var lastSeq: UInt64 = 0
        var directory: String?
        var file: SegmentFile?
        var inCurrentSegment = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var cancelled: Set<UInt64> = []
        var nextWaiter: UInt64 = 0
        var closed = false
    }

    public let capacity: Int
    private let state: Mutex<State>

    static let current = "events.0.ndjson"
    static let previous = "events.1.ndjson"

    /// An empty history in memory; `open(directory:)` loads and persists it.
    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.state = Mutex(State(ring: Array(repeating: nil, count: capacity)))
    }

    /// Loads what earlier runs wrote in `directory` (created if needed) and appends there from now on. Call it
    /// before the first `append`. Returns the last state event of each container in the loaded history.
    @discardableResult
    public func open(directory: String) throws(GearError) -> [String: GearEvent] {
        try FileSystem.makeDirectory(directory, mode: 0o700)
        var loaded: [Entry] = []
        var lastStates: [String: GearEvent] = [:]
        var inCurrent = 0
        let decoder = GearJSON.decoder()
        for name in [Self.previous, Self.current] {
            guard let bytes = try FileSystem.read("\(directory)/\(name)") else { continue }
            var lines = 0
            for line in bytes.split(separator: UInt8(ascii: "\n")) {
                // A torn line (power loss mid-write) or anything else unreadable is skipped.
                guard let event = try? decoder.decode(GearEvent.self, from: Data(line)), event.seq > (loaded.last?.seq ?? 0) else { continue }
                loaded.append(Entry(seq: event.seq, type: event.type, container: event.container, json: Array(line)))
                if let container = event.container {
                    if event.type == .deleted {
                        lastStates[container] = nil
                    } else if event.activeState != nil {
                        lastStates[container] = event
                    }
                }
                lines += 1
            }
            if name == Self.current { inCurrent = lines }
        }
        let path = "\(directory)/\(Self.current)"
        let fd = try FileSystem.call("open", path) { Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600) }
        state.withLock { state in
            precondition(state.lastSeq == 0, "EventLog.open after append")
            for entry in loaded.suffix(capacity) { Self.push(entry, into: &state) }
            state.lastSeq = loaded.last?.seq ?? 0
            state.directory = directory
            state.file = SegmentFile(owning: fd)
            state.inCurrentSegment = inCurrent
        }
        return lastStates
    }

    private static func push(_ entry: Entry, into state: inout State) {
        let capacity = state.ring.count
        if state.count == capacity {
            state.ring[state.head] = entry
            state.head = (state.head + 1) % capacity
        } else {
            state.ring[(state.head + state.count) % capacity] = entry
            state.count += 1
        }
        state.lastSeq = entry.seq
    }

    /// The number of the newest event (0 when there is none).
    public var lastSeq: UInt64 { state.withLock { $0.lastSeq } }

    /// The number of the oldest event still kept.
    public var firstSeq: UInt64 { state.withLock { $0.count == 0 ? $0.lastSeq + 1 : $0.ring[$0.head]!.seq } }

    /// Records an event: gives it the next number and the current time, stores and writes it, wakes readers.
    /// Returns the event as recorded.
    @discardableResult
    public func append(_ type: EventType, container: String? = nil, _ fill: (inout GearEvent) -> Void = { _ in }) -> GearEvent {
        let (event, woken) = state.withLock { state -> (GearEvent, [CheckedContinuation<Void, Never>]) in
            var event = GearEvent(seq: state.lastSeq + 1, time: Date(), type: type, container: container)
            fill(&event)
            event.seq = state.lastSeq + 1
            var writer = JSONWriter(capacity: 256)
            event.write(to: &writer)
            Self.push(Entry(seq: event.seq, type: type, container: container, json: writer.bytes), into: &state)
            writeLine(writer.bytes, &state)
            let woken = Array(state.waiters.values)
            state.waiters.removeAll(keepingCapacity: true)
            return (event, woken)
        }
        for waiter in woken { waiter.resume() }
        return event
    }

    /// Appends one line to the current segment, starting a new segment when it is full. A failing write (disk
    /// full) keeps the event in memory: readers still get it, only a restart would lose it.
    private func writeLine(_ json: [UInt8], _ state: inout State) {
        if state.inCurrentSegment >= capacity { rotate(&state) }
        guard let file = state.file else { return }
        var line = json
        line.append(UInt8(ascii: "\n"))
        let written = line.withUnsafeBytes { Glibc.write(file.descriptor.raw, $0.baseAddress!, $0.count) }
        if written == line.count { state.inCurrentSegment += 1 }
    }

    private func rotate(_ state: inout State) {
        guard let directory = state.directory else { return }
        let current = "\(directory)/\(Self.current)"
        if let file = state.file { fsync(file.descriptor.raw) }
        // The old segment is closed (its owner released) before the new one is opened.
        state.file = nil
        rename(current, "\(directory)/\(Self.previous)")
        let fd = SystemCall.retryingInterrupts { Glibc.open(current, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600) }
        state.file = fd >= 0 ? SegmentFile(owning: fd) : nil
        FileSystem.syncDirectory(directory)
        state.inCurrentSegment = 0
    }

    /// Up to `limit` events after `seq`, oldest first; `missed` names the ones after `seq` that left the ring.
    public func read(after seq: UInt64, limit: Int) -> EventBatch {
        state.withLock { state in
            guard state.count > 0 else { return EventBatch(missed: nil, entries: []) }
            let first = state.ring[state.head]!.seq
            var after = min(seq, state.lastSeq)
            var missed: ClosedRange<UInt64>? = nil
            if after + 1 < first {
                missed = (after + 1)...(first - 1)
                after = first - 1
            }
            let skip = Int(after + 1 - first)
            let n = min(limit, state.count - skip)
            var entries: [Entry] = []
            entries.reserveCapacity(max(n, 0))
            for i in 0..<max(n, 0) { entries.append(state.ring[(state.head + skip + i) % state.ring.count]!) }
            return EventBatch(missed: missed, entries: entries)
        }
    }

    /// Waits until an event newer than `seq` exists; returns false when the log closed (geard stops). Returns at
    /// once when the task is cancelled.
    public func wait(after seq: UInt64) async -> Bool {
        let token = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.closed || state.lastSeq > seq || state.cancelled.remove(token) != nil { return true }
                    state.waiters[token] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiters.removeValue(forKey: token) { return waiter }
                state.cancelled.insert(token)
                return nil
            }
            waiter?.resume()
        }
        return state.withLock { state in
            state.cancelled.remove(token)
            return !state.closed
        }
    }

    /// Ends every wait (geard stops); later waits answer false at once.
    public func close() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.closed = true
            if let file = state.file { fsync(file.descriptor.raw) }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }
}

/// The event log's current segment, open for appending; closed when the log lets go of it.
private final class SegmentFile: Sendable {
    let descriptor: OwnedDescriptor

    init(owning fd: Int32) { descriptor = OwnedDescriptor(owning: fd) }
}
